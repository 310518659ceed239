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
# # 07 · Stable training and hyperparameter selection: what the paper claims, what we measured
#
# The abstract says that encoding a cell's weights jointly in one tensor train helps in "stabilizing model
# training and hyperparameter selection". The authors' evidence is one histogram of gradient norms from speaker
# verification ("dense grad norms collapse near 0, TT ≈ 1–2"); they stored no learning-rate
# sweep (docs/method.md §10).
# This notebook states three measurable versions of the claim, shows what `scripts/mnist_stability.py` measured
# on row-MNIST, and runs a tiny version of each analysis on the shipped mini subset.
#
# **Notation.** $s$ training step, $e$ epoch, $t$ time step ($T = 28$), $b$ image ($B$ per batch), $\eta$ the
# Adam learning rate, $\theta$ all parameters (a pytree of leaves $\theta^{(p)}$), $h_t$ the hidden state
# $(B, H)$, $d$ TT cores, $R$ TT rank.

# %%
import importlib.util
import json
import os
import tempfile
from pathlib import Path

import autograd.numpy as anp
import matplotlib.pyplot as plt
import numpy as np

from ttrnn_np.optim import Optimizer
from ttrnn_np.pytree import global_norm
from ttrnn_np.training import fit

FAST = os.environ.get("TTRNN_FAST") == "1"
REPO = next(p for p in (Path.cwd(), *Path.cwd().parents) if (p / "scripts" / "mnist_stability.py").is_file())
spec = importlib.util.spec_from_file_location("mnist_stability", REPO / "scripts" / "mnist_stability.py")
stability = importlib.util.module_from_spec(spec)
spec.loader.exec_module(stability)
tiny = (["--hidden-size", "16", "--train-subset", "512", "--val-subset", "200", "--epochs", "2", "--diag-batch", "64",
         "--lrs", "1e-3", "1e-2", "3e-2"] if FAST else
        ["--hidden-size", "64", "--train-subset", "4000", "--epochs", "3", "--diag-batch", "256"])  # the mini-data run

# %% [markdown]
# ## 1. Three measurable claims
#
# Both models are one LSTM layer with $H = 256$ on row-MNIST, trained with the paper's recipe (Adam, no gradient
# clipping, $\eta \times 0.1$ every 10 epochs, batch 128): the dense LSTM (294k parameters) and a joint TT-LSTM
# with $d = 2$, $R = 4$ and a TT head (7.0k parameters).
#
# 1. **Hyperparameter selection.** The best validation accuracy over epochs,
#    $a^*(\eta) = \max_e \mathrm{acc}_{\text{val}}(\theta_e(\eta))$, for
#    $\eta \in \{3\cdot10^{-4}, 10^{-3}, 3\cdot10^{-3}, 10^{-2}, 3\cdot10^{-2}\}$. "Easier to select" would mean a
#    flatter curve: a wider range of $\eta$ within a point or two of the model's own best. A run whose loss or
#    gradient becomes non-finite stops and is drawn at chance with a cross.
# 2. **Gradient norms during training.** The pre-clip global norm of step $s$,
#    $\lVert g_s \rVert = \big(\sum_p \lVert \partial L_s / \partial \theta^{(p)} \rVert^2\big)^{1/2}$, over the
#    steps of the $\eta = 10^{-2}$ run (the authors' default), dense against TT (docs/method.md §11).
# 3. **Gradient flow through time.** $\lVert \partial L / \partial h_t \rVert$ for $t = 1 \dots 28$ on a fixed
#    validation batch, at initialisation and after training (tutorial 04 explains the trick that gets all $T$ of
#    them from one backward pass).
#
# A caution on 2: $\lVert g \rVert$ depends on the parametrization. The dense model spreads its gradient over 294k
# numbers, the TT model over a few thousand core entries whose scale is set by the TT initialisation. And Adam
# divides each coordinate by a running RMS of its own gradient, so its update barely depends on the gradient's
# scale (exercise 2): small norms are not by themselves small steps. Measurement 3 is about the hidden states,
# which both models share, and so compares like with like.

# %% [markdown]
# ## 2. What we measured on row-MNIST
#
# `results/mnist_stability/` holds the run at a reduced budget (its `README.md` records the exact command,
# budget, wall time and machine). To regenerate it, from the repository root (about 15–25 minutes on one core):
#
# ```
# python scripts/mnist_stability.py --train-subset 8000 --val-subset 2000 --epochs 2 --blas-threads 1
# ```
#
# The cell below re-draws its three figures from `stability.json` with the script's own plotting functions, and
# skips if the file is not there.

# %%
stored_path = REPO / "results" / "mnist_stability" / "stability.json"
stored = json.loads(stored_path.read_text()) if stored_path.is_file() else None
if stored is None:
    print(f"no {stored_path} yet: run `python scripts/mnist_stability.py ...` (above) from the repository root")
else:
    print("command:", stored["command"])
    print("budget:", stored["budget"])
    labels = stored["labels"]
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.3))
    stability.plot_lr_sweep(stored["lr_sweep"], labels, ax=axes[0])
    stability.plot_grad_norm_hist(stored["grad_norms"], labels, ax=axes[1])
    stability.plot_time_step_norms(stored["time_step_grad_norms"], labels, ax=axes[2])
    fig.tight_layout()
    print(f"\n{'model':40s} {'lr':>7s} {'status':>9s} {'best val %':>10s}")
    for row in stored["lr_sweep"]:
        best = "-" if row["best_val_pct"] is None else f"{row['best_val_pct']:.2f}"
        print(f"{labels[row['model']]:40s} {row['lr']:7g} {row['status']:>9s} {best:>10s}")
    for model, record in stored["grad_norms"].items():
        print(f"‖g‖ at lr {record['lr']:g}, {labels[model]}: median {record['median']:.3g} "
              f"(5–95 %: {record['p05']:.3g}–{record['p95']:.3g}) over {record['steps']} steps")
    for model, flow in stored["time_step_grad_norms"].items():
        ratios = [f"{name} {curve[0] / curve[-1]:.2g}" for name, curve in flow.items() if curve is not None]
        print(f"‖∂L/∂h_1‖ / ‖∂L/∂h_T‖, {labels[model]}: {', '.join(ratios)}")

# %% [markdown]
# **Reading the measurements** (at the recorded budget: 8,000 training images, 2 epochs = 126 steps, one seed).
#
# 1. *Learning rate: TT was not more robust; it was less.* No run diverged, not even at $\eta = 3\cdot10^{-2}$
#    without clipping. The dense LSTM stayed within 2 points of its best (93.8 % at $3\cdot10^{-3}$) from
#    $10^{-3}$ to $10^{-2}$ and lost 8–10 points at the ends. The TT-LSTM peaked at 88.5 % ($10^{-2}$), was within
#    2 points only at $3\cdot10^{-3}$ and $10^{-2}$, and fell to 76 % at $3\cdot10^{-2}$, 69 % at $10^{-3}$ and
#    31 % at $3\cdot10^{-4}$: with few parameters and a short budget it learns slowly at small $\eta$. Its best
#    learning rate is the authors' default, $10^{-2}$.
# 2. *Gradient norms: the TT half of the paper's picture, not the dense half.* At $\eta = 10^{-2}$ the TT
#    norms sat around 1–2 (median 1.4, 5–95 % range 0.27–2.4), as in the authors' histogram; the dense norms did
#    not collapse near 0 (median 0.83, range 0.46–1.5). The authors' figure comes from speaker verification,
#    a larger model and a longer run, so this is no contradiction, but row-MNIST does not reproduce it.
# 3. *Gradient flow: the same for both.* At initialisation (forget bias 0) $\lVert\partial L/\partial h_t\rVert$
#    shrinks $3$–$6\cdot10^{5}$-fold over the 27 steps back from $T$ in both models; after training both carry a
#    nearly flat gradient to the first rows ($h_1$ gets a quarter of what $h_T$ gets).
#
# So on row-MNIST at this budget we find no support for "easier hyperparameter selection" and no sign of
# unstable dense training; the TT model simply needs a large enough learning rate.
#
# Budget caveat: two epochs on 8,000 images are a few hundred Adam steps, before the step schedule's first
# decay; a longer run can rescue a learning rate that starts badly (or ruin one that starts well). One seed per
# point: differences of a point or so are within seed noise.

# %% [markdown]
# ## 3. The same three analyses, tiny, on the mini subset
#
# The script's pieces run on their own: `sweep_configs` makes the runs of the paper's recipe, `train_run` trains
# one (or returns its stored results), `lr_row`, `grad_norm_record` and `flow_record` extract the three
# measurements. Here on the shipped mini subset with a small model, so that it runs in seconds.

# %%
root = Path(tempfile.mkdtemp()) / "stability"
options = stability.parse_args(["--data", "mini", "--quiet", *tiny])
configs = stability.sweep_configs(options)
with open(os.devnull, "w") as quiet:  # the runs' epoch lines are not needed here
    runs = {key: stability.train_run(config, root, stream=quiet) for key, config in configs.items()}
rows = [stability.lr_row(model, r) for (model, lr), r in runs.items()]
labels_tiny = {m: stability.model_label(configs[m, options.hist_lr]) for m in stability.MODELS}
for row in rows:
    best = "-" if row["best_val_pct"] is None else f"{row['best_val_pct']:.1f} %"
    print(f"{labels_tiny[row['model']]:26s} lr {row['lr']:<7g} {row['status']:9s} best val {best}")

# %%
norms = {m: stability.grad_norm_record(runs[m, options.hist_lr], options.hist_steps) for m in stability.MODELS}
splits = stability.prepare_data(configs["dense", options.hist_lr])
images, y = splits.val.images[:options.diag_batch], splits.val.labels[:options.diag_batch]  # (B, 28, 28), (B,)
flows = {m: stability.flow_record(configs[m, options.hist_lr], root, images, y) for m in stability.MODELS}
fig, axes = plt.subplots(1, 3, figsize=(17, 4.3))
stability.plot_lr_sweep(rows, labels_tiny, ax=axes[0])
stability.plot_grad_norm_hist(norms, labels_tiny, ax=axes[1], bins=15)
stability.plot_time_step_norms(flows, labels_tiny, ax=axes[2])
fig.tight_layout()
assert all(r["status"] in ("complete", "diverged") for r in rows)
assert max(r["best_val_pct"] or 0 for r in rows) > 100 * stability.CHANCE  # something learned
assert all(len(f["init"]) == 28 and all(v > 0 for v in f["init"]) for f in flows.values())

# %% [markdown]
# ## Summary
#
# - "Stable training" and "easier hyperparameter selection" become three measurements: best validation
#   accuracy against the learning rate, the distribution of gradient norms over training, and the gradient
#   reaching each time step.
# - The raw gradient norm depends on the parametrization and Adam is nearly blind to its scale, so the
#   histogram is weak evidence on its own; the learning-rate curve is the direct test.
# - What we measured, at a stated reduced budget, is in `results/mnist_stability/README.md`.
#
# ## Exercises
#
# **Exercise 1.** The global norm that `fit` logs is the root of the sum of the squared per-leaf norms. Check it on
# a tiny least-squares problem with `fit(..., log_grad_norms=True)`.

# %%
rng = np.random.default_rng(0)
A, target = rng.normal(size=(32, 5)), rng.normal(size=32)  # (32, 5), (32,)
theta0 = {"w": rng.normal(size=5), "b": np.zeros(1)}  # (5,), (1,)


def least_squares(theta, batch):
    A_b, y_b = batch  # (n, 5), (n,)
    return anp.mean((anp.dot(A_b, theta["w"]) + theta["b"][0] - y_b) ** 2)


result = fit(least_squares, theta0, lambda epoch, rng: [(A, target)] * 5, epochs=2, lr=0.05, progress=False,
             log_grad_norms=True)
steps = result.history["steps"]
leaf_sq = sum(np.array(v) ** 2 for v in steps["leaf_grad_norms"].values())  # (10,)
assert np.allclose(np.sqrt(leaf_sq), steps["grad_norm"])  # solution
print("global norms:", np.round(steps["grad_norm"], 3))

# %% [markdown]
# **Exercise 2.** Adam is (almost) invariant to the gradient's scale: multiply a gradient by $10^{-3}$ and the
# first Adam update hardly changes, while an SGD update shrinks 1000×. Show it.

# %%
grads = {"w": rng.normal(size=5), "b": rng.normal(size=1)}  # (5,), (1,)
small = {k: 1e-3 * v for k, v in grads.items()}  # (5,), (1,)


def first_update(optimizer, g):
    opt = Optimizer(optimizer)
    new, _ = opt.step(theta0, g, opt.init(theta0), 1e-2)
    return {k: new[k] - theta0[k] for k in theta0}  # the change of every leaf


adam_ratio = global_norm(first_update("adam", small)) / global_norm(first_update("adam", grads))
sgd_ratio = global_norm(first_update("sgd", small)) / global_norm(first_update("sgd", grads))
assert abs(adam_ratio - 1) < 1e-3 and np.isclose(sgd_ratio, 1e-3)  # solution
print(f"update ratio for gradients ×1e-3: Adam {adam_ratio:.6f}, SGD {sgd_ratio:.2e}")

# %% [markdown]
# **Exercise 3.** From the tiny sweep above, list for each model the learning rates whose best validation
# accuracy is within 2 points of that model's best (a diverged run counts as chance).

# %%
window = {}
for model in stability.MODELS:
    mine = {r["lr"]: (r["best_val_pct"] if r["status"] == "complete" and r["best_val_pct"] is not None
                      else 100 * stability.CHANCE) for r in rows if r["model"] == model}
    top = max(mine.values())
    window[model] = sorted(lr for lr, acc in mine.items() if acc >= top - 2)  # solution
    assert window[model] and max(mine, key=mine.get) in window[model]
print({labels_tiny[m]: w for m, w in window.items()})
