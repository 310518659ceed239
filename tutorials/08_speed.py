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
import json
import os
import pathlib
import time

import autograd
import matplotlib.pyplot as plt
import numpy as np

from checks import speed as check  # the exercises' checkers (tutorials/checks/)
from ttrnn_np import cells, cost, losses, rnn
from ttrnn_np.experiments.runtime import set_blas_threads, tune_malloc
from ttrnn_np.experiments.timing import interleaved_times
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
# We time a training step of each model on each path with `interleaved_times` (round after round, so a busy
# machine slows all of them alike; exercise 2 builds it) and divide the FLOPs by the median time. The clock is the
# process's CPU time (`time.process_time`): with one thread it is the cost of the call, even when other jobs
# share the cores.

# %%
config_dense, params_dense = model("dense")
steps = {("dense", False): (train_step(config_dense, False), params_dense),
         ("dense", True): (train_step(config_dense, True), params_dense),
         ("joint", False): (train_step(config_tt, False), params_tt),
         ("joint", True): (train_step(config_tt, True), params_tt)}
timed = interleaved_times({key: (lambda f=f, p=p: f(p)) for key, (f, p) in steps.items()}, repeats,
                          clock=time.process_time)
times = {key: t["median"] for key, t in timed.items()}
for (layout, traced), seconds in times.items():
    flops = 3 * (dense_fwd if layout == "dense" else tt_fwd)
    print(f"{layout:5s} {'traced' if traced else 'layer ':6s} {1e3 * seconds:8.1f} ms  "
          f"{flops / seconds / 1e9:6.2f} GFLOP/s")
for layout in ("dense", "joint"):
    saved = (times[(layout, True)] - times[(layout, False)]) / T  # seconds per time step
    spread = (timed[(layout, True)]["max"] - timed[(layout, True)]["min"]) / T
    verdict = ("the layer primitive was faster" if saved > spread else "the layer primitive was slower" if saved < -spread
               else "no difference beyond the spread of the traced path's rounds")
    print(f"{layout}: traced − layer = {1e3 * saved:+.3f} ms per time step ({verdict}; spread ±{1e3 * spread:.3f})")

# %% [markdown]
# The dense model does the most FLOPs and runs at a higher rate (printed above): its time is mostly arithmetic.
# On the traced path it also pays for the tape and for $T$ small weight-gradient products instead of one large
# one; the layer primitive removes both. The TT model does fewer FLOPs at a lower rate (chains of small
# products); its backward pass is one VJP of the TT product per step on both paths (that VJP gives
# $\bar{A}_t W_h^\top$ and the step's core gradients from one sweep), so for TT the primitive can only save tape
# bookkeeping, which is small next to those products: the printout says whether this run could even tell the
# two apart. What the primitive always saves is memory: it stores the gates, $c_t$ and $h_t$ instead of every
# traced intermediate (`benchmarks/bench_memory.py` measures it; `results/bench/quiet/memory.json`).
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
# The same question for one product $Y = XW$ ($B = 128$, $N \times N$): `benchmarks/bench_ttmatmul.py` timed the
# TT product for $d = 2, 3, 4$ cores and a range of ranks against the dense `X @ W`. Below, from its stored
# results (`results/bench/quiet/ttmatmul.json`, made by `python -m benchmarks.run_all --out-dir
# results/bench/quiet`): where a TT line crosses the grey dense line is the *measured* break-even rank (star);
# the FLOP count predicts the open circle.

# %%
stored = next((p for p in (pathlib.Path("..", quiet, "ttmatmul.json"), pathlib.Path(quiet, "ttmatmul.json"))
               if p.exists()), None)
if stored is None:
    print(f"{quiet}/ttmatmul.json not found: python -m benchmarks.run_all --out-dir {quiet}")
else:
    bench = json.loads(stored.read_text())
    sizes_N = sorted({row["N"] for row in bench["rows"]})
    fig, axes = plt.subplots(1, len(sizes_N), figsize=(14, 4.3))
    for ax, N in zip(axes, sizes_N):
        rows = [row for row in bench["rows"] if row["N"] == N]
        dense_ms = float(np.median([row["dense_ms"] for row in rows]))
        ax.axhline(dense_ms, color="0.5", lw=2.5, alpha=0.7, label="dense X @ W")
        for entry in (e for e in bench["break_even"] if e["N"] == N):
            timed_ms = dict([(row["rank"], row["tt_ms"]) for row in rows if row["d"] == entry["d"]]
                            + [(point["rank"], point["tt_ms"]) for point in entry["refinement"]])
            ranks = sorted(timed_ms)
            (line,) = ax.plot(ranks, [timed_ms[R] for R in ranks], "o-", ms=4,
                              label=f"d = {entry['d']}, modes {'×'.join(map(str, entry['modes']))}")
            ax.plot(entry["predicted_rank"], dense_ms, "o", mfc="none", mec=line.get_color(), ms=11, mew=1.5)
            if entry["measured_rank"] is not None:
                ax.plot(entry["measured_rank"], timed_ms[entry["measured_rank"]], "*", color=line.get_color(),
                        ms=15, mec="k", mew=0.6)
        ax.set(xscale="log", yscale="log", xlabel="TT rank R", ylabel="median ms per product (B = 128)",
               title=f"N = {N}")
        ax.set_xticks([1, 2, 4, 8, 16], ["1", "2", "4", "8", "16"])
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle("TT product vs dense (stored run); ○ FLOP break-even, ★ measured break-even", fontsize=11)
    fig.tight_layout()
    print(f"{'N':>5} {'d':>2}  FLOP break-even  measured break-even")
    for entry in bench["break_even"]:
        print(f"{entry['N']:>5} {entry['d']:>2}  {entry['predicted_rank']:>15}  "
              f"{'none up to R = 16' if entry['measured_rank'] is None else entry['measured_rank']:>19}")
    measured = [e for e in bench["break_even"] if e["measured_rank"] is not None]
    earlier = sum(e["measured_rank"] <= e["predicted_rank"] for e in measured)
    print(f"measured at or below the FLOP prediction in {earlier} of {len(measured)} cases")

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
# Each exercise has a stub and a `check` call that runs your function against the library: ✓, ✗ with a hint,
# or ○ while the stub is there. Solutions: `tutorials/solutions/speed.py` (try first).
#
# **Exercise 1 (counting).** Write `my_lstm_forward_flops(B, T, I, H, G)`: the forward FLOPs of a dense
# recurrent layer with $G$ gates over $T$ steps and $B$ rows, the two products plus about 10 point-wise FLOPs per
# gate unit (section 1). With $G = 3$ it counts a GRU: check that it is 3/4 of the LSTM's.

# %%
def my_lstm_forward_flops(B, T, I, H, G):
    """Forward FLOPs of a dense layer with G gates: T·B·(2IGH + 2HGH + 10GH), an int."""
    # your code here
    raise NotImplementedError


if check.lstm_forward_flops(my_lstm_forward_flops):
    print(f"GRU / LSTM at the sizes above: {my_lstm_forward_flops(B, T, I, H, 3) / dense_fwd:.2f}")

# %% [markdown]
# **Exercise 2 (a fair timer).** Write `my_interleaved_medians(functions, rounds)` for a dict {name: f}: call every
# function once untimed (warm-up), then `rounds` times call each function once, in turn, timing each call with
# `time.perf_counter`; return {name: median seconds}. Why in turn, and not all rounds of one function first?
# (On a shared machine the load changes over seconds: in turn, every function sees the same load.)

# %%
def my_interleaved_medians(functions, rounds):
    """{name: median seconds of f()} after one warm-up call each, with the functions called in turn."""
    # your code here
    raise NotImplementedError


check.interleaved_medians(my_interleaved_medians)
