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
# # 04 · Backpropagation through time with autograd
#
# Training a recurrent network needs the gradient of a loss that depends on the weights through every time
# step. **Backpropagation through time (BPTT)** is nothing but reverse-mode differentiation of the unrolled
# network. This notebook writes the unroll as a pure function, lets `autograd` differentiate it, checks the
# result against finite differences, compares the hand-derived derivative of the TT product with autograd's,
# and then watches gradients flow (or fade) through time on two long-range toy tasks, for a dense LSTM and a
# joint TT-LSTM. It ends with truncated BPTT and what it cannot learn.
#
# **Notation.** $b$ batch ($B$), $t$ time step ($T$ steps), $I$ input size, $H$ hidden size, $s_t = (h_t, c_t)$
# the LSTM state, $\theta$ all parameters, $d$ cores, $R$ rank, $K$ the truncation window. A bar is a
# derivative of the loss: $\bar{s}_t = \partial L / \partial s_t$.
#
# Inside functions that autograd differentiates we call NumPy through `autograd.numpy` (imported as `anp`);
# everywhere else plain `numpy` (`np`).

# %%
import os
import time

import autograd.numpy as anp
import matplotlib.pyplot as plt
import numpy as np
from autograd import grad, value_and_grad
from matplotlib.ticker import MaxNLocator

from checks import bptt as check  # the exercises' checkers (tutorials/checks/)
from ttrnn_np import cells, diagnostics, init, losses, optim, rnn, shapes, sizes, training, ttmatmul
from ttrnn_np.data import toy
from ttrnn_np.experiments.runtime import set_blas_threads
from ttrnn_np.experiments.timing import interleaved_times
from ttrnn_np.heads import HeadConfig
from ttrnn_np.pytree import tree_flatten, tree_leaves, tree_map, tree_unflatten

set_blas_threads(1)  # one BLAS thread: on a shared machine a second thread mostly waits for a core
FAST = os.environ.get("TTRNN_FAST") == "1"
T_add = 20 if FAST else 40  # adding problem: sequence length
H_add = 16 if FAST else 32  # hidden units of the toy models
epochs, steps_per_epoch = (4, 50) if FAST else (12, 50)  # training: epochs × batches
B_train = 64  # sequences per batch
T_copy, L_copy, K_copy = 20, 2, 7  # copy task: sequence length, string length, alphabet size
repeats = 10 if FAST else 30  # timing rounds
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The unrolled network is a pure function
#
# One LSTM step (tutorial 03) maps the previous state and the current input to the next state,
# $s_t = F_\theta(s_{t-1}, x_t)$ with $s_0 = 0$. A model with a head reads the last hidden state:
#
# $$\hat{y} = \mathrm{head}_\theta(h_T), \qquad L(\theta) = \ell(\hat{y}, y).$$
#
# Unrolled over $T$ steps this is one long composition of functions of $\theta$. Reverse-mode differentiation
# of it runs backwards through the steps:
#
# $$\bar{s}_T = \frac{\partial L}{\partial s_T}, \qquad
#   \bar{s}_{t-1} = \bar{s}_t \, \frac{\partial F_\theta(s_{t-1}, x_t)}{\partial s_{t-1}}, \qquad
#   \bar{\theta} = \sum_{t=1}^{T} \bar{s}_t \, \frac{\partial F_\theta(s_{t-1}, x_t)}{\partial \theta}.$$
#
# That is BPTT. $\bar{s}_t$ is a product of $T - t$ Jacobians, so it can shrink (or grow) geometrically as $t$
# moves away from the end: the vanishing-gradient problem. autograd derives all of this from the forward code,
# as long as the code is a pure function of $\theta$ that builds new arrays instead of writing into old ones.
#
# Here is the whole forward pass written out with `cells.step`: a loop that carries the state, a list instead of
# in-place writes, and a linear head. We compare it with the library's fast `rnn.forward` and differentiate
# both. The model is the one we train below, on the **adding problem** with $I = 2$ inputs per step.

# %%
def model_config(layout, hidden_size, input_size=2, out_size=1, rank=4):
    """An LSTM (dense or TT, d = 2) with a linear head; forget bias 1 helps long memories (docs/method.md §6)."""
    in_modes = None if layout == "dense" or input_size != 2 else (1, 2)  # 2 is prime: spell out auto_shape's modes
    cell = cells.CellConfig("lstm", layout, input_size, hidden_size, n_cores=2, rank=rank, forget_bias=1.0,
                            in_modes=in_modes)
    return rnn.ModelConfig(cell, head=HeadConfig("classify", out_size))


def forward_by_hand(config, params, X):
    """rnn.forward for one layer, step by step: X (B, T, I) → head output (B, K)."""
    cell, layer = config.cell, params["layers"][0]
    state = cells.zero_state(cell, X.shape[0], X.dtype)  # (h_0, c_0), each (B, H)
    for t in range(X.shape[1]):
        state = cells.step(cell, layer, X[:, t, :], state)  # (h_t, c_t), each (B, H)
    h_T = state[0]  # (B, H)
    (W_head,) = params["head"]["W"]  # a dense head is one core (1, H, K, 1)
    return anp.dot(h_T, W_head[0, :, :, 0]) + params["head"]["b"]  # (B, K)


def mse(prediction, y):
    """Mean squared error of a one-output head: prediction (B, 1), y (B,)."""
    return anp.mean((prediction[:, 0] - y) ** 2)


tt_config = model_config("joint", H_add)
tt_params = rnn.init_model(tt_config, rng)
X_demo, y_demo = toy.adding_problem(8, T_add, rng)  # (8, T, 2), (8,)

def loss_by_hand(p):
    return mse(forward_by_hand(tt_config, p, X_demo), y_demo)


def loss_fast(p):
    return mse(rnn.forward(tt_config, p, X_demo), y_demo)


L_hand, g_hand = value_and_grad(loss_by_hand)(tt_params)  # (), tree like params
L_fast, g_fast = value_and_grad(loss_fast)(tt_params)  # (), tree like params
flat_hand, flat_fast = tree_flatten(g_hand)[0], tree_flatten(g_fast)[0]  # {path: leaf} each
worst = max(np.abs(flat_hand[path] - flat_fast[path]).max() for path in flat_hand)
print(f"loss by hand {L_hand:.12f}, rnn.forward {L_fast:.12f};  max |gradient difference| {worst:.1e}")
print("gradient leaves:", {path: g.shape for path, g in flat_fast.items()})
assert np.isclose(L_hand, L_fast) and worst < 1e-12

# %% [markdown]
# The gradient has the same tree structure as the parameters: TT cores for $W_x$ and $W_h$, the bias, the
# head. `rnn.forward` is faster because it computes all input projections $x_t W_x$ in one product and runs the
# whole recurrence of a layer as one autograd primitive with hand-written BPTT (`ttrnn_np.layer`); the TT
# product is one primitive too (section 3). Both call the same gate equations (`cells.lstm_forward`), and the
# layer's backward pass calls their hand-written VJP (`cells.lstm_backward`). `rnn.forward(..., reference=True)`
# keeps the readable path, one `cells.step` per time step, which autograd records operation by operation. The
# numbers are the same.
#
# ## 2. Trust, but check: finite differences
#
# A gradient is only as good as its check. For each parameter leaf we pick a few entries $\theta_i$ and compare
# autograd's $\partial L/\partial \theta_i$ with the central difference
#
# $$\frac{L(\theta + \varepsilon e_i) - L(\theta - \varepsilon e_i)}{2\varepsilon}, \qquad \varepsilon = 10^{-6},$$
#
# whose error is $O(\varepsilon^2)$ plus rounding $O(10^{-16} L/\varepsilon)$: about $10^{-10}$ in float64, far below
# any real mistake. A tiny model keeps it fast. (Exercise 2 checks all parameters at once, along a direction.)

# %%
tiny = model_config("joint", 4, rank=2)
tiny_params = rnn.init_model(tiny, np.random.default_rng(1))  # {"layers": [...], "head": {...}}
X_tiny, y_tiny = toy.adding_problem(3, 6, np.random.default_rng(2))  # (3, 6, 2), (3,)


def loss_tiny(p):
    return mse(rnn.forward(tiny, p, X_tiny), y_tiny)


eps = 1e-6
flat, treedef = tree_flatten(tiny_params)  # {path: leaf}, structure
flat_g = tree_flatten(grad(loss_tiny)(tiny_params))[0]  # {path: leaf's gradient}
pick = np.random.default_rng(4)
errors = []  # (path, finite difference, autograd) for 3 entries of every leaf
for path, leaf in flat.items():
    for index in pick.choice(leaf.size, size=min(3, leaf.size), replace=False):
        step = np.zeros(leaf.size)  # (size,)
        step[index] = eps
        step = step.reshape(leaf.shape)  # leaf's shape
        plus = tree_unflatten(treedef, {**flat, path: leaf + step})  # tree like params
        minus = tree_unflatten(treedef, {**flat, path: leaf - step})  # tree like params
        errors.append((path, (loss_tiny(plus) - loss_tiny(minus)) / (2 * eps), flat_g[path].ravel()[index]))
worst_abs = max(abs(fd - exact) for _, fd, exact in errors)
for path, fd, exact in errors[::4]:
    print(f"{path:>16}: finite difference {fd: .10f}, autograd {exact: .10f}")
print(f"{len(errors)} entries: max |finite difference − autograd| = {worst_abs:.1e}")
assert worst_abs < 1e-8


# %% [markdown]
# ## 3. The TT product: a hand-derived derivative versus autograd's own
#
# Every step multiplies the state by $W_h$, a TT-matrix, without forming it (tutorial 02): a sweep of $d$
# small products. autograd can differentiate that sweep as written, recording every reshape and product on its
# tape. `ttmatmul.matmul` instead is **one** autograd primitive with a derivative worked out by hand (the
# derivation is in the `ttmatmul` module docstring). For $Y = XW$ with $\bar{Y} = \partial L / \partial Y$:
#
# $$\bar{X} = \bar{Y} W^\top, \qquad
#   \bar{G}_k = \sum \big(\text{$X$ carried through the cores } < k\big) \otimes
#   \big(\text{$\bar{Y}$ carried back through the cores } > k\big),$$
#
# where $W^\top$ is again a TT-matrix (each core transposed), so one backward sweep of $\bar Y$ through $W^\top$
# gives $\bar X$ and, on the way, every partial product that the core gradients need. Backward costs twice the
# forward FLOPs, as for a dense layer. Three routes to the same gradient, on the $H \to 4H$ matrix of the
# paper's cell ($256 \to 1024$, $d = 3$, $R = 4$):
#
# * `matmul`: the primitive with the hand-derived VJP;
# * `matmul_sweep`: the readable sweep, differentiated by autograd operation by operation;
# * `matmul_reference`: $X \cdot \mathrm{full}(W)$, differentiated by autograd (forms $W$; the obvious truth).

# %%
m_v, n_v = shapes.auto_shape(256, 3), shapes.auto_shape(1024, 3)  # (4, 8, 8), (8, 8, 16)
cores_v = init.glorot(m_v, n_v, 4, rng)  # [(1, 4, 8, 4), (4, 8, 8, 4), (4, 8, 16, 1)]
X_v = rng.standard_normal((32, 256))  # (B, M)
C_v = rng.standard_normal((32, 1024))  # (B, N) fixed weights of a scalar test loss
routes = {"matmul (hand VJP)": ttmatmul.matmul, "matmul_sweep (autograd)": ttmatmul.matmul_sweep,
          "matmul_reference (autograd)": ttmatmul.matmul_reference}


def loss_and_grad_of(product, C):
    """value_and_grad of the test loss Σ C ⊙ product(X, cores) with respect to the pair (X, cores)."""
    return value_and_grad(lambda args: anp.sum(C * product(args[0], args[1])))


results = {}
for name, product in routes.items():
    value, (X_bar, cores_bar) = loss_and_grad_of(product, C_v)((X_v, cores_v))  # (B, M), [(r_k, m_k, n_k, r_k+1)]
    results[name] = (value, X_bar, cores_bar)
value_0, X_bar_0, cores_bar_0 = results["matmul_reference (autograd)"]
for name, (value, X_bar, cores_bar) in results.items():
    diff = max([np.abs(X_bar - X_bar_0).max()] + [np.abs(a - b).max() for a, b in zip(cores_bar, cores_bar_0)])
    print(f"{name:>28}: value {value:12.6f}, max |gradient − reference| {diff:.1e}")
    assert np.isclose(value, value_0) and diff < 1e-9

# %% [markdown]
# All three agree to rounding error. Now the cost of one forward + backward pass. The machine may be busy with
# other work, so the routes take turns, round after round, and we report the median and the fastest round of
# each. Two sizes: the paper's $W_h$ above (batch 32), and the small $W_h$ of the toy models below
# ($16 \to 64$, $d = 2$, $R = 4$, batch 64), where each product is tiny and autograd's bookkeeping per traced
# operation is a large part of the cost.

# %%
cores_small = init.glorot((4, 4), (8, 8), 4, rng)  # [(1, 4, 8, 4), (4, 4, 8, 1)]
X_small, C_small = rng.standard_normal((64, 16)), rng.standard_normal((64, 64))  # (B, M), (B, N)
cases = {"256 → 1024, d = 3, R = 4, B = 32": (X_v, cores_v, C_v),
         "16 → 64, d = 2, R = 4, B = 64": (X_small, cores_small, C_small)}
saving = {}
for label, (X_t, cores_t, C_t) in cases.items():
    functions = {name: (lambda f=loss_and_grad_of(routes[name], C_t), X_t=X_t, cores_t=cores_t: f((X_t, cores_t)))
                 for name in list(routes)[:2]}
    hand, traced = interleaved_times(functions, repeats).values()  # {"median", "min", …} each
    saving[label] = {stat: 1 - hand[stat] / traced[stat] for stat in ("median", "min")}
    print(f"{label}: hand VJP median {hand['median'] * 1e3:.3f} ms (fastest {hand['min'] * 1e3:.3f}), traced "
          f"median {traced['median'] * 1e3:.3f} ms (fastest {traced['min'] * 1e3:.3f})")
    print(f"    the primitive saves {100 * saving[label]['median']:.0f} % of the traced time (medians), "
          f"{100 * saving[label]['min']:.0f} % (fastest rounds)")
reference_grad = loss_and_grad_of(ttmatmul.matmul_reference, C_v)
reference = interleaved_times({"reference": lambda: reference_grad((X_v, cores_v))}, max(3, repeats // 3))
print(f"256 → 1024 through X·full(W): median {reference['reference']['median'] * 1e3:.1f} ms")
big, small = (saving[label]["min"] for label in cases)
print(f"fastest rounds: the saving is {'smaller' if big < small else 'larger'} at the paper's size than at the toy size")

# %% [markdown]
# The hand-derived primitive records one tape entry instead of about three per core and reuses the forward
# sweep's partial products. How much that saves depends on how much of the time is BLAS work, which both routes
# share: the more of it, the smaller the share that bookkeeping can save. The printout gives this run's numbers;
# on a busy machine the medians jitter (other jobs stretch some rounds), and the fastest rounds are the cleaner
# comparison.
# Differentiating $X \cdot \mathrm{full}(W)$ is far slower: it forms the dense matrix and its gradient, which the TT
# layouts exist to avoid. Inside an LSTM the product runs at every time step, so the savings add up over $T$.
#
# ## 4. Two long-range toy tasks
#
# `ttrnn_np.data.toy` generates two classic tests of memory (see its docstring):
#
# * **adding problem**: each step shows a value $v_t \sim U(0,1)$ and a marker $m_t \in \{0, 1\}$; one marked step
#   lies in the first half, one in the second; the target is the sum of the two marked values. Always
#   answering 1 gives mean squared error $1/6$; knowing only the second value leaves $1/12$.
# * **copy task** (recall form): the first $L$ steps show symbols from an alphabet of $K$, the rest are blank; at
#   the end the model must name the whole string. Guessing costs $\ln K$ nats per symbol.

# %%
X_a, y_a = toy.adding_problem(4, 12, np.random.default_rng(5))  # (4, 12, 2), (4,)
print("adding problem, one sequence (value, marker) per step:")
print(np.round(X_a[0].T, 2))
print(f"target y = {y_a[0]:.4f} = sum of the marked values\n")
X_c, y_c = toy.copy_task(4, 8, 2, 3, np.random.default_rng(5))  # (4, 8, 4), (4, 2)
print("copy task, one sequence as symbol indices (3 = blank):", np.argmax(X_c[0], axis=1), "→ target", y_c[0])

# %% [markdown]
# ## 5. Gradient flow through time, at initialization
#
# `diagnostics.state_grad_norms` measures $\lVert \partial L / \partial h_t \rVert$ for every step in one
# backward pass (it adds zero arrays to each $h_t$ and reads their gradients). For a dense LSTM and a joint
# TT-LSTM with the same hidden size, on one batch of the adding problem:

# %%
configs = {"dense": model_config("dense", H_add), "joint TT": model_config("joint", H_add)}
X_val, y_val = toy.adding_problem(512, T_add, np.random.default_rng(10))  # (512, T, 2), (512,)
X_probe, y_probe = X_val[:128], y_val[:128]  # (128, T, 2), (128,)
initial = {name: rnn.init_model(config, np.random.default_rng(20)) for name, config in configs.items()}
norms_init = {name: diagnostics.state_grad_norms(config, initial[name], X_probe,
                                                 lambda out: mse(out, y_probe))["h"][0]  # (T,)
              for name, config in configs.items()}
for name, config in configs.items():
    s = sizes.model_sizes(config)
    decay = norms_init[name][-1] / norms_init[name][0]
    print(f"{name:>8}: {s['total']:,} parameters; ‖∂L/∂h_t‖ shrinks {decay:.1e}× from t = T to t = 1")

# %% [markdown]
# At initialization both models forget fast: the gradient reaching the first steps is orders of magnitude
# smaller than at the end, so the first marked value, always in the first half, barely influences the update.
# Training has to open up that path (the forget gates must learn to stay near 1).
#
# ## 6. Training on the adding problem
#
# `training.fit` runs the loop: value and gradient, global-norm clipping (at 1), an Adam step. Each "epoch" is
# a number of freshly generated batches; after each one we measure the validation MSE on a fixed set.

# %%
def adding_loss(config):
    return lambda params, batch: mse(rnn.forward(config, params, batch[0]), batch[1])


def adding_batches(epoch, rng):
    return [toy.adding_problem(B_train, T_add, rng) for _ in range(steps_per_epoch)]


fits = {}
for name, config in configs.items():
    loss_fn = adding_loss(config)
    start = time.perf_counter()
    fits[name] = training.fit(loss_fn, initial[name], adding_batches, epochs=epochs, lr=1e-2, clip=1.0,
                              evaluate=lambda p, loss_fn=loss_fn: {"val_mse": loss_fn(p, (X_val, y_val))},
                              select_metric="val_mse", mode="min", seed=30, progress=False)
    history = fits[name].history["epochs"]
    print(f"{name:>8}: val MSE per epoch " + " ".join(f"{e['val_mse']:.3f}" for e in history)
          + f"   ({time.perf_counter() - start:.0f} s)")

# %%
def smooth(values, width=10):
    """Running mean over `width` steps (shorter at the start)."""
    values = np.asarray(values)  # (steps,)
    cumulative = np.cumsum(np.insert(values, 0, 0.0))  # (steps + 1,)
    lo = np.maximum(np.arange(1, len(values) + 1) - width, 0)  # (steps,)
    return (cumulative[1:] - cumulative[lo]) / (np.arange(1, len(values) + 1) - lo)  # (steps,)


colors = {"dense": "k", "joint TT": "tab:blue"}
fig, (ax_loss, ax_norm) = plt.subplots(1, 2, figsize=(11, 3.8))
for name, result in fits.items():
    steps = result.history["steps"]
    ax_loss.semilogy(smooth(steps["loss"]), color=colors[name], label=f"{name} (train, smoothed)")
    ax_norm.semilogy(smooth(steps["grad_norm"]), color=colors[name], label=name)
ax_loss.axhline(1 / 6, color="0.5", ls="--", label="always 1: MSE 1/6")
ax_loss.axhline(1 / 12, color="0.5", ls=":", label="second value only: 1/12")
ax_loss.set_xlabel("training step")
ax_loss.set_ylabel("mean squared error")
ax_loss.set_title(f"adding problem, T = {T_add}, H = {H_add}", fontsize=10)
ax_loss.legend(fontsize=8)
ax_norm.set_xlabel("training step")
ax_norm.set_ylabel("global gradient norm (before clipping)")
ax_norm.set_title("gradient norm during training", fontsize=10)
ax_norm.legend(fontsize=8)
fig.tight_layout()

for name, result in fits.items():
    losses_seen = result.history["steps"]["loss"]
    assert np.mean(losses_seen[-20:]) < np.mean(losses_seen[:20]), name

# %% [markdown]
# Both models start at the "always answer 1" plateau of MSE 1/6 and stay there for a while: the first marked
# value is out of the gradient's reach. Then they break through, below the 1/12 line that marks "uses only the
# second value", and the gradient norm rises as the error signal starts to travel. The TT model has a fraction
# of the dense model's parameters. Now the same gradient norms through time, after training:

# %%
trained = {name: result.params for name, result in fits.items()}  # {name: tree like params}
norms_trained = {name: diagnostics.state_grad_norms(config, trained[name], X_probe,
                                                    lambda out: mse(out, y_probe))["h"][0]  # (T,)
                 for name, config in configs.items()}

fig, ax = plt.subplots(figsize=(6.5, 4))
steps_t = np.arange(1, T_add + 1)
for name in configs:
    ax.semilogy(steps_t, norms_init[name], color=colors[name], ls="--", label=f"{name}, initialization")
    ax.semilogy(steps_t, norms_trained[name], color=colors[name],
                label=f"{name}, after {epochs * steps_per_epoch} steps")
ax.axvline(T_add // 2 + 0.5, color="0.6", lw=0.8)
ax.text(T_add // 2 + 0.7, ax.get_ylim()[0] * 2, "first marker ← | → second marker", fontsize=8, color="0.4")
ax.set_xlabel("time step t")
ax.xaxis.set_major_locator(MaxNLocator(integer=True))
ax.set_ylabel("$\\|\\partial L / \\partial h_t\\|$")
ax.set_title("gradient flow through time, adding problem", fontsize=10)
ax.legend(fontsize=8)
fig.tight_layout()
for name in configs:
    ratios = [norms[name][0] / norms[name][-1] for norms in (norms_init, norms_trained)]
    print(f"{name:>8}: ‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ at initialization {ratios[0]:.1e}, after training {ratios[1]:.1e}")

# %% [markdown]
# After training the profile is nearly flat: the gradient at $t = 1$ is now a sizeable fraction of the gradient
# at $t = T$, where at initialization it was a tiny one (the dashed curves, ratios printed above). The forget
# gates have learned to keep the cell state, and the path that carries the first value forward carries its error
# signal back. (The curves also sit lower at $t = T$ after training simply because the loss is much smaller.)
#
# ## 7. Truncated BPTT
#
# Full BPTT stores every step of the forward pass for the backward pass: memory grows with $T$. **Truncated
# BPTT** cuts the sequence into windows of $K$ steps, runs the windows before the last one forward only (no
# tape), hands the state on as a plain array, and differentiates only the last window (here $K$ divides $T$;
# otherwise the last window is the remainder):
#
# $$\bar{\theta}_K = \sum_{t > T - K} \bar{s}_t \, \frac{\partial F_\theta(s_{t-1}, x_t)}{\partial \theta}
#   \quad\text{with } s_{T-K} \text{ treated as a constant.}$$
#
# `rnn.truncated_bptt(config, params, X, K)` returns the model output with the gradient cut this way; use it
# inside the loss. With $K \ge T$ it is full BPTT, exactly:

# %%
def tt_loss(out):
    return mse(out, y_probe)


full_value, full_grads = value_and_grad(lambda p: tt_loss(rnn.forward(tt_config, p, X_probe)))(tt_params)  # (), tree
for K in (T_add, T_add // 2):
    value_K, grads_K = value_and_grad(lambda p: tt_loss(rnn.truncated_bptt(tt_config, p, X_probe, K)))(tt_params)
    gap = max(np.abs(a - b).max() for a, b in zip(tree_flatten(grads_K)[0].values(),
                                                     tree_flatten(full_grads)[0].values()))
    print(f"window K = {K:>2}: loss {value_K:.10f} (full {full_value:.10f}), max |gradient − full BPTT| {gap:.1e}")
    if K == T_add:
        assert np.isclose(value_K, full_value) and gap < 1e-12
    else:
        assert np.isclose(value_K, full_value) and gap > 1e-6

# %% [markdown]
# The loss is the same for any window (the forward pass is complete); only the gradient changes. What does the
# missing part cost? On the **copy task** the string sits in the first $L$ steps and the answer is due at step
# $T$. With $K = T/2$ the window never contains a symbol, so no gradient tells the network to store one. We
# train the joint TT-LSTM with full BPTT and with $K = T/2$, by hand this time: `truncated_bptt` for the
# gradient, `optim.clip_by_global_norm`, `optim.adam_step`.

# %%
def train_copy(window, steps, seed=40, lr=2e-2):
    """Train a joint TT-LSTM on the copy task with truncated BPTT (window ≥ T: full); return per-step losses."""
    config = model_config("joint", H_add, input_size=K_copy + 1, out_size=L_copy * K_copy)
    params = rnn.init_model(config, np.random.default_rng(seed))  # {"layers": [...], "head": {...}}
    state = optim.adam_init(params)  # {"t", "m", "v"}
    data = np.random.default_rng(seed + 1)
    history = []
    for _ in range(steps):
        X, y = toy.copy_task(B_train, T_copy, L_copy, K_copy, data)  # (B, T, K+1), (B, L)

        def loss_fn(out, y=y):
            logits = anp.reshape(out, (-1, L_copy, K_copy))  # (B, L, K)
            return losses.softmax_cross_entropy(logits, y)

        value, grads = value_and_grad(lambda p: loss_fn(rnn.truncated_bptt(config, p, X, window)))(params)
        grads, _ = optim.clip_by_global_norm(grads, 1.0)  # tree like params
        params, state = optim.adam_step(params, grads, state, lr)  # trees like params
        history.append(float(value))
    return np.array(history)  # (steps,)


copy_steps = epochs * steps_per_epoch
copy_runs = {}
for window in (T_copy, T_copy // 2):
    start = time.perf_counter()
    copy_runs[window] = train_copy(window, copy_steps)
    print(f"window {window:>2}: loss {copy_runs[window][:20].mean():.3f} → {copy_runs[window][-20:].mean():.3f} "
          f"(chance ln {K_copy} = {np.log(K_copy):.3f}; {time.perf_counter() - start:.0f} s)")

# %% [markdown]
# The same comparison on the adding problem, whose second marked value always lies in the last $T/2$ steps:

# %%
adding_truncated = {}
for window in (T_add, T_add // 2):
    config = configs["joint TT"]
    params, state = initial["joint TT"], optim.adam_init(initial["joint TT"])  # trees
    data = np.random.default_rng(50)
    for _ in range(copy_steps):
        X, y = toy.adding_problem(B_train, T_add, data)  # (B, T, 2), (B,)
        grads = grad(lambda p, y=y: mse(rnn.truncated_bptt(config, p, X, window), y))(params)  # tree like params
        grads, _ = optim.clip_by_global_norm(grads, 1.0)  # tree like params
        params, state = optim.adam_step(params, grads, state, 1e-2)  # trees like params
    adding_truncated[window] = float(mse(rnn.forward(config, params, X_val), y_val))
    print(f"adding problem, window {window:>2}: validation MSE {adding_truncated[window]:.4f}")

# %%
fig, ax = plt.subplots(figsize=(6.5, 4))
for window, history in copy_runs.items():
    label = "full BPTT" if window >= T_copy else f"truncated, K = {window}"
    ax.plot(smooth(history), label=label)
ax.axhline(np.log(K_copy), color="0.5", ls="--", label=f"chance, ln {K_copy}")
ax.set_xlabel("training step")
ax.set_ylabel("cross-entropy per symbol (smoothed)")
ax.set_title(f"copy task: recall {L_copy} of {K_copy} symbols after T = {T_copy} steps (joint TT-LSTM)",
             fontsize=10)
ax.legend(fontsize=8)
fig.tight_layout()

full_run, truncated_run = copy_runs[T_copy], copy_runs[T_copy // 2]
assert full_run[-20:].mean() < np.log(K_copy) - 0.1  # full BPTT learned something
assert abs(truncated_run[-20:].mean() - np.log(K_copy)) < 0.05  # the short window did not

# %% [markdown]
# With the window too short, the copy-task loss never leaves chance: nothing inside the window depends on the
# symbols, so the gradient carries no information about them. Full BPTT learns. The adding problem tells a
# subtler story: truncated BPTT learns it too, nearly as well. The window always contains the *second* marked
# value, and the mechanism it teaches ("when the marker is on, add the value into the cell state and keep it")
# is applied by the same shared weights to the first marked value, outside the window. Truncated BPTT cannot
# learn a dependency that only exists beyond the window, but weight sharing lets it reuse what it learns inside.
#
# ## Summary
#
# - BPTT is reverse-mode differentiation of the unrolled network; written as a pure function (state carried
#   in a loop, lists instead of in-place writes), `autograd.value_and_grad` gives it for free.
# - Central finite differences in float64 confirm the gradients to ~1e-9 relative.
# - The TT product's hand-derived VJP agrees with autograd's derivative of the readable sweep and of
#   $X \cdot \mathrm{full}(W)$ to rounding error, with one tape entry per product instead of a chain.
# - At initialization $\lVert \partial L/\partial h_t \rVert$ decays by orders of magnitude over a few dozen steps,
#   for dense and TT alike; training on the adding problem opens up the path, and both the dense and the joint
#   TT-LSTM solve it.
# - Truncated BPTT with $K = T$ is full BPTT; with a shorter window it cannot learn what is only visible
#   beyond the window (copy task), though shared weights can transfer a mechanism learned inside it (adding).
#
# ## Exercises
#
# Each exercise has a stub and a `check` call that runs your function against the library: ✓, ✗ with a hint,
# or ○ while the stub is there. Solutions: `tutorials/solutions/bptt.py` (try first).
#
# **Exercise 1 (BPTT by hand).** For a vanilla RNN $h_t = \tanh(h_{t-1} U + x_t V)$, $h_0 = 0$, with loss
# $L = \sum_b \sum_u h_T[b, u]$, the backward recursion is $\bar h_T = 1$,
# $\bar a_t = \bar h_t \odot (1 - h_t^2)$, $\bar h_{t-1} = \bar a_t U^\top$, and
# $\bar U = \sum_t h_{t-1}^\top \bar a_t$. Write `my_vanilla_bptt(U, V, X)` returning $\bar U$ (H, H) with plain
# NumPy: a forward loop that keeps the states, then the backward loop. The checker compares with autograd.

# %%
def my_vanilla_bptt(U, V, X):
    """Ū = ∂L/∂U (H, H) for L = Σ h_T; U (H, H), V (I, H), X (B, T, I)."""
    # your code here
    raise NotImplementedError


check.vanilla_bptt(my_vanilla_bptt)

# %% [markdown]
# **Exercise 2 (a gradient check along a direction).** Section 2 checked single entries. One check can cover
# every parameter at once: for a random direction $v$ (a tree shaped like $\theta$),
# $\frac{d}{d\alpha} L(\theta + \alpha v)\big|_0 = \langle \bar\theta, v\rangle$, and the left side is a central
# difference. Write `my_central_difference(loss, params, v, eps)` returning
# $(L(\theta + \varepsilon v) - L(\theta - \varepsilon v)) / 2\varepsilon$; `pytree.tree_map(f, a, b)` maps over two
# trees at once. The checker compares with BPTT's $\langle \bar\theta, v\rangle$ for a joint TT-LSTM, and on a
# quartic where a one-sided difference is visibly less accurate. Then use your function below to check the
# gradient of the copy-task loss of a tiny joint TT-**GRU**.

# %%
def my_central_difference(loss, params, v, eps):
    """The derivative of loss along v at params, by a central difference with step eps."""
    # your code here
    raise NotImplementedError


if check.central_difference(my_central_difference):
    gru = rnn.ModelConfig(cells.CellConfig("gru", "joint", 4, 4, n_cores=2, rank=2),
                          head=HeadConfig("classify", 2 * 3))
    gru_params = rnn.init_model(gru, np.random.default_rng(6))  # {"layers": [...], "head": {...}}
    X_g, y_g = toy.copy_task(5, 6, 2, 3, np.random.default_rng(7))  # (5, 6, 4), (5, 2)

    def loss_gru(p):
        logits = anp.reshape(rnn.forward(gru, p, X_g), (-1, 2, 3))  # (B, L, K)
        return losses.softmax_cross_entropy(logits, y_g)

    v_g = tree_map(lambda p: rng.standard_normal(p.shape), gru_params)  # tree like gru_params
    exact_gru = sum(np.sum(g * d) for g, d in zip(tree_leaves(grad(loss_gru)(gru_params)), tree_leaves(v_g)))
    print(f"GRU copy loss along v: yours {my_central_difference(loss_gru, gru_params, v_g, 1e-6):.10f}, "
          f"BPTT {exact_gru:.10f}")
