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
# # 08 · Where the time goes: FLOPs, BLAS and the autograd tape
#
# A training step of a recurrent network costs three kinds of time: **arithmetic** (FLOPs, done by BLAS at some
# fraction of the machine's peak), **memory traffic** (point-wise gate equations touch every number once or
# twice and do almost no arithmetic), and **bookkeeping** (Python, and autograd's tape: every traced NumPy call
# records a node, ~25 µs forward + backward). This notebook counts the FLOPs of an LSTM step, measures how fast
# they run, shows what the tape costs, and explains the whole-layer primitive `ttrnn_np.layer` that removes it.
#
# **Notation.** $b$ batch ($B$), $t$ time ($T$ steps), $I$ input size, $H$ hidden size, $G = 4$ gates, $d$ TT
# cores, $R$ rank, $m_k, n_k$ row and column modes. $\bar{A} = \partial L / \partial A$.

# %%
import os
import pathlib
import time

import autograd
import autograd.numpy as anp
import matplotlib.pyplot as plt
import numpy as np

from ttrnn_np import cells, cost, losses, rnn
from ttrnn_np.experiments.runtime import set_blas_threads, tune_malloc
from ttrnn_np.heads import HeadConfig

tune_malloc()  # keep freed memory in the process: fresh pages cost page faults (benchmarks/README.md)
set_blas_threads(1)  # one BLAS thread: on a busy machine, a second thread mostly waits for a core

FAST = os.environ.get("TTRNN_FAST") == "1"
B, T, I, H = (32, 8, 28, 64) if FAST else (128, 28, 28, 256)  # row-MNIST is B = 128, T = 28, I = 28, H = 256
d, R = 3, 4  # joint TT-LSTM
repeats = 3 if FAST else 9  # timing rounds
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Counting FLOPs
#
# One LSTM step makes the pre-activations $A_t = x_t W_x + h_{t-1} W_h + b$, $W_x$ ($I, GH$), $W_h$ ($H, GH$):
# $2B(I + H)GH$ FLOPs for the two dense products, and about $10\,BGH$ for the point-wise equations. For
# training, the backward pass costs two more products of each kind (the input cotangent $\bar{A} W^\top$ and
# the weight gradient $h^\top \bar{A}$), so a training step is $\approx 3\times$ the forward FLOPs.
#
# In the joint TT layout the products $x W$ become TT products whose FLOPs per row are
# $\min(\sum_k 2 r_k r_{k+1} N_{\le k} M_{\ge k},\ \sum_k 2 r_k r_{k+1} M_{\le k} N_{\ge k})$ (`cost.matmul_flops`).

# %%
cell_tt = cells.CellConfig("lstm", "joint", I, H, n_cores=d, rank=R)
G = 4


def lstm_flops(layout_flops_x, layout_flops_h):
    """FLOPs of a forward pass over T steps: the two products per row plus ~10 point-wise FLOPs per gate unit."""
    return T * B * (layout_flops_x + layout_flops_h + 10 * G * H)


dense_fwd = lstm_flops(2 * I * G * H, 2 * H * G * H)
((m_x, n_x),), ((m_h, n_h),) = cell_tt.weight_shapes["W_x"], cell_tt.weight_shapes["W_h"]  # one block each
tt_fwd = lstm_flops(cost.matmul_flops(m_x, n_x, R)["best"], cost.matmul_flops(m_h, n_h, R)["best"])
print(f"forward FLOPs over T={T}: dense {dense_fwd / 1e6:.0f} M, joint TT d={d} R={R} {tt_fwd / 1e6:.1f} M "
      f"({dense_fwd / tt_fwd:.1f}× fewer)")
print(f"training step ≈ 3× that: dense {3 * dense_fwd / 1e9:.2f} GFLOP")

# %% [markdown]
# ## 2. Two unrolls of one layer
#
# `rnn.forward(..., reference=True)` unrolls step by step with the readable `cells.step`: every product and
# every point-wise operation of every step is recorded by autograd (a few dozen tape nodes per step), and the
# weight gradient $\bar{W}_h$ is accumulated as $T$ small products. `rnn.forward` (the default) calls `layer.run`: the whole recurrence is **one** primitive. Its
# forward loop runs in plain NumPy and keeps the gate activations, $c_t$ and $h_t$; its backward pass is BPTT
# written out by hand (`ttrnn_np/layer.py`),
#
# $$\bar{c} = \hat{c} + \bar{h}\, o\,(1 - \tanh^2 c_t),\quad
#   \bar{A}_t = [\bar{c}\, g\, i(1-i) \mid \bar{c}\, c_{t-1} f(1-f) \mid \bar{c}\, i(1-g^2) \mid \bar{h} \tanh(c_t)\, o(1-o)],$$
# $$\hat{c} \leftarrow \bar{c} f, \qquad \hat{h} \leftarrow \bar{A}_t W_h^\top,$$
#
# and the weight gradient is **one** product over all $T \cdot B$ rows at the end,
# $\bar{W}_h = [h_0; \dots; h_{T-1}]^\top [\bar{A}_1; \dots; \bar{A}_T]$ for a dense $W_h$ (for TT the core
# gradients come step by step, from the same VJP of the TT product that gives $\bar{A}_t W_h^\top$).
# Both paths give the same numbers:

# %%
def model(layout, dtype="float32"):
    kw = {} if layout == "dense" else {"n_cores": d, "rank": R}
    config = rnn.ModelConfig(cells.CellConfig("lstm", layout, I, H, **kw), head=HeadConfig("classify", 10))
    return config, rnn.init_model(config, np.random.default_rng(1), dtype)


X = rng.standard_normal((B, T, I)).astype("float32")  # (B, T, I)
y = rng.integers(0, 10, B)  # (B,)


def train_step(config, traced):
    return autograd.value_and_grad(lambda p: losses.softmax_cross_entropy(
        rnn.forward(config, p, X, reference=traced), y))


config_tt, params_tt = model("joint")
loss_layer, g_layer = train_step(config_tt, False)(params_tt)
loss_traced, g_traced = train_step(config_tt, True)(params_tt)
worst = max(np.abs(a - b).max() for a, b in zip(g_layer["layers"][0]["W_h"][0], g_traced["layers"][0]["W_h"][0]))
print(f"loss {loss_layer:.6f} vs {loss_traced:.6f}; max |ΔW̄_h| = {worst:.1e}; "
      f"dtype {g_layer['layers'][0]['b'].dtype}")
assert abs(loss_layer - loss_traced) < 1e-5 and worst < 1e-4

# %% [markdown]
# ## 3. Measuring: time, GFLOP/s, tape
#
# We time a training step of each model on each path, interleaved (round after round, so a busy machine slows all
# of them alike), and divide the FLOPs by the median time. The clock is the process's CPU time
# (`time.process_time`): with one thread it is the cost of the call, even when other jobs share the cores.

# %%
def interleaved(fns, rounds):
    samples = {name: [] for name in fns}
    for fn in fns.values():
        fn()  # warm-up
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.process_time()
            fn()
            samples[name].append(time.process_time() - start)
    return {name: float(np.median(values)) for name, values in samples.items()}


config_dense, params_dense = model("dense")
steps = {("dense", False): (train_step(config_dense, False), params_dense),
         ("dense", True): (train_step(config_dense, True), params_dense),
         ("joint", False): (train_step(config_tt, False), params_tt),
         ("joint", True): (train_step(config_tt, True), params_tt)}
times = interleaved({key: (lambda f=f, p=p: f(p)) for key, (f, p) in steps.items()}, repeats)
for (layout, traced), seconds in times.items():
    flops = 3 * (dense_fwd if layout == "dense" else tt_fwd)
    print(f"{layout:5s} {'traced' if traced else 'layer ':6s} {1e3 * seconds:8.1f} ms  "
          f"{flops / seconds / 1e9:6.2f} GFLOP/s")
tape_per_step = {layout: (times[(layout, True)] - times[(layout, False)]) / T for layout in ("dense", "joint")}
print("traced − layer, per time step (ms):", {k: round(1e3 * v, 3) for k, v in tape_per_step.items()})

# %% [markdown]
# The dense model does the most FLOPs and runs at a good fraction of BLAS's rate: its time *is* arithmetic. On the
# traced path it also pays for the tape and for $T$ small weight-gradient products instead of one large one; the
# layer primitive removes both. The TT model does fewer FLOPs at a much lower rate (chains of small products); its
# backward pass is one VJP of the TT product per step on both paths (that VJP gives $\bar{A}_t W_h^\top$ and the
# step's core gradients from one sweep), so here the primitive saves mostly tape — and memory: it stores the gates,
# $c_t$ and $h_t$ instead of every traced intermediate (`bench_memory.py`: 4.3 GB → 1.7 GB for a pixel-MNIST step).
#
# ## 4. The measured benchmark
#
# `benchmarks/bench_lstm.py` measures this at full size, with `torch.nn.LSTM` as a reference, and
# `benchmarks/bench_memory.py` the peak memory of full BPTT against $T$ (see `benchmarks/README.md`). The
# results it committed are drawn below when the file is there.

# %%
quiet = "results/bench/quiet"  # the quiet-machine run: python -m benchmarks.run_all --out-dir results/bench/quiet
results = next((p for p in (pathlib.Path("..", quiet, "lstm.json"), pathlib.Path(quiet, "lstm.json"))
                if p.exists()), None)
if results is not None:
    import json
    rows = [row for row in json.loads(results.read_text())["rows"] if row["dtype"] == "float32"
            and row["scope"] == "sequence" and row["threads"] == 1]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, size in zip(axes, ("row", "large")):
        chosen = [row for row in rows if row["size"] == size]
        labels = [f"{row['model']} ({row['mode']})" for row in chosen]
        ax.barh(labels, [row["median_ms"] for row in chosen],
                color=["tab:orange" if "torch" in label else "tab:blue" for label in labels])
        ax.set_xlabel("median CPU ms per call, float32, 1 thread")
        ax.set_title(f"{size} size")
    fig.tight_layout()
else:
    print(f"{quiet}/lstm.json not found: python -m benchmarks.run_all --out-dir {quiet}")

# %% [markdown]
# ## 5. The TT product against the dense one, rank by rank
#
# The same question for one product $Y = XW$ ($B = 128$, $N \times N$): `benchmarks/bench_ttmatmul.py` times the
# TT product for $d = 2, 3, 4$ cores and ranks 1–16 against the dense `X @ W`, and draws the cost model's
# prediction next to it (dashed: the dense time scaled by the FLOP ratio). Where a solid line crosses the grey
# dense line is the *measured* break-even rank (star); the FLOP count predicts the circle. The stars sit at or left
# of the circles: a chain of $d$ small products runs at a lower rate than one large GEMM, so FLOP savings
# overstate time savings, most at small $N$. Made by
# `python -m benchmarks.run_all --out-dir results/bench/quiet` (which also runs the other benchmarks).

# %%
figure = next((p for p in (pathlib.Path("..", quiet, "ttmatmul_vs_rank.png"), pathlib.Path(quiet, "ttmatmul_vs_rank.png"))
               if p.exists()), None)
if figure is not None:
    image = plt.imread(figure)  # (height, width, 4) RGBA
    fig, ax = plt.subplots(figsize=(14, 4.6))
    ax.imshow(image)
    ax.axis("off")
else:
    print(f"{quiet}/ttmatmul_vs_rank.png not found: run the command above")

# %% [markdown]
# ## Summary
#
# * Count FLOPs first (`cost.matmul_flops`): a training step is ≈ 3× the forward FLOPs, dense or TT.
# * Dense steps are arithmetic-bound; TT steps at these sizes are bound by the rate of small products and by
#   per-call bookkeeping, so the measured break-even rank sits at or below the FLOP prediction.
# * autograd records every traced call; making a whole layer one primitive with hand-written BPTT removes the
#   per-step tape and turns $T$ small weight-gradient products into one.
#
# ## Exercises
#
# 1. The GRU has $G = 3$ gates. Write the dense forward FLOPs of a GRU layer at the sizes above (same ~10
#    point-wise FLOPs per gate unit), and check it is 3/4 of the LSTM's.
# 2. Check that the layer primitive's gradient of $h_0$ equals the traced path's for a GRU with a random state.

# %%
gru_fwd = T * B * (2 * I * 3 * H + 2 * H * 3 * H + 10 * 3 * H)  # solution 1
assert gru_fwd * 4 == dense_fwd * 3

gru = cells.CellConfig("gru", "joint", I, H, n_cores=2, rank=R)  # solution 2 (d = 2: the 3 gates split n_0)
p_gru = cells.init_cell(gru, np.random.default_rng(2))
X_4 = X[:, :4].astype("float64")  # (B, 4, I)
h0 = rng.standard_normal((B, H))  # (B, H)
g_h0 = [autograd.grad(lambda h: anp.sum(unroll(gru, p_gru, X_4, (h,))[0] ** 2))(h0)
        for unroll in (rnn.unroll, rnn.unroll_reference)]
assert np.allclose(g_h0[0], g_h0[1], rtol=1e-10, atol=1e-12)
print("exercises checked")
