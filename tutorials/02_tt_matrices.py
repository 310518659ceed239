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
# # 02 · TT-matrices: a weight matrix as a chain of 4-D cores
#
# Tutorial 01 stored a d-way *tensor* as a tensor train. A recurrent network's weights are *matrices*
# $W \in \mathbb{R}^{M \times N}$ (layer convention $y = xW + b$, so $M$ = inputs, $N$ = outputs). This
# notebook turns a matrix into a **TT-matrix**, multiplies by it without ever forming $W$, asks when that is
# actually faster, and shows how to initialize it so that the full matrix has the variance we want.
#
# **Notation.** Write both dimensions as products of $d$ *modes*, $M = m_0 m_1 \cdots m_{d-1}$ and
# $N = n_0 n_1 \cdots n_{d-1}$. Core $k$ has shape $(r_k, m_k, n_k, r_{k+1})$ with $r_0 = r_d = 1$. A row index
# $i$ is split into digits $(i_0, \dots, i_{d-1})$ with $i = (\cdots(i_0 m_1 + i_1) m_2 + \cdots) + i_{d-1}$
# (mode 0 most significant, C order), and a column index $j$ into $(j_0, \dots, j_{d-1})$ the same way. Then
#
# $$W[i, j] = G_0[:, i_0, j_0, :]\; G_1[:, i_1, j_1, :] \cdots G_{d-1}[:, i_{d-1}, j_{d-1}, :],$$
#
# a product of matrices of sizes $1 \times r_1$, $r_1 \times r_2$, …, $r_{d-1} \times 1$. Row digit $k$ and column
# digit $k$ always meet in the same core. The TT-matrix stores
#
# $$P_{TT} = \sum_k r_k m_k n_k r_{k+1} \quad\text{numbers instead of}\quad MN.$$
#
# Index letters: $b$ batch, $i/j$ row/column index, $m/n$ row/column modes, $r$ ranks, $k$ core, $d$ cores,
# $R$ a uniform inner rank ($r = (1, R, \dots, R, 1)$).

# %%
import os
import warnings

import matplotlib.pyplot as plt
import numpy as np

from checks import tt_matrices as check  # the exercises' checkers (tutorials/checks/)
from ttrnn_np import cost, diagrams, init, shapes, ttmatmul, ttmatrix
from ttrnn_np.experiments.runtime import blas_info, set_blas_threads
from ttrnn_np.experiments.timing import interleaved_times

FAST = os.environ.get("TTRNN_FAST") == "1"
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The index mapping on a 6 × 8 matrix
#
# Take $M = 6 = 2 \cdot 3$ and $N = 8 = 2 \cdot 4$: modes $(m_0, m_1) = (2, 3)$ and $(n_0, n_1) = (2, 4)$.
# Row $i$ has digits $i = 3 i_0 + i_1$ and column $j$ has digits $j = 4 j_0 + j_1$; `np.unravel_index` does
# exactly this C-order split.

# %%
m, n = (2, 3), (2, 4)  # row modes (m0, m1), column modes (n0, n1)
M, N = 6, 8
i_digits = np.unravel_index(np.arange(M), m)  # ((M,), (M,)): i0, i1 for every row
j_digits = np.unravel_index(np.arange(N), n)  # ((N,), (N,)): j0, j1 for every column
print("row i    :", " ".join(f"{i:>5}" for i in range(M)))
print("(i0, i1) :", " ".join(f"{a},{b:<3}" for a, b in zip(*i_digits)))
print("column j :", " ".join(f"{j:>5}" for j in range(N)))
print("(j0, j1) :", " ".join(f"{a},{b:<3}" for a, b in zip(*j_digits)))

# %% [markdown]
# So $W$ reshaped to $(m_0, m_1, n_0, n_1) = (2, 3, 2, 4)$ is a 4-way tensor. Pairing each row digit with its
# column digit, i.e. **interleaving** the axes to $(m_0, n_0, m_1, n_1)$ and merging each pair, gives a 2-way
# tensor with modes $(m_0 n_0, m_1 n_1) = (4, 12)$. A TT-matrix is nothing but an ordinary TT of that
# interleaved tensor, with each 3-D core $(r_k, m_k n_k, r_{k+1})$ split back into $(r_k, m_k, n_k, r_{k+1})$.
#
# Let us draw a random TT-matrix with rank $r_1 = 2$ and check one entry by hand: row $i = 4$ has digits
# $(1, 1)$, column $j = 7$ has digits $(1, 3)$, so $W[4, 7] = G_0[0, 1, 1, :] \cdot G_1[:, 1, 3, 0]$, a
# $1 \times 2$ times $2 \times 1$ product.

# %%
cores_6x8 = init.normal(m, n, 2, std=1.0, rng=rng)  # [(1, 2, 2, 2), (2, 3, 4, 1)]
W_6x8 = ttmatrix.full(cores_6x8)  # (6, 8)
print(ttmatrix.describe(cores_6x8))
print("core shapes:", [G.shape for G in cores_6x8])

i, j = 4, 7
(i0, i1), (j0, j1) = np.unravel_index(i, m), np.unravel_index(j, n)
G0, G1 = cores_6x8
by_hand = G0[0, i0, j0, :] @ G1[:, i1, j1, 0]  # (r1,) · (r1,) → scalar
print(f"W[{i}, {j}]: digits i=({i0},{i1}), j=({j0},{j1});  by hand {by_hand:.6f},  full() {W_6x8[i, j]:.6f}")
assert np.isclose(by_hand, W_6x8[i, j])

# %% [markdown]
# As a tensor network (`diagrams.draw_tt_matrix`), each core now has two open legs: the row mode $m_k$ below,
# the input side that $x$ is contracted with in $y = xW$, and the column mode $n_k$ above, the output side. The
# bond between the nodes is the rank index, labelled $r_1$. The row digit $i_k$ and the column digit $j_k$ hang on
# the same node $G_k$, which is why they always meet in the same core: fixing every leg to a digit leaves one
# small matrix per node, and multiplying them along the bond is the entry we just computed by hand.

# %%
diagrams.draw_tt_matrix(cores_6x8, title=ttmatrix.describe(cores_6x8));

# %% [markdown]
# Every entry, not only one: the interleaved tensor built by hand from the dense matrix equals the product of
# the two cores written as ordinary TT cores of shape $(1, m_0 n_0, r_1)$ and $(r_1, m_1 n_1, 1)$.

# %%
A = W_6x8.reshape(m + n)  # (m0, m1, n0, n1)
A = A.transpose(0, 2, 1, 3).reshape(m[0] * n[0], m[1] * n[1])  # (m0·n0, m1·n1) = (4, 12)
tt_product = G0.reshape(m[0] * n[0], -1) @ G1.reshape(G1.shape[0], -1)  # (m0·n0, r1) @ (r1, m1·n1) → (4, 12)
print(f"max |interleaved W − G0·G1| = {np.abs(A - tt_product).max():.1e}")
assert np.allclose(A, tt_product)

# %% [markdown]
# With two cores there is a second way to see it. Fixing the leading digits $(i_0, j_0)$ picks a $3 \times 4$
# block of $W$, and that block is $\sum_\alpha G_0[0, i_0, j_0, \alpha]\, G_1[\alpha, :, :, 0]$: every block is a
# mix of the same $r_1$ small matrices. In other words $W = \sum_{\alpha} A_\alpha \otimes B_\alpha$, a sum of
# $r_1$ Kronecker products with $A_\alpha = G_0[0, :, :, \alpha]$ of shape $(m_0, n_0)$ and
# $B_\alpha = G_1[\alpha, :, :, 0]$ of shape $(m_1, n_1)$. Mode 0 chooses the block, mode 1 the entry inside it.

# %%
W_kron = sum(np.kron(G0[0, :, :, a], G1[a, :, :, 0]) for a in range(G0.shape[3]))  # (m0·m1, n0·n1) = (6, 8)
assert np.allclose(W_kron, W_6x8)

fig, ax = plt.subplots(figsize=(5.5, 4))
image = ax.imshow(W_6x8, cmap="RdBu_r", vmin=-np.abs(W_6x8).max(), vmax=np.abs(W_6x8).max())
for i_line in range(m[1], M, m[1]):
    ax.axhline(i_line - 0.5, color="k", lw=2)
for j_line in range(n[1], N, n[1]):
    ax.axvline(j_line - 0.5, color="k", lw=2)
ax.set_yticks(range(M), [f"{i} = ({a},{b})" for i, (a, b) in enumerate(zip(*i_digits))])
ax.set_xticks(range(N), [f"{j}\n({a},{b})" for j, (a, b) in enumerate(zip(*j_digits))])
ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="k", linestyle="--"))  # W[4, 7]
ax.set_ylabel("row i = (i0, i1)")
ax.set_xlabel("column j = (j0, j1)")
ax.set_title("W, 6×8 = (2·3)×(2·4): blocks (i0, j0), each a mix of $G_1$ slices", fontsize=9)
fig.colorbar(image, ax=ax)
fig.tight_layout()

# %% [markdown]
# ## 2. From dense to TT and back: `from_dense` and `full`
#
# `ttmatrix.from_dense(W, m, n, eps)` does the interleaving above and then runs TT-SVD (tutorial 01) at relative
# accuracy `eps`; `ttmatrix.full` chains the cores and un-interleaves. Three cases:
#
# * a TT-matrix of rank 2, densified: TT-SVD finds rank 2 again and the round trip is exact;
# * a random dense $6 \times 8$ matrix: its interleaved $4 \times 12$ unfolding has rank 4, the **useful maximum**
#   $\min(m_0 n_0, m_1 n_1)$, so the "compressed" TT needs $4 \cdot 4 + 4 \cdot 12 = 64$ numbers for 48 entries;
# * the same random matrix capped at `max_rank=2`: smaller, but no longer exact.

# %%
back = ttmatrix.from_dense(W_6x8, m, n)
W_random = rng.standard_normal((M, N))  # (6, 8)
exact = ttmatrix.from_dense(W_random, m, n)
capped = ttmatrix.from_dense(W_random, m, n, max_rank=2)
cases = [("rank-2 TT", back, W_6x8), ("random", exact, W_random), ("random, max_rank 2", capped, W_random)]
for name, cores, W in cases:
    error = np.linalg.norm(ttmatrix.full(cores) - W) / np.linalg.norm(W)
    print(f"{name:>19}: {ttmatrix.describe(cores)};  relative error {error:.1e}")
assert ttmatrix.ranks(back) == (1, 2, 1) and ttmatrix.ranks(exact) == shapes.max_ranks(m, n)
assert np.allclose(ttmatrix.full(back), W_6x8) and np.allclose(ttmatrix.full(exact), W_random)

# %% [markdown]
# In a network we never go through a dense matrix: the cores are initialized directly (section 5) and trained.
# `from_dense` is for analysis and tests.
#
# ## 3. The product $Y = XW$ without forming $W$
#
# For a batch $X$ of shape $(B, M)$, reshape each row to the digits $(m_0, \dots, m_{d-1})$ and contract the
# cores one at a time. The running partial result, the **carry**, always holds some row modes still to be
# consumed, some column modes already produced, and one open rank index. There are two directions.
#
# **Left to right** (core 0 first). Before step $k$ the carry is $Z[b, n_{<k}, r_k, m_k, m_{>k}]$:
#
# $$Z'[b, n_{<k}, m_{>k}, n_k, r_{k+1}] = \sum_{r_k, m_k} Z[b, n_{<k}, r_k, m_k, m_{>k}]\;
#   G_k[r_k, m_k, n_k, r_{k+1}],$$
#
# and moving $n_k$ next to $n_{<k}$ gives the next carry. Step $k$ costs
# $2\, r_k r_{k+1} (\prod_{l \le k} n_l)(\prod_{l \ge k} m_l)$ FLOPs per sample.
#
# **Right to left** (core $d-1$ first) is the mirror image, carry $Z[b, m_{<k}, m_k, r_{k+1}, n_{>k}]$, cost
# $2\, r_k r_{k+1} (\prod_{l \le k} m_l)(\prod_{l \ge k} n_l)$ per sample. The dense product costs $2MN$.
#
# `ttmatmul.matmul_sweep` is this sweep written with `np.tensordot` on named axes — read its source
# (`ttrnn_np/ttmatmul.py`): each step is one `tensordot`, one `transpose` and one `reshape`. Give it a list as
# `steps` and it records every step's carry shape and FLOPs, which we print. The fast `ttmatmul.matmul` does the
# same contractions as flat batched BLAS products, with a hand-derived backward pass (tutorial 04).

# %%
def show_sweep(X, cores, order):
    """Y = X·W by the readable sweep, printing the carry before every step; returns (Y, FLOPs)."""
    steps = []
    Y = ttmatmul.matmul_sweep(X, cores, order, steps=steps)  # (B, N)
    for step in steps:
        print(f"  step {step['k']}: carry {step['carry']}, {step['flops']:,} FLOPs")
    return Y, sum(step["flops"] for step in steps)


# %% [markdown]
# A small example with three cores: $M = 24$ with row modes $(4, 3, 2)$, $N = 24$ with column modes
# $(2, 3, 4)$, ranks $(1, 2, 2, 1)$ and a batch of $B = 5$.

# %%
m3, n3, B_small = (4, 3, 2), (2, 3, 4), 5
cores3 = init.glorot(m3, n3, 2, rng)  # [(1, 4, 2, 2), (2, 3, 3, 2), (2, 2, 4, 1)]
X_small = rng.standard_normal((B_small, 24))  # (B, M)
Y_dense = X_small @ ttmatrix.full(cores3)  # (B, N)
print(ttmatrix.describe(cores3))
print("left to right, carry (B, N_<k, r_k, m_k, M_>k):")
Y_ltr, flops_ltr = show_sweep(X_small, cores3, "ltr")
print("right to left, carry (B, M_<k, m_k, r_k+1, N_>k):")
Y_rtl, flops_rtl = show_sweep(X_small, cores3, "rtl")

model = cost.matmul_flops(m3, n3, 2)
print(f"\nFLOPs per sample: left-to-right {flops_ltr // B_small}, right-to-left {flops_rtl // B_small}, "
      f"dense 2MN = {model['dense']};  cost model {model}")
products = {"sweep ltr": Y_ltr, "sweep rtl": Y_rtl,
            "ttmatmul ltr": ttmatmul.matmul(X_small, cores3, order="ltr"),  # (B, N)
            "ttmatmul rtl": ttmatmul.matmul(X_small, cores3, order="rtl"),  # (B, N)
            "ttmatmul auto": ttmatmul.matmul(X_small, cores3)}  # (B, N)
for name, Y in products.items():
    print(f"{name:>13}: max |Y − X·full(W)| = {np.abs(Y - Y_dense).max():.1e}")
    assert np.allclose(Y, Y_dense, atol=1e-12)
assert (flops_ltr // B_small, flops_rtl // B_small) == (model["ltr"], model["rtl"])

# %% [markdown]
# Both orders give $X \cdot \mathrm{full}(W)$ to rounding error, but their costs differ by almost 3×.
# Left to right first contracts the largest row mode $m_0 = 4$ against the smallest column mode $n_0 = 2$, so
# the carry shrinks early; right to left starts with $n_2 = 4$ against $m_2 = 2$ and carries a larger array
# through every step. Here the cheap order beats the dense $2MN$ and the other one loses to it.
# `ttmatmul.matmul(X, W)` (order `"auto"`) asks the cost model and takes the cheaper order.
#
# ## 4. The break-even rank: FLOPs versus measured time
#
# With a uniform rank $R$ the TT product costs $O(d\, R^2 \cdot \text{(mode products)})$ FLOPs, so above some
# rank it does more arithmetic than the dense $2MN$. `cost.break_even_rank(m, n)` returns the smallest $R$ at
# which the cheaper order reaches the dense FLOPs. Counting FLOPs is not timing, though, so we measure: a
# square 1024 × 1024 layer with `auto_shape` modes at $d = 3$, a batch of $B$ rows, the median
# of several rounds after warm-up calls, for the TT product and the dense `X @ W`.
#
# Two pieces of plumbing come from the library: `set_blas_threads(1)` pins the BLAS library to one thread (on a
# shared machine extra threads mostly wait for a free core, and one large GEMM would profit from threads far
# more than a chain of small products), and `interleaved_times` calls the TT product and the dense product in
# turn, round after round, after a warm-up call each, so that both see the same machine load, and reports the
# median of the rounds.

# %%
set_blas_threads(1)
blas = blas_info()
print(f"BLAS: {blas['name']} {blas['version']}, {blas['threads']} thread(s); {os.cpu_count()} cores")
M_bench = 1024
B_bench = 32 if FAST else 64
repeats = 5 if FAST else 25
rank_grid = [1, 2, 4, 8, 10, 12, 16] if FAST else [1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 16, 20, 24, 32]
m_bench = shapes.auto_shape(M_bench, 3)
X_bench = rng.standard_normal((B_bench, M_bench))  # (B, M)
W_bench = rng.standard_normal((M_bench, M_bench))  # (M, N)
R_flops = cost.break_even_rank(m_bench, m_bench)
print(f"layer {M_bench}×{M_bench}, modes {m_bench}×{m_bench}, batch {B_bench}, {repeats} repeats; "
      f"useful ranks up to {shapes.max_ranks(m_bench, m_bench)}; FLOP break-even rank {R_flops}")

t_tt, t_dense, flops_tt = [], [], []
for R in rank_grid:
    cores_R = init.glorot(m_bench, m_bench, R, rng)  # [(1, m0, n0, R), (R, m1, n1, R), (R, m2, n2, 1)]
    assert np.allclose(ttmatmul.matmul(X_bench[:2], cores_R), X_bench[:2] @ ttmatrix.full(cores_R))
    timed = interleaved_times({"TT": lambda: ttmatmul.matmul(X_bench, cores_R), "dense": lambda: X_bench @ W_bench},
                              repeats)
    t_tt.append(timed["TT"]["median"])
    t_dense.append(timed["dense"]["median"])
    flops_tt.append(cost.matmul_flops(m_bench, m_bench, R)["best"])
    print(f"R = {R:>2}: TT {t_tt[-1] * 1e3:7.3f} ms   dense {t_dense[-1] * 1e3:7.3f} ms   "
          f"FLOPs/sample TT {flops_tt[-1]:>11,}  dense {2 * M_bench * M_bench:,}")

# %%
t_tt, t_dense, flops_tt = np.array(t_tt), np.array(t_dense), np.array(flops_tt)  # (len(rank_grid),) each
t_dense_line = np.median(t_dense)
flops_dense = 2 * M_bench * M_bench
slower = np.nonzero(t_tt >= t_dense_line)[0]
R_time = rank_grid[slower[0]] if len(slower) else None
gflops_tt = B_bench * flops_tt / t_tt / 1e9  # (len(rank_grid),)
gflops_dense = B_bench * flops_dense / t_dense_line / 1e9
speedup_rank_1 = t_dense_line / t_tt[0]
print(f"rank 1: {speedup_rank_1:.1f}× faster than dense for {flops_dense / flops_tt[0]:.0f}× fewer FLOPs")
if R_time is None:
    print(f"the TT product stayed faster than dense up to R = {rank_grid[-1]}; FLOP break-even R = {R_flops}")
else:
    place = "below" if R_time < R_flops else "at" if R_time == R_flops else "above"
    print(f"measured break-even R ≈ {R_time} (first rank in the grid whose TT time ≥ dense), {place} the FLOP "
          f"break-even R = {R_flops}")
at_flop_break_even = t_tt[rank_grid.index(R_flops)] / t_dense_line if R_flops in rank_grid else None
if at_flop_break_even is not None:
    print(f"at R = {R_flops}, with equal FLOPs, the TT product took {at_flop_break_even:.1f}× the dense time")
print(f"throughput: dense {gflops_dense:.1f} GFLOP/s, TT {gflops_tt.min():.1f}–{gflops_tt.max():.1f} GFLOP/s; "
      f"the TT rate was below the dense rate at {np.sum(gflops_tt < gflops_dense)} of {len(rank_grid)} ranks")

powers_of_two = [R for R in (1, 2, 4, 8, 16, 32) if R <= rank_grid[-1]]
fig, (ax_t, ax_f, ax_g) = plt.subplots(1, 3, figsize=(13, 4.2))
ax_t.plot(rank_grid, t_tt * 1e3, "o-", label="TT product (ttmatmul)")
ax_t.axhline(t_dense_line * 1e3, color="k", label="dense X @ W")
ax_t.axhspan(t_dense.min() * 1e3, t_dense.max() * 1e3, color="k", alpha=0.1)
ax_t.set_ylabel(f"median time per batch of {B_bench} (ms)")
ax_t.set_title("time: what a user feels", fontsize=10)
ax_f.plot(rank_grid, flops_tt, "o-", label="TT, cheaper order")
ax_f.axhline(flops_dense, color="k", label="dense 2MN")
ax_f.set_ylabel("FLOPs per sample")
ax_f.set_title("FLOPs: pure arithmetic", fontsize=10)
ax_g.plot(rank_grid, gflops_tt, "o-", label="TT product")
ax_g.axhline(gflops_dense, color="k", label="dense X @ W")
ax_g.set_ylabel("achieved GFLOP/s")
ax_g.set_title("throughput: FLOPs / time", fontsize=10)
for ax in (ax_t, ax_f, ax_g):
    ax.axvline(R_flops, color="tab:red", ls="--", label=f"FLOP break-even R = {R_flops}")
    if R_time is not None:
        ax.axvline(R_time, color="tab:green", ls=":", label=f"measured break-even R ≈ {R_time}")
    ax.set_xscale("log", base=2)
    ax.set_xticks(powers_of_two, [str(R) for R in powers_of_two])
    ax.set_xlabel("rank R")
    ax.legend(fontsize=8, loc="lower right" if ax is ax_g else "upper left")
for ax in (ax_t, ax_f):
    ax.set_yscale("log")
ax_g.set_ylim(0, 1.15 * max(gflops_dense, gflops_tt.max()))
fig.suptitle(f"TT-matrix {M_bench}×{M_bench}, modes {m_bench}×{m_bench}, batch {B_bench}, "
             f"{blas['name']}, 1 thread, {os.cpu_count()} cores", fontsize=10)
fig.tight_layout()

# %% [markdown]
# **Reading the plot.** The middle panel is pure arithmetic: the TT FLOPs grow like $R^2$ and cross the dense
# line at the FLOP break-even rank. The left panel is what a user feels, and the printout above says where the
# measured times crossed on this run. The right panel says why they need not cross at the same rank: the single
# $B \times 1024 \times 1024$ GEMM runs at the dense throughput printed above, while the TT product, a chain of
# $d$ thin products (inner dimension $r_k m_k$, from 8 to a few hundred) separated by transposes that copy the
# whole carry through memory, runs at its own rate (counted against dense above). Where its rate is lower than
# dense's, it needs fewer FLOPs than dense just to keep up, and the measured break-even comes before the FLOP
# break-even; where its rate is higher, after.
#
# Batch size, layer size, the BLAS library and its thread count all move both curves, and a busy machine makes
# everything noisy, so the numbers are this run's, not a law. The lesson stands on any machine:
# **fewer FLOPs is necessary, not sufficient**. Claim speed only from timings. (Inside an LSTM trained with
# autograd, autograd's per-operation overhead comes on top; tutorial 08.)
#
# ## 5. Initialization must be scaled by the ranks
#
# Glorot asks for $\operatorname{Var}(W_{ij}) = \sigma_\text{full}^2 = 2/(M+N)$. With iid
# $\mathcal{N}(0, \sigma_\text{core}^2)$ core entries, an entry of the full matrix
#
# $$W[i,j] = \sum_{\alpha_1, \dots, \alpha_{d-1}} G_0[1, i_0, j_0, \alpha_1]\, G_1[\alpha_1, i_1, j_1, \alpha_2]
#   \cdots G_{d-1}[\alpha_{d-1}, i_{d-1}, j_{d-1}, 1]$$
#
# is a sum of $\prod_k r_k$ products of $d$ independent zero-mean factors, so
# $\operatorname{Var}(W_{ij}) = \prod_k r_k \cdot \sigma_\text{core}^{2d}$ and
#
# $$\sigma_\text{core} = \left(\sigma_\text{full}^2 \big/ \textstyle\prod_k r_k\right)^{1/(2d)}
# \qquad (= (2/(M+N))^{1/(2d)}\, R^{-(d-1)/(2d)} \text{ for uniform rank } R).$$
#
# That is `init.core_std`, used by `init.glorot`. Two tempting shortcuts get it wrong:
#
# * **no rank factor**, $\sigma_\text{core} = \sigma_\text{full}^{1/d}$: the full std comes out
#   $\sqrt{\prod_k r_k}$ times too **large**;
# * **rank factor under the wrong power**, $\sigma_\text{core} = (\sigma_\text{full} / \prod_k r_k)^{1/d}$
#   (TensorLy-Torch's rule, docs/method.md §4): $\sqrt{\prod_k r_k}$ times too **small**.
#
# We draw each rule's cores for a $256 \times 1024$ layer (an LSTM's $H \to 4H$ at $H = 256$) and measure the
# std of the entries of $\mathrm{full}(W)$. One draw is a noisy estimate at low rank (a rank-1 TT-matrix is
# built from only a few hundred random numbers), so we pool the squared entries of several draws.

# %%
m_in, n_out = shapes.auto_shape(256, 3), shapes.auto_shape(1024, 3)  # (4, 8, 8), (8, 8, 16)
sigma_full = np.sqrt(2 / (256 + 1024))
init_ranks = [1, 2, 4, 8] if FAST else [1, 2, 4, 8, 16, 32]
draws = 10 if FAST else 40


def realized_std(rule, R, draws, seed=0):
    """√(mean of full(W)²) over `draws` TT-matrices with core entries N(0, σ_core²), σ_core set by `rule`."""
    r = shapes.rank_tuple(R, 3)
    if rule == "glorot (ours)":
        sigma_core = init.core_std(sigma_full, r)
    elif rule.startswith("no rank factor"):
        sigma_core = sigma_full ** (1 / 3)
    else:
        sigma_core = (sigma_full / np.prod(r)) ** (1 / 3)
    draw = np.random.default_rng(seed)
    mean_squares = []
    for _ in range(draws):
        cores = [sigma_core * draw.standard_normal((r[k], m_in[k], n_out[k], r[k + 1]))  # (r_k, m_k, n_k, r_k+1)
                 for k in range(3)]
        mean_squares.append(np.mean(ttmatrix.full(cores) ** 2))  # full(W) is (256, 1024)
    return float(np.sqrt(np.mean(mean_squares)))


rules = ["glorot (ours)", "no rank factor (× √∏r too large)", "rank factor inside the 1/d power (÷ √∏r)"]
stds = {rule: [realized_std(rule, R, draws) for R in init_ranks] for rule in rules}
for rule in rules:
    print(f"{rule:>42}: " + "  ".join(f"R={R}: {s:.4f}" for R, s in zip(init_ranks, stds[rule])))
print(f"{'Glorot target √(2/(M+N))':>42}: {sigma_full:.4f}")
assert all(abs(s / sigma_full - 1) < 0.25 for s in stds["glorot (ours)"])
glorot_cores = init.glorot(m_in, n_out, 4, np.random.default_rng(1))
assert np.isclose(glorot_cores[1].std(), init.core_std(sigma_full, (1, 4, 4, 1)), rtol=0.1)

fig, ax = plt.subplots(figsize=(6, 4))
for rule, marker in zip(rules, "osv"):
    ax.loglog(init_ranks, stds[rule], marker + "-", label=rule)
ax.axhline(sigma_full, color="k", ls="--", label="Glorot target $\\sqrt{2/(M+N)}$")
ax.set_xscale("log", base=2)
ax.set_xticks(init_ranks, [str(R) for R in init_ranks])
ax.set_xlabel("rank R (ranks (1, R, R, 1))")
ax.set_ylabel("std of the entries of full(W)")
ax.set_title(f"{256}×{1024} TT-matrix, modes {m_in}×{n_out}", fontsize=10)
ax.legend(fontsize=8)
fig.tight_layout()

# %% [markdown]
# Only the rank-scaled rule stays on the target at every rank; the other two drift away by a factor
# $\sqrt{\prod_k r_k} = R$ at $d = 3$, up or down. A network whose weights are 32 times too large or too small
# saturates its gates or barely moves its hidden state, so the rank factor is not a detail. (The entries of
# $\mathrm{full}(W)$ are sums of products, so they are not Gaussian, but their variance is exact.)
#
# ## 6. Choosing the modes: `auto_shape`
#
# Any factorization of $M$ into $d$ modes works, but balanced modes give the smallest cores and the cheapest
# products. `auto_shape` follows the authors' rule: group the prime factors of $n$ (padded with 1s when $n$ has
# fewer than $d$ of them) into $d$ modes in every way; `shapes.factorizations(n, d)` lists the ascending tuples
# this gives. `shapes.entropy(f)` $= -\sum_i p_i \ln p_i$ with $p_i = f_i / \sum f$ scores how even a tuple is
# (the maximum, $\ln d$, is reached by equal factors), and `auto_shape` picks the maximum, breaking ties
# lexicographically. A 1 appears only as padding: $44 = 2 \cdot 2 \cdot 11$ at $d = 3$ gives $(2, 2, 11)$,
# although $(1, 4, 11)$ would be more even.

# %%
candidates = sorted(shapes.factorizations(768, 3), key=shapes.entropy, reverse=True)
print(f"768 has {len(candidates)} groupings of its prime factors into 3 modes; the most balanced:")
for f in candidates[:6]:
    cost_R4 = cost.num_params(f, shapes.auto_shape(3072, 3), 4)
    print(f"  {f!s:>13}  entropy {shapes.entropy(f):.4f} (max ln 3 = {np.log(3):.4f})   "
          f"768→3072 at R=4: {cost_R4:,} params")
print(f"auto_shape(768, 3) = {shapes.auto_shape(768, 3)}")
assert shapes.auto_shape(768, 3) == candidates[0]

# %% [markdown]
# The most balanced choice is also the cheapest here, but entropy is a proxy, not the parameter count: paired
# with the output modes $(12, 16, 16)$ of 3072, the less balanced $(4, 8, 24)$ needs fewer parameters than
# $(4, 12, 16)$.

# %% [markdown]
# The sizes in the paper: inputs 28 (MNIST rows) and 40 (mel channels), hidden sizes 256 and 768, and their
# gate-stacked $4H$ = 1024 and 3072.

# %%
sizes = [28, 40, 256, 768, 1024, 3072]
print(f"{'n':>5} | " + " | ".join(f"{'d = ' + str(d):<16}" for d in range(2, 6)))
for size in sizes:
    print(f"{size:>5} | " + " | ".join(f"{str(shapes.auto_shape(size, d)):<16}" for d in range(2, 6)))
assert shapes.auto_shape(28, 4) == (1, 2, 2, 7) and shapes.auto_shape(3072, 4) == (6, 8, 8, 8)

# %% [markdown]
# Two kinds of size factorize badly, and `auto_shape` says so with a `ShapeWarning`: a prime $n$ puts the
# whole dimension into one core, and $n = 1$ (a pixel-by-pixel input) gives all-ones modes.

# %%
for size in (29, 1):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        modes = shapes.auto_shape(size, 3)
    print(f"auto_shape({size}, 3) = {modes}:  {caught[0].category.__name__}: {caught[0].message}")
    assert caught[0].category is shapes.ShapeWarning

# %% [markdown]
# Ranks have a useful maximum too. Bond $k$ separates the modes before it from those after it, so
# $r_k \le \min(\prod_{l<k} m_l n_l,\; \prod_{l \ge k} m_l n_l)$ (`shapes.max_ranks`); above that the extra
# parameters are redundant. The paper's MNIST input layer, $28 \to 1024$ at $d = 4$, has modes
# $(1, 2, 2, 7) \times (4, 4, 8, 8)$: the first bond can use at most $1 \cdot 4 = 4$, so rank 8 is wasteful there.
# The library warns with a `RankWarning` and keeps the rank you asked for: it **never caps silently**.

# %%
m_28, n_1024 = shapes.auto_shape(28, 4), shapes.auto_shape(1024, 4)
print(f"useful ranks for {m_28}×{n_1024}: {shapes.max_ranks(m_28, n_1024)}")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    cores_28 = init.glorot(m_28, n_1024, 8, rng)  # 4 cores, ranks (1, 8, 8, 8, 1)
print(f"{caught[0].category.__name__}: {caught[0].message}")
print(ttmatrix.describe(cores_28))
assert caught[0].category is shapes.RankWarning and ttmatrix.ranks(cores_28) == (1, 8, 8, 8, 1)

# %% [markdown]
# ## Summary
#
# - A TT-matrix splits the row index into digits $(i_0, \dots, i_{d-1})$ and the column index into
#   $(j_0, \dots, j_{d-1})$ (C order, mode 0 most significant); core $k$ of shape $(r_k, m_k, n_k, r_{k+1})$
#   pairs $i_k$ with $j_k$, and $W[i,j]$ is a product of $d$ small matrices. Interleaving
#   $(m_0, n_0, m_1, n_1, \dots)$ turns it into an ordinary TT.
# - `from_dense` (interleave + TT-SVD) and `full` (chain + un-interleave) are exact inverses up to the
#   requested accuracy; a random matrix is not compressible.
# - $XW$ never needs $W$: sweep the cores left to right or right to left, carrying
#   $(B, n_{<k}, r_k, m_{\ge k})$ or its mirror. The two orders can differ by several times in FLOPs;
#   `ttmatmul.matmul` picks the cheaper one from `cost.matmul_flops`.
# - The FLOP break-even rank (`cost.break_even_rank`) is not the speed break-even: the TT chain runs at a
#   different BLAS throughput than one dense GEMM, so time only the real thing.
# - Initialize through `init.glorot`/`init.he`: $\sigma_\text{core} = (\sigma_\text{full}^2/\prod r_k)^{1/(2d)}$.
#   Dropping or misplacing the rank factor is off by $\sqrt{\prod r_k}$.
# - `auto_shape` picks the most balanced modes; primes, size 1 and ranks above the useful maximum warn.
#
# ## Exercises
#
# Each exercise has a stub and a `check` call that runs your function against the library: ✓, ✗ with a hint,
# or ○ while the stub is there. Solutions: `tutorials/solutions/tt_matrices.py` (try first).
#
# **Exercise 1 (one entry).** Write `my_entry(cores, i, j)`: the entry $W[i, j]$ of a TT-matrix from its cores,
# for any number of cores, by splitting $i$ and $j$ into digits and multiplying one slice of each core
# (section 1). The checker stops `ttmatrix.full` from working while it calls you.

# %%
def my_entry(cores, i, j):
    """W[i, j] = G_0[:, i_0, j_0, :] ⋯ G_{d−1}[:, i_{d−1}, j_{d−1}, :], a float."""
    # your code here
    raise NotImplementedError


check.entry(my_entry)

# %% [markdown]
# **Exercise 2 (the product, left to right).** Write `my_matmul(X, cores)`: $Y = XW$ of shape $(B, N)$ by the
# left-to-right sweep of section 3, carrying $Z[b, n_{<k}, r_k, m_k, m_{>k}]$. No `full`, no `ttmatmul`
# functions (the checker blocks them); `np.einsum` or `np.tensordot` and reshapes are all you need.

# %%
def my_matmul(X, cores):
    """X (B, M) times the TT-matrix W (M, N), left to right, never forming W."""
    # your code here
    raise NotImplementedError


check.matmul_one_order(my_matmul)

# %% [markdown]
# **Exercise 3 (the break-even rank).** Write `my_break_even_rank(m, n)`: add up the per-sample FLOPs of both
# sweeps with uniform rank $R$ (section 3's formulas) and return the smallest $R$ at which the cheaper one reaches
# $2MN$. The checker compares with `cost.break_even_rank` on five shapes. For the $256 \to 1024$ layer of
# section 5, which order is cheaper, and why? (The step that produces all $N$ outputs sums over $m_0$ in one
# order and over $m_{d-1}$ in the other.)

# %%
def my_break_even_rank(m, n):
    """The smallest uniform rank R whose cheaper contraction order needs ≥ 2MN FLOPs per sample."""
    # your code here
    raise NotImplementedError


check.break_even_rank(my_break_even_rank)
