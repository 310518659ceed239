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
# # 05 · Sequential MNIST with a fully tensorized LSTM
#
# The paper's first experiment reads each MNIST digit as a *sequence* and classifies it with one LSTM layer of
# $H = 256$ units, once with dense weights and once with the joint TT factorization of tutorial 03. This notebook
# turns images into sequences (three reading orders), trains a small TT-LSTM with live progress, draws its
# learning curves, loads the size-against-accuracy sweep from `results/mnist_row/`, and weighs what the
# compression buys against what it costs.
#
# **Notation.** $b$ image ($B$ per batch), $t$ time step ($T$ steps), $f$ feature per step ($F$), $i, j$ pixel
# row and column ($28 \times 28$), $k$ class ($K = 10$), $s$ training step, $d$ TT cores, $R$ TT rank,
# $P$ parameter count.
#
# Live progress bars come from `tqdm`; set `TQDM_DISABLE=1` to switch them off (the epoch lines remain).

# %%
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ttrnn_np.data.mnist import as_sequences, load_mnist_splits, normalize, pixel_permutation
from ttrnn_np.experiments import mnist
from ttrnn_np.experiments.report import load_results, plot_error_vs_params
from ttrnn_np.sizes import model_sizes, size_story

FAST = os.environ.get("TTRNN_FAST") == "1"
HAVE_FULL = bool(os.environ.get("TTRNN_DATA")) and (Path(os.environ.get("TTRNN_DATA", "")) / "mnist").is_dir()
DATA = "full" if HAVE_FULL and not FAST else "mini"  # the shipped mini subset in fast mode
H = 64 if FAST else 256  # hidden units of the tutorial's model
epochs = 3 if FAST else 5  # training epochs
batch = 32 if FAST else 128  # images per training step
train_subset = 2_000 if FAST else 20_000 if DATA == "full" else None  # training images (None: the whole split)
val_subset = 500 if FAST else None  # validation images (None: the whole split)

# %% [markdown]
# ## 1. An image as a sequence
#
# Pixels $x_{ij} \in \{0, \dots, 255\}$ are normalised with the training mean and standard deviation,
# $\tilde{x} = (x/255 - 0.1307)/0.3081$. An RNN reads a batch as $X$ of shape $(B, T, F)$, one $F$-vector per
# step. Three reading orders appear in the literature:
#
# | view | $X[b, t, f]$ | $T$ | $F$ |
# |---|---|---|---|
# | row ("row-MNIST", the paper's) | $\tilde{x}_{b,\,t,\,f}$ | 28 | 28 |
# | pixel (raster scan) | $\tilde{x}_{b,\,\lfloor t/28 \rfloor,\, t \bmod 28}$ | 784 | 1 |
# | permuted pixel | the pixel view at step $\pi(t)$, $\pi$ a fixed seeded permutation | 784 | 1 |
#
# The row view is short (28 steps); the pixel views test memory over 784 steps, and the permuted one destroys
# locality, so that nearby steps carry unrelated pixels.

# %%
splits = load_mnist_splits(DATA)
print(splits)
images, labels = splits.train.images[:8], splits.train.labels[:8]  # (8, 28, 28) uint8, (8,)
views = {view: as_sequences(images, view) for view in ("row", "pixel", "permuted")}
for view, X in views.items():
    print(f"{view:9s} X: {X.shape}  (B, T, F)")
x_tilde = normalize(images)  # (8, 28, 28)
assert np.array_equal(views["row"], x_tilde)
assert np.array_equal(views["pixel"][:, 28 * 5 + 9, 0], x_tilde[:, 5, 9])  # step t = 28 i + j reads pixel (i, j)
assert np.array_equal(views["permuted"][:, :, 0], views["pixel"][:, pixel_permutation(), 0])

# %% [markdown]
# Which step reads which pixel? Below, each pixel of the $28 \times 28$ grid is coloured by the time step $t$ at
# which it is read. In the row view a whole row arrives at once; in the pixel view the scan goes row by row; in
# the permuted view the order is scrambled. The bottom row shows the first digit as the network receives it.

# %%
step_of_pixel = {"row": np.repeat(np.arange(28), 28).reshape(28, 28),  # (28, 28): row i is read at t = i
                 "pixel": np.arange(784).reshape(28, 28),  # (28, 28): t = 28 i + j
                 "permuted": np.argsort(pixel_permutation()).reshape(28, 28)}  # (28, 28): t = π⁻¹(28 i + j)
fig, axes = plt.subplots(2, 3, figsize=(11, 6.5))
for ax, (view, steps) in zip(axes[0], step_of_pixel.items()):
    shown = ax.imshow(steps, cmap="viridis")
    ax.set_title(f"{view}: time step of each pixel")
    fig.colorbar(shown, ax=ax, fraction=0.046)
axes[1, 0].imshow(views["row"][0].T, cmap="gray", aspect="auto")
axes[1, 0].set(title=f"row view of a '{labels[0]}': F × T = 28 × 28", xlabel="t", ylabel="f")
for ax, view in zip(axes[1, 1:], ("pixel", "permuted")):
    ax.plot(views[view][0, :, 0], linewidth=0.6)
    ax.set(title=f"{view} view: T = 784 steps, F = 1", xlabel="t", ylabel="x̃")
fig.tight_layout()

# %% [markdown]
# ## 2. The model and its size
#
# One LSTM layer reads $X$ and a head classifies the last hidden state:
#
# $$z = h_T W + b \in \mathbb{R}^{B \times K}, \qquad L = -\frac{1}{B}\sum_b \log \operatorname{softmax}(z_b)_{y_b}.$$
#
# In the dense LSTM the four gates' input and recurrent weights are stacked into $W_x \in \mathbb{R}^{I \times 4H}$
# and $W_h \in \mathbb{R}^{H \times 4H}$. The joint TT-LSTM stores each stacked matrix as one TT-matrix with $d$
# cores of rank $R$ (tutorial 03), and the head as a TT-matrix too. `mnist.build_model` makes either from an
# `MnistConfig`.

# %%
config = mnist.MnistConfig(layout="joint", cores=2, rank=4, hidden_size=H, epochs=epochs, batch_size=batch, lr=2e-3,
                           clip=5.0, data=DATA, train_subset=train_subset,
                           val_subset=val_subset, seed=0)
dense_config = mnist.MnistConfig(layout="dense", hidden_size=256)
model, dense_model = mnist.build_model(config), mnist.build_model(dense_config)
print(size_story(model))
print()
print(size_story(mnist.build_model(mnist.MnistConfig(layout="joint", cores=2, rank=4))))
print()
print(size_story(dense_model))

# %% [markdown]
# ## 3. Training with live progress
#
# `mnist.run_experiment` is the whole protocol of `ttrnn mnist`: a seeded train/validation split, batches
# reshuffled every epoch, Adam with a step schedule, the validation accuracy after every epoch, the best epoch's
# parameters kept, and the test set evaluated exactly once with them. A progress bar shows the running loss,
# training accuracy and examples per second; one line per epoch stays.

# %%
run_dir = Path(tempfile.mkdtemp()) / "tutorial-05"
results = mnist.run_experiment(config, out=run_dir, command="tutorial 05")
print(f"best epoch {results['best']['epoch'] + 1}: val accuracy {100 * results['best']['val_accuracy']:.2f} %; "
      f"test accuracy {100 * results['test']['accuracy']:.2f} % (evaluated once)")

# %% [markdown]
# ## 4. Learning curves
#
# `history["steps"]` holds the loss and the pre-clip gradient norm of every step $s$; `history["epochs"]` the
# per-epoch training loss and validation metrics. A running mean over 20 steps smooths the minibatch noise.

# %%
steps, per_epoch = results["history"]["steps"], results["history"]["epochs"]
loss = np.array(steps["loss"])  # (S,)
window = min(20, len(loss))
smooth = np.convolve(loss, np.ones(window) / window, mode="valid")  # (S − window + 1,)
steps_per_epoch = len(loss) // len(per_epoch)
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
axes[0].plot(loss, alpha=0.3, label="per step")
axes[0].plot(np.arange(window - 1, len(loss)), smooth, label=f"mean of {window}")
axes[0].set(xlabel="step s", ylabel="training loss L", yscale="log", title="training loss")
axes[0].legend()
axes[1].plot(steps["grad_norm"], linewidth=0.7)
axes[1].axhline(config.clip, color="grey", linestyle="--", label=f"clip {config.clip:g}")
axes[1].set(xlabel="step s", ylabel="‖g‖ (pre-clip)", yscale="log", title="global gradient norm")
axes[1].legend()
epoch_ends = [(e["epoch"] + 1) * steps_per_epoch for e in per_epoch]
axes[2].plot(epoch_ends, [100 * e["train_accuracy"] for e in per_epoch], marker="o", label="train (running)")
axes[2].plot(epoch_ends, [100 * e["val_accuracy"] for e in per_epoch], marker="s", label="validation")
axes[2].set(xlabel="step s", ylabel="accuracy %", title="accuracy after each epoch")
axes[2].legend()
fig.tight_layout()
print(f"{len(loss)} steps; mean loss of the first {window} {loss[:window].mean():.3f}, "
      f"of the last {window} {loss[-window:].mean():.3f}")
assert loss[-window:].mean() < loss[:window].mean()
assert results["best"]["val_accuracy"] > (0.3 if FAST else 0.9)  # chance is 0.1

# %% [markdown]
# ## 5. Accuracy against size: the sweep in `results/mnist_row/`
#
# The paper's figure plots test error against parameter count for $d \in \{2, 3, 4\}$ and several ranks, with
# the dense LSTM as a reference. Our sweep is too slow to run inside a notebook; `scripts/mnist_sweep.py` runs
# it (resumable) and writes one `results.json` per run, plus `summary.csv` and `error_vs_params.png`. From the
# repository root:
#
# ```
# python scripts/mnist_sweep.py --epochs 8 --train-subset 25000 --blas-threads 1 --extra '--step-size 6'
# python scripts/mnist_sweep.py --report-only
# ```
#
# Single runs on all 50,000 training images (12–20 epochs; the command of each is in its `results.json`) live in
# `results/mnist_full/`; they are drawn as black stars, labelled by run name.
# This cell reads whatever runs have finished and skips gracefully if there are none.

# %%
candidates = [Path("..") / "results" / "mnist_row", Path("results") / "mnist_row"]
sweep_root = next((p for p in candidates if p.is_dir()), None)
runs = load_results(sweep_root) if sweep_root is not None else {}
runs = {name: r for name, r in runs.items() if r.get("test")}
if not runs:
    print("no results/mnist_row/*/results.json yet: run `python scripts/mnist_sweep.py ...` (above) "
          "from the repository root")
else:
    groups, references = {}, []
    for name, r in runs.items():
        c, P, error = r["config"], r["sizes"]["total"], r["test"]["error_pct"]
        if c["layout"] == "dense":
            references.append((f"dense LSTM ({P:,} params)", P, error))
        else:
            groups.setdefault(f"{c['layout']} TT, d={c['cores']}", []).append((P, error, f"R={c['rank']}"))
    budget = {(r["data"]["n_train"], r["epochs_run"]) for r in runs.values()}
    fig, ax = plot_error_vs_params(groups, references,
                                   title=f"row-MNIST, budgets (train images, epochs): {sorted(budget)}")
    full_root = next((p.parent / "mnist_full" for p in candidates if (p.parent / "mnist_full").is_dir()), None)
    full = {name: r for name, r in (load_results(full_root) if full_root else {}).items() if r.get("test")}
    for k, (name, r) in enumerate(full.items()):
        P, error = r["sizes"]["total"], r["test"]["error_pct"]
        ax.plot([P], [error], marker="*", markersize=12, color="black", linestyle="none",
                label="single runs, 50,000 images" if k == 0 else None)
        ax.annotate(name.replace("lstm_", ""), (P, error), textcoords="offset points", xytext=(5, -10), fontsize=7)
    ax.legend(fontsize=8)
    fig.tight_layout()
    print(f"{len(runs)} finished runs from {sweep_root}")
    for name, r in sorted(runs.items(), key=lambda kv: kv[1]["sizes"]["total"]):
        print(f"  {name:28s} {r['sizes']['total']:>8,} params  {r['sizes']['compression']:6.1f}×  "
              f"test error {r['test']['error_pct']:.2f} %")
    print(f"{len(full)} full-budget runs (stars)")
    for name, r in sorted(full.items(), key=lambda kv: kv[1]["sizes"]["total"]):
        print(f"  {name:28s} {r['sizes']['total']:>8,} params  {r['epochs_run']} epochs on "
              f"{r['data']['n_train']:,} images  test error {r['test']['error_pct']:.2f} %")

# %% [markdown]
# ## 6. What the compression buys and what it costs
#
# **Buys.** At $d = 2$, $R = 4$ the cell and head hold about 42× fewer parameters than the dense model
# (7.0k vs 294k), and a step needs 2.5× fewer multiply-adds (see the size story above); at $d = 3, 4$ the
# parameter count drops further. The paper reports 2–3 orders of magnitude for its largest models.
#
# **Costs.** (i) Accuracy: on row-MNIST the authors' TT models land at ≈1.3–2.7 % test error against 0.93 % for the
# dense LSTM (test-selected numbers, docs/method.md §10), and the sweep above shows the same direction: a larger rank
# closes part of the gap. (ii) Speed is not automatic: fewer FLOPs become less time only when the chained small
# contractions beat one large matrix product (tutorial 02 and `benchmarks/`). (iii) Another hyperparameter pair,
# $(d, R)$, to choose — tutorial 07 looks at whether TT makes the learning rate easier to choose.

# %%
sizes = {"dense": model_sizes(dense_model),
         "TT d=2 R=4": model_sizes(mnist.build_model(mnist.MnistConfig(layout="joint", cores=2, rank=4)))}
for name, s in sizes.items():
    print(f"{name:11s} P = {s['total']:>7,}   compression {s['compression']:5.1f}×   "
          f"FLOPs/step {s['flops_per_step']['best']:>7,}")

# %% [markdown]
# ## Summary
#
# - Row-MNIST is $T = 28$ steps of $F = 28$ pixels; the pixel and permuted views are $784 \times 1$.
# - `mnist.run_experiment` trains, selects on validation and tests once; `history` holds every step's loss and
#   gradient norm.
# - A small joint TT-LSTM learns the task with a fraction of the parameters; the price is a small loss in
#   accuracy at the paper's ranks.
#
# ## Exercises
#
# **Exercise 1.** In the permuted view, at which time step is the centre pixel $(i, j) = (14, 14)$ read?

# %%
t_centre = int(np.argsort(pixel_permutation())[28 * 14 + 14])  # solution: t = π⁻¹(28·14 + 14)
X_perm = as_sequences(images, "permuted")  # (8, 784, 1)
assert np.array_equal(X_perm[:, t_centre, 0], normalize(images)[:, 14, 14])
print("the centre pixel is read at step", t_centre)

# %% [markdown]
# **Exercise 2.** How many training steps does one epoch of the paper's protocol have (50,000 training images,
# batch 128, the last partial batch kept), and how many in 20 epochs?

# %%
steps_per_epoch_paper = -(-50_000 // 128)  # solution: ⌈50,000 / 128⌉
assert steps_per_epoch_paper == 391 and 20 * steps_per_epoch_paper == 7_820

# %% [markdown]
# **Exercise 3.** Find the smallest rank $R$ at which the $d = 3$ joint TT-LSTM (H = 256, TT head) holds more
# than 10,000 parameters, using `model_sizes`.

# %%
totals = {R: model_sizes(mnist.build_model(mnist.MnistConfig(layout="joint", cores=3, rank=R)))["total"]
          for R in range(1, 13)}
R_min = min(R for R, P in totals.items() if P > 10_000)  # solution
assert totals[R_min] > 10_000 >= totals[R_min - 1]
print(f"R = {R_min}: {totals[R_min]:,} parameters (R = {R_min - 1}: {totals[R_min - 1]:,})")
