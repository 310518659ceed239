# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Tensor trains: from a dense tensor to a chain of small cores
#
# A fully tensorized RNN stores every weight matrix as a **tensor train (TT)**. Before we get to matrices and
# LSTM cells (tutorials 02 and later), this notebook builds the idea on plain d-way arrays, using
# `ttrnn_np.tt`.
#
# **Notation.** A tensor $A$ has $d$ modes of sizes $n_0, \dots, n_{d-1}$. Its TT format is a list of $d$ cores
# $G_k$ of shape $(r_k, n_k, r_{k+1})$ with $r_0 = r_d = 1$, and every entry is a product of small matrices:
#
# $$A[i_0, \dots, i_{d-1}] = G_0[:, i_0, :]\; G_1[:, i_1, :] \cdots G_{d-1}[:, i_{d-1}, :].$$
#
# The $r_k$ are the **TT ranks**. The dense tensor has $\prod_k n_k$ numbers and the TT has
# $\sum_k r_k n_k r_{k+1}$, so with small ranks the TT is exponentially smaller.
#
# **Unfoldings.** The $k$-th unfolding $A^{\langle k \rangle}$ is $A$ reshaped to a matrix of shape
# $(n_0 \cdots n_k) \times (n_{k+1} \cdots n_{d-1})$. The smallest possible rank $r_{k+1}$ is exactly
# $\operatorname{rank} A^{\langle k \rangle}$, so the unfoldings' singular values tell us how compressible $A$ is.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from checks import tensor_trains as check  # the exercises' checkers (tutorials/checks/)
from ttrnn_np import diagrams, tt
from ttrnn_np.pytree import num_params

FAST = os.environ.get("TTRNN_FAST") == "1"
n, d = (8, 4) if FAST else (20, 4)  # grid points per mode, number of modes
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The format by hand
#
# Three random cores with ranks $(1, 2, 3, 1)$ define a $4 \times 5 \times 3$ tensor. One entry is a product of
# a $1 \times 2$, a $2 \times 3$ and a $3 \times 1$ matrix; `tt.full` forms every entry at once.

# %%
cores = [rng.standard_normal((1, 4, 2)), rng.standard_normal((2, 5, 3)), rng.standard_normal((3, 3, 1))]
A_small = tt.full(cores)  # (4, 5, 3)
entry = cores[0][:, 1, :] @ cores[1][:, 4, :] @ cores[2][:, 0, :]  # (1, 1)
print(tt.describe(cores))
print(f"A[1, 4, 0] from the slices: {entry[0, 0]:.6f}   from full(): {A_small[1, 4, 0]:.6f}")
assert np.isclose(entry[0, 0], A_small[1, 4, 0])


# %% [markdown]
# A picture helps. `diagrams.draw_tt` draws a TT as a tensor network: each core $G_k$ is a node, the leg hanging
# below it is the mode index $i_k$ (labelled with its size $n_k$), and the bond between two nodes is a rank index
# (labelled with its size $r_k$). An index that joins two nodes is summed over, as in the matrix products above;
# an open leg is an index of the tensor. The boundary ranks $r_0 = r_d = 1$ are not drawn.

# %%
diagrams.draw_tt(cores, title=tt.describe(cores));

# %% [markdown]
# ## 2. Two test tensors: smooth and random
#
# A sampled smooth function has real structure: $A[i_0,i_1,i_2,i_3] = 1/(1 + i_0 + i_1 + i_2 + i_3)$ on an
# $n^4$ grid (a "Hilbert tensor"). A Gaussian random tensor of the same shape has none. Both are scaled to
# $\|A\|_F = 1$.

# %%
grids = np.meshgrid(*[np.arange(n, dtype=float)] * d, indexing="ij")  # d × (n, n, n, n)
A_smooth = 1.0 / (1.0 + sum(grids))  # (n, n, n, n)
A_smooth = A_smooth / np.linalg.norm(A_smooth)  # (n, n, n, n)
A_random = rng.standard_normal((n,) * d)  # (n, n, n, n)
A_random = A_random / np.linalg.norm(A_random)  # (n, n, n, n)
print(f"shape {A_smooth.shape}, {A_smooth.size:,} entries each")

# %% [markdown]
# ## 3. TT-SVD, step by step
#
# TT-SVD peels off one core per step. Start with the remainder $C = A$ viewed as $(r_0, n_0 \cdots n_{d-1})$.
# At step $k$:
#
# 1. reshape $C$ to the matrix $(r_k n_k) \times (n_{k+1} \cdots n_{d-1})$;
# 2. take its SVD $C = U S V^\top$ and keep the smallest rank $r_{k+1}$ whose discarded singular values have
#    norm $\le \delta = \varepsilon \|A\|_F / \sqrt{d-1}$;
# 3. core $k$ is $U$ reshaped to $(r_k, n_k, r_{k+1})$, and the new remainder is $S V^\top$.
#
# The last remainder is the last core. Each step's error is orthogonal to the others, so the total error obeys
# $\|A - \mathrm{full}(\mathrm{TT})\|_F^2 \le (d-1)\,\delta^2$, that is
# $\|A - \mathrm{full}(\mathrm{TT})\|_F \le \varepsilon \|A\|_F$. Here it is written out for the smooth tensor,
# printing each unfolding and the singular values kept; `tt.tt_svd` does the same thing.

# %%
eps = 1e-6
delta = eps * np.linalg.norm(A_smooth) / np.sqrt(d - 1)
my_cores, spectra = [], []
C = A_smooth.reshape(1, -1)  # (r_0, n_0⋯n_{d-1})
for k in range(d - 1):
    r_k = C.shape[0]
    C = C.reshape(r_k * n, -1)  # (r_k·n_k, n_{k+1}⋯n_{d-1})
    U, s, Vt = np.linalg.svd(C, full_matrices=False)  # (r_k·n_k, q), (q,), (q, n_{k+1}⋯n_{d-1})
    dropped = np.sqrt(np.cumsum(s[::-1] ** 2)[::-1][1:])  # (q-1,)  error if we keep 1, 2, … values
    r_next = 1 + int(np.argmax(np.append(dropped, 0.0) <= delta))
    print(f"step {k}: unfolding {C.shape[0]:>4} × {C.shape[1]:<5}  {len(s):>3} singular values, keep "
          f"r_{k + 1} = {r_next:>2}  (largest dropped {s[r_next] if r_next < len(s) else 0:.1e})")
    spectra.append((s, r_next))
    my_cores.append(U[:, :r_next].reshape(r_k, n, r_next))  # (r_k, n_k, r_{k+1})
    C = s[:r_next, None] * Vt[:r_next]  # (r_{k+1}, n_{k+1}⋯n_{d-1})
my_cores.append(C.reshape(-1, n, 1))  # (r_{d-1}, n_{d-1}, 1)

library_cores = tt.tt_svd(A_smooth, eps=eps)
print(tt.describe(my_cores))
print(tt.describe(library_cores))
assert tt.ranks(my_cores) == tt.ranks(library_cores)
relative_error = np.linalg.norm(tt.full(my_cores) - A_smooth) / np.linalg.norm(A_smooth)
print(f"relative error {relative_error:.2e} ≤ eps = {eps:.0e}")
assert relative_error <= eps

# %% [markdown]
# Left, each step's singular values: the kept ones (blue) and the dropped ones (grey), whose joint norm is at
# most $\delta$ (red line). Right, the TT just built: bond $r_{k+1}$ carries the number of values step $k$ kept,
# and every leg is a mode of size $n$.

# %%
fig, axes = plt.subplots(1, d, figsize=(14, 3.2), gridspec_kw={"width_ratios": [1] * (d - 1) + [1.9]})
for k, (s, r_next) in enumerate(spectra):
    ax = axes[k]
    ax.semilogy(np.arange(1, r_next + 1), s[:r_next], "o", color="tab:blue", label="kept")
    ax.semilogy(np.arange(r_next + 1, len(s) + 1), np.maximum(s[r_next:], 1e-18), "x", color="0.6",
                label="dropped")
    ax.axhline(delta, color="tab:red", lw=0.8, label="δ")
    ax.set_title(f"step {k}: keep $r_{k + 1}$ = {r_next}", fontsize=9)
    ax.set_xlabel("index of singular value")
axes[0].set_ylabel("singular value")
axes[0].legend(fontsize=8)
diagrams.draw_tt(library_cores, ax=axes[-1], title="the TT just built")
fig.suptitle(f"TT-SVD of the smooth tensor at eps = {eps:.0e}")
fig.tight_layout()

# %% [markdown]
# ## 4. Ranks and unfolding spectra: smooth versus random
#
# The spectra of the dense unfoldings $A^{\langle k \rangle}$ decide everything. The smooth tensor's singular
# values fall off exponentially, so a handful suffice; the random tensor's are flat, so TT-SVD must keep nearly
# all of them and the "compressed" TT can be *larger* than the dense array.

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True)
for ax, (name, A) in zip(axes, [("smooth", A_smooth), ("random", A_random)]):
    for k in range(d - 1):
        A_k = A.reshape(n ** (k + 1), -1)  # (n^{k+1}, n^{d-k-1})
        s = np.linalg.svd(A_k, compute_uv=False)  # (min(n^{k+1}, n^{d-k-1}),)
        label = f"$A^{{\\langle {k} \\rangle}}$: {A_k.shape[0]} × {A_k.shape[1]}"
        ax.semilogy(np.arange(1, len(s) + 1), np.maximum(s / s[0], 1e-17), ".-", label=label)
    T_A = tt.tt_svd(A, eps=1e-6)
    ranks_str = "-".join(str(r) for r in tt.ranks(T_A))
    ax.set_title(f"{name}: at eps = 1e-6 ranks {ranks_str}, {tt.compression(T_A):.2g}× compression", fontsize=9)
    ax.set_xlabel("index $j$")
axes[0].set_ylabel("$\\sigma_j / \\sigma_1$")
axes[0].legend()
fig.tight_layout()

# %% [markdown]
# ## 5. Compression versus error as eps varies
#
# `eps` is a *relative* accuracy and `tt_svd` honours it (some libraries accept an epsilon and ignore it). We
# sweep it, measure the true relative error and the compression (dense size / TT size), and check the
# guarantee $\|A - \mathrm{full}(\mathrm{TT})\|_F \le \varepsilon \|A\|_F$ every time.

# %%
eps_grid = np.logspace(-12, -0.5, 8 if FAST else 16)
sweep = {}
for name, A in [("smooth", A_smooth), ("random", A_random)]:
    rows = []
    for eps in eps_grid:
        cores_eps = tt.tt_svd(A, eps=eps)
        err = np.linalg.norm(tt.full(cores_eps) - A) / np.linalg.norm(A)
        assert err <= eps * (1 + 1e-9) + 1e-14, (name, eps, err)
        rows.append((eps, err, tt.compression(cores_eps)))
    sweep[name] = np.array(rows)  # (len(eps_grid), 3): eps, error, compression
    print(f"{name:>6}: compression {rows[0][2]:,.4g}× at eps = 1e-12 … {rows[-1][2]:,.4g}× at eps = {eps_grid[-1]:.2f}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
for name, marker in [("smooth", "o"), ("random", "s")]:
    eps_col, err_col, comp_col = sweep[name].T
    ax1.loglog(eps_col, np.maximum(err_col, 1e-17), marker, label=name)
    ax2.loglog(np.maximum(err_col, 1e-17), comp_col, marker + "-", label=name)
ax1.loglog(eps_grid, eps_grid, "k--", lw=1, label="error = eps (the bound)")
ax1.set_xlabel("eps")
ax1.set_ylabel("relative error")
ax1.legend(fontsize=8)
ax1.set_title("every point lies below the bound", fontsize=9)
ax2.axhline(1.0, color="0.5", lw=0.8)
ax2.set_xlabel("relative error")
ax2.set_ylabel("compression (dense / TT params)")
ax2.legend(fontsize=8)
ax2.set_title("structure buys compression; noise does not", fontsize=9)
fig.tight_layout()

# %% [markdown]
# ## 6. Orthogonalization and rounding
#
# A QR sweep from left to right (`left_orthogonalize`) rewrites every core but the last so that its
# $(r_k n_k) \times r_{k+1}$ unfolding $L$ has orthonormal columns, $L^\top L = I$, without changing the
# tensor. Then all of the norm sits in the last core.

# %%
T = tt.tt_svd(A_smooth, eps=1e-8)
T_left = tt.left_orthogonalize(T)
for k, G in enumerate(T_left[:-1]):
    L = G.reshape(-1, G.shape[2])  # (r_k·n_k, r_{k+1})
    print(f"core {k}: max |LᵀL − I| = {np.abs(L.T @ L - np.eye(L.shape[1])).max():.1e}")
print(f"‖A‖ = {np.linalg.norm(tt.full(T)):.12f}   ‖last core‖ = {np.linalg.norm(T_left[-1]):.12f}")
print(f"tensor changed by {np.linalg.norm(tt.full(T_left) - tt.full(T)):.1e}")

# %% [markdown]
# **Rounding** (`tt_round`) recompresses a TT without densifying: right-orthogonalize, then sweep left to right
# with truncated SVDs of the small core unfoldings at the same $\delta = \varepsilon\|A\|_F/\sqrt{d-1}$. Ranks
# never go up, and the error obeys the same bound. Arithmetic makes ranks grow, so rounding is what keeps TT
# algebra cheap. Adding a TT to itself doubles every rank; rounding finds the ranks of $2A$ again.

# %%
T2 = tt.add(T, T)
T2_rounded = tt.tt_round(T2, eps=1e-10)
print("T      ", tt.describe(T))
print("T + T  ", tt.describe(T2))
print("rounded", tt.describe(T2_rounded))
print(f"relative error of rounding: {np.linalg.norm(tt.full(T2_rounded) - 2 * tt.full(T)) / tt.norm(T2):.1e}")
assert tt.ranks(T2_rounded) == tt.ranks(T)

# %% [markdown]
# ## 7. Arithmetic without densifying
#
# | operation | cores | ranks |
# |---|---|---|
# | $A + B$ (`add`) | first $[G^A_0\; G^B_0]$, middle $\mathrm{diag}(G^A_k, G^B_k)$, last $[G^A; G^B]$ | $r^A + r^B$ |
# | $\alpha A$ (`scale`) | $\alpha G_0$ | unchanged |
# | $A \odot B$ (`hadamard`) | $C_k[(\alpha\beta), i, (\alpha'\beta')] = G^A_k[\alpha,i,\alpha']\,G^B_k[\beta,i,\beta']$ | $r^A r^B$ |
# | $\langle A, B\rangle$ (`dot`) | sweep $M \leftarrow \sum M\, G^A_k G^B_k$ over $(r^A_k, r^B_k)$ matrices | — |
# | $\|A\|_F$ (`norm`) | $\|G_0\|_F$ after right-orthogonalization | — |
#
# Each costs $O(d\, n\, r^3)$ or less instead of $O(n^d)$. Compare every result with the dense computation:

# %%
P = tt.tt_svd(A_smooth, eps=1e-8)
Q = tt.tt_svd(A_random, eps=1e-8)
P_dense, Q_dense = tt.full(P), tt.full(Q)  # (n, n, n, n) each
checks = {
    "add": np.linalg.norm(tt.full(tt.add(P, Q)) - (P_dense + Q_dense)),
    "scale": np.linalg.norm(tt.full(tt.scale(P, -2.5)) - (-2.5 * P_dense)),
    "hadamard": np.linalg.norm(tt.full(tt.hadamard(P, P)) - P_dense * P_dense),
    "dot": abs(tt.dot(P, Q) - np.sum(P_dense * Q_dense)),
    "norm": abs(tt.norm(P) - np.linalg.norm(P_dense)),
}
for name, err in checks.items():
    print(f"{name:>8}: |TT − dense| = {err:.1e}")
assert max(checks.values()) < 1e-10

P_squared = tt.hadamard(P, P)
print("A ⊙ A          ", tt.describe(P_squared))
print("A ⊙ A, rounded ", tt.describe(tt.tt_round(P_squared, eps=1e-8)))

# %% [markdown]
# Because nothing is densified, TT algebra works where the dense tensor could never exist. The all-ones
# tensor with 40 modes of size 4 has $4^{40} \approx 10^{24}$ entries but is a rank-1 TT with 160 numbers.
# Its norm is $\sqrt{4^{40}} = 2^{40}$, and rounding $J + J$ gets rank 1 back.

# %%
J = [np.ones((1, 4, 1)) for _ in range(40)]
JJ = tt.tt_round(tt.add(J, J), eps=1e-12)
print(f"{num_params(J)} params for {4.0 ** 40:.1e} entries; norm(J) = {tt.norm(J):.6e}, 2^40 = {2.0 ** 40:.6e}")
print("round(J + J):", tt.ranks(JJ)[:6], "…", f"norm = {tt.norm(JJ):.6e}")
assert np.isclose(tt.norm(J), 2.0 ** 40) and max(tt.ranks(JJ)) == 1

# %% [markdown]
# ## Summary
#
# - A TT tensor is a list of cores $(r_k, n_k, r_{k+1})$; the TT ranks are bounded below by the ranks of the
#   unfoldings $A^{\langle k \rangle}$.
# - TT-SVD builds it with $d-1$ truncated SVDs; cutting each at $\delta = \varepsilon\|A\|_F/\sqrt{d-1}$
#   guarantees a relative error $\le \varepsilon$ (a `max_rank` cap voids that guarantee).
# - Smooth, structured tensors compress by orders of magnitude; random tensors do not compress at all.
# - Orthogonalization (QR sweeps) leaves the tensor unchanged; rounding recompresses after arithmetic.
# - Sums, scalings, elementwise products, inner products and norms never need the dense tensor.
#
# ## Exercises
#
# Write each function in the cell below its description; the `check` call next to it runs your function on
# several inputs against the library and prints ✓, ✗ with a hint, or ○ while the stub is still there. The
# solutions are in `tutorials/solutions/tensor_trains.py`; try first.
#
# **Exercise 1 (TT-SVD).** Write `my_tt_svd(A, eps)` for a tensor of any shape (modes of different sizes, and
# $d = 2$, a matrix, included): return cores $(r_k, n_k, r_{k+1})$ with the ranks `tt.tt_svd` finds and relative
# error at most `eps`. Section 3 did it for one tensor with equal modes.

# %%
def my_tt_svd(A, eps):
    """TT cores of A with ‖A − full(cores)‖_F ≤ eps·‖A‖_F, by d − 1 truncated SVDs."""
    # your code here
    raise NotImplementedError


check.tt_svd(my_tt_svd)

# %% [markdown]
# **Exercise 2 (rounding).** Write `my_tt_round(cores, eps)`: recompress a TT to relative accuracy `eps`
# *without forming the full tensor* (the checker makes `tt.full` and `tt.tt_svd` refuse to run while it calls
# you). Right-orthogonalize with QR decompositions from the last core to the first, so that the whole norm sits
# in core 0, then sweep left to right with truncated SVDs of the $(r_k n_k) \times r_{k+1}$ unfoldings at
# $\delta = \varepsilon \|T\|_F / \sqrt{d-1}$ (section 6).

# %%
def my_tt_round(cores, eps):
    """A TT with the smallest ranks that tt_round finds, within relative error eps, never densified."""
    # your code here
    raise NotImplementedError


check.tt_round(my_tt_round)

# %% [markdown]
# **Exercise 3 (cores by hand).** The tensor $S[i_0, \dots, i_{d-1}] = i_0 + i_1 + \dots + i_{d-1}$ has TT ranks
# 2. Build its cores for any $n$ and $d \ge 2$ without any SVD. Hint: carry the pair (1, running sum) along the
# chain.

# %%
def my_sum_tensor_cores(n, d):
    """Rank-2 TT cores of S[i_0, …, i_{d−1}] = i_0 + … + i_{d−1} on n points per mode."""
    # your code here
    raise NotImplementedError


check.sum_tensor_cores(my_sum_tensor_cores)
