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

from checks import mnist as check  # the exercises' checkers (tutorials/checks/)
from ttrnn_np.data.mnist import as_sequences, load_mnist_splits, normalize, pixel_permutation
from ttrnn_np.experiments import mnist, predictions, runs
from ttrnn_np.experiments.report import load_results, plot_error_vs_params
from ttrnn_np.experiments.runtime import set_blas_threads
from ttrnn_np.sizes import model_sizes, size_story

set_blas_threads(1)  # one BLAS thread: on a shared machine a second thread mostly waits for a core
FAST = os.environ.get("TTRNN_FAST") == "1"
HAVE_FULL = bool(os.environ.get("TTRNN_DATA")) and (Path(os.environ.get("TTRNN_DATA", "")) / "mnist").is_dir()
DATA = "full" if HAVE_FULL and not FAST else "mini"  # the shipped mini subset in fast mode
H = 64 if FAST else 256  # hidden units of the tutorial's model
epochs = 3  # training epochs
batch = 32 if FAST else 128  # images per training step
train_subset = 2_000 if FAST else 10_000 if DATA == "full" else None  # training images (None: the whole split)
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
fig, axes = plt.subplots(2, 3, figsize=(12, 7))
for ax, (view, steps) in zip(axes[0], step_of_pixel.items()):
    shown = ax.imshow(steps, cmap="viridis")
    ax.set(title=f"{view}: time step t of each pixel", xlabel="pixel column j", ylabel="pixel row i")
    fig.colorbar(shown, ax=ax, fraction=0.046, label="t")
axes[1, 0].imshow(views["row"][0], cmap="gray")  # (T, F): step t is image row t, so the digit stands upright
axes[1, 0].set(title=f"row view of a '{labels[0]}': T × F = 28 × 28", xlabel="feature f (pixel column)",
               ylabel="time step t (pixel row)")
for ax, view in zip(axes[1, 1:], ("pixel", "permuted")):
    ax.plot(views[view][0, :, 0], linewidth=0.6)
    ax.set(title=f"{view} view: T = 784 steps, F = 1", xlabel="time step t", ylabel="normalised pixel x̃")
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
model = mnist.build_model(config)
print(size_story(model))

paper_sizes = {"dense LSTM, H = 256": model_sizes(mnist.build_model(mnist.MnistConfig(layout="dense"))),
               "joint TT d=2 R=4, H = 256": model_sizes(mnist.build_model(mnist.MnistConfig(layout="joint", cores=2,
                                                                                         rank=4)))}
print("\nat the paper's size:")
for name, s in paper_sizes.items():
    print(f"  {name:26s} P = {s['total']:>7,}   {s['compression']:5.1f}× fewer than dense   "
          f"FLOPs per step and image {s['flops_per_step']['best']:>7,}")

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
print(f"{'FAST MODE: ' if FAST else ''}H = {H}, {results['data']['n_train']:,} {DATA} training images, {epochs} "
      "epochs: a short run that shows the machinery, not the accuracy the model can reach (section 6 has runs on all "
      "50,000 training images).")

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
# ## 5. What the model gets right and wrong
#
# `run_experiment` saved the best epoch's parameters as a checkpoint in the run directory
# (`checkpoints/best.npz` with `best.json`, beside `results.json`). Loading the run is all it takes to use the
# model later: `runs.load_run(run_dir)` rebuilds the configuration and returns the best parameters (the command
# line does the same: `ttrnn evaluate RUN`), and `predictions.predict_proba` runs the model on raw images and
# returns the class probabilities
# $p[b, k] = \operatorname{softmax}(z_b)_k$. The prediction is $\arg\max_k p[b, k]$, its confidence
# $\max_k p[b, k]$. First, 24 test digits with the true and the predicted label (red when wrong):

# %%
loaded_config, _, best_params = runs.load_run(run_dir)  # MnistConfig, ModelConfig, {"layers": [...], "head": {...}}
assert loaded_config == config
test = splits.test
p_test = predictions.predict_proba(config, best_params, test.images)  # (n_test, K)
y_pred = p_test.argmax(axis=1)  # (n_test,)
accuracy = np.mean(y_pred == test.labels)
print(f"best checkpoint (epoch {results['best']['epoch'] + 1}); test accuracy from the loaded parameters {100 * accuracy:.2f} % "
      f"({len(test):,} images)")
assert np.isclose(accuracy, results["test"]["accuracy"])  # the same parameters as run_experiment's test

fig, axes = plt.subplots(3, 8, figsize=(11, 4.6))
for ax, b in zip(axes.flat, range(24)):
    ax.imshow(test.images[b], cmap="gray_r")
    wrong = y_pred[b] != test.labels[b]
    ax.set_title(f"true {test.labels[b]}, pred {y_pred[b]}", fontsize=10, color="tab:red" if wrong else "black")
    ax.axis("off")
fig.suptitle(f"the first 24 test digits (red: wrong); test accuracy {100 * accuracy:.1f} %", fontsize=11)
fig.tight_layout()

# %% [markdown]
# The **confusion matrix** $C[a, b]$ counts the test images of class $a$ predicted as $b$: the diagonal holds the
# correct answers, and each off-diagonal cell is one kind of mistake. Rows are normalised to per cent below so
# that the classes compare; the numbers are the counts.

# %%
C = predictions.confusion_matrix(test.labels, y_pred)  # (K, K)
per_class = 100 * np.diag(C) / C.sum(axis=1)  # (K,)
fig, ax = plt.subplots(figsize=(6.5, 5.5))
shown = ax.imshow(100 * C / C.sum(axis=1, keepdims=True), cmap="Blues", vmin=0, vmax=100)
for a in range(10):
    for b in range(10):
        if C[a, b]:
            ax.text(b, a, str(C[a, b]), ha="center", va="center", fontsize=8,
                    color="white" if C[a, b] > 0.6 * C[a].sum() else "black")
ax.set(xticks=range(10), yticks=range(10), xlabel="predicted class", ylabel="true class",
       title="confusion matrix of the test set (counts; colour: % of the row)")
fig.colorbar(shown, ax=ax, label="% of the true class")
fig.tight_layout()
off = C - np.diag(np.diag(C))  # (K, K) the mistakes only
a_worst, b_worst = np.unravel_index(off.argmax(), off.shape)
print(f"hardest class {per_class.argmin()} ({per_class.min():.1f} % right), easiest {per_class.argmax()} "
      f"({per_class.max():.1f} %); most frequent mistake: {a_worst} read as {b_worst} ({off.max()} times)")

# %% [markdown]
# The **most confidently wrong** examples show what the model cannot read: the wrong predictions with the highest
# confidence. Some are badly written digits, a few look mislabelled.

# %%
surest = predictions.most_confident_mistakes(p_test, test.labels, 8)  # (≤ 8,)
fig, axes = plt.subplots(1, 8, figsize=(11, 2.2))
for ax, b in zip(axes, surest):
    ax.imshow(test.images[b], cmap="gray_r")
    ax.set_title(f"true {test.labels[b]}\npred {y_pred[b]} ({100 * p_test[b].max():.0f} %)", fontsize=10)
for ax in axes:
    ax.axis("off")
fig.suptitle("the most confident mistakes on the test set (confidence = probability of the predicted class)",
             fontsize=11)
fig.tight_layout()

# %% [markdown]
# ## 6. Accuracy against size: the sweep in `results/mnist_row/`
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
# Single runs on all 50,000 training images (the command of each is in its `results.json` and in
# `results/mnist_full/README.md`) are drawn as black stars and listed, with their budgets, under the figure.
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
    fig, ax = plt.subplots(figsize=(9, 5.5))
    plot_error_vs_params(groups, references, ax=ax,
                         title=f"row-MNIST test error; sweep budgets (train images, epochs): {sorted(budget)}")
    full_root = next((p.parent / "mnist_full" for p in candidates if (p.parent / "mnist_full").is_dir()), None)
    full = {name: r for name, r in (load_results(full_root) if full_root else {}).items() if r.get("test")}
    for k, (name, r) in enumerate(full.items()):
        ax.plot([r["sizes"]["total"]], [r["test"]["error_pct"]], marker="*", markersize=12, color="black",
                linestyle="none", label="single runs, 50,000 images (listed below)" if k == 0 else None)
    ax.legend(fontsize=8)
    fig.tight_layout()
    print(f"{len(runs)} finished runs from {sweep_root}")
    for name, r in sorted(runs.items(), key=lambda kv: kv[1]["sizes"]["total"]):
        print(f"  {name:28s} {r['sizes']['total']:>8,} params  {r['sizes']['compression']:6.1f}×  "
              f"test error {r['test']['error_pct']:.2f} %")
    print(f"{len(full)} full-budget runs (stars)")
    for name, r in sorted(full.items(), key=lambda kv: kv[1]["sizes"]["total"]):
        print(f"  {name:38s} {r['sizes']['total']:>8,} params  {r['epochs_run']} epochs on "
              f"{r['data']['n_train']:,} images  test error {r['test']['error_pct']:.2f} %")

# %% [markdown]
# ## 7. What the compression buys and what it costs
#
# **Buys.** At $d = 2$, $R = 4$ the cell and head hold far fewer parameters than the dense model, and a step
# needs fewer FLOPs (the sizes at the paper's $H = 256$ were printed in section 2); at $d = 3, 4$ the
# parameter count drops further. The paper reports 2–3 orders of magnitude for its largest models.
#
# **Costs.** (i) Accuracy: on row-MNIST the authors' TT models land at ≈1.3–2.7 % test error against 0.93 % for the
# dense LSTM (test-selected numbers, docs/method.md §10), and the sweep above shows the same direction: a larger rank
# closes part of the gap. (ii) Speed is not automatic: fewer FLOPs become less time only when the chained small
# contractions beat one large matrix product (tutorial 02 and `benchmarks/`). (iii) Another hyperparameter pair,
# $(d, R)$, to choose — tutorial 07 looks at whether TT makes the learning rate easier to choose.

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
# Each exercise has a stub and a `check` call that runs your function against the library: ✓, ✗ with a hint,
# or ○ while the stub is there. Solutions: `tutorials/solutions/mnist.py` (try first).
#
# **Exercise 1 (reading orders).** Write `my_step_of_pixel(i, j, view)`: the time step $t$ at which pixel
# $(i, j)$ is read in the `"row"`, `"pixel"` and `"permuted"` view (section 1). At which step is the centre pixel
# $(14, 14)$ read in the permuted view?

# %%
def my_step_of_pixel(i, j, view):
    """The time step t that reads pixel (i, j) in the given view."""
    # your code here
    raise NotImplementedError


check.step_of_pixel(my_step_of_pixel)

# %% [markdown]
# **Exercise 2 (the confusion matrix).** Write `my_confusion_matrix(y_true, y_pred, K)`: $C[a, b]$ = the number of
# images of class $a$ predicted as $b$, shape $(K, K)$, as section 5 drew it. Careful: `C[y_true, y_pred] += 1`
# counts a repeated pair only once.

# %%
def my_confusion_matrix(y_true, y_pred, K):
    """C (K, K), rows the true class, columns the predicted one."""
    # your code here
    raise NotImplementedError


check.confusion_matrix(my_confusion_matrix)

# %% [markdown]
# **Exercise 3 (the surest mistakes).** Write `my_most_confident_mistakes(p, labels, k)`: from class
# probabilities $p$ (n, K), the indices of the (up to) $k$ images whose prediction is wrong, the most confident
# first. Then use it on the tutorial's model to look at its 8 surest mistakes among the validation images.

# %%
def my_most_confident_mistakes(p, labels, k):
    """Indices of the ≤ k wrongly predicted images with the highest max_k p[b, k], most confident first."""
    # your code here
    raise NotImplementedError


if check.most_confident_mistakes(my_most_confident_mistakes):
    p_val = predictions.predict_proba(config, best_params, splits.val.images)  # (n_val, K)
    print("validation images:", my_most_confident_mistakes(p_val, splits.val.labels, 8))
