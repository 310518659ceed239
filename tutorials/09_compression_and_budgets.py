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
# # 09 · Compression and budgets: what does a tensor train buy at a fixed size?
#
# The paper compares each TT-LSTM with the dense LSTM of the same hidden size, which has tens to hundreds of
# times more parameters. Two questions that comparison leaves open:
#
# 1. **At an equal budget**, is the joint TT-LSTM better than the obvious small models: a dense LSTM with a
#    smaller $H$, or a low-rank factorization $W = UV$ of the stacked gate matrices?
# 2. **After training**, can a dense LSTM be compressed into the joint TT layout by TT-SVD, or does it have to be
#    trained in TT form from the start? Put differently: do trained LSTM weights have low TT rank?
#
# This notebook defines "the same budget" exactly, lists the families at one budget, shows the stored
# equal-budget study (or says how to run it), compresses a freshly trained dense LSTM at several ranks, measures
# the approximation error against the bound of docs/method.md §5, fine-tunes one compressed model beside the
# same model trained from scratch, and looks at the singular-value spectra that decide all of this.
#
# **Notation.** $I$ input size ($28$, one image row), $H$ hidden size, $G = 4$ gates, $K = 10$ classes,
# $d$ TT cores, $R$ TT rank (for the low-rank family: the rank of $UV$), $P$ parameters, $a(n)$ the
# factorization of $n$ into $d$ modes (`auto_shape`), $m_k, n_k$ row and column modes,
# $P_{TT}(m, n, R) = \sum_k r_k m_k n_k r_{k+1}$, $\sigma_{k,\alpha}$ the $\alpha$-th singular value of the
# unfolding at bond $k$, $\lVert\cdot\rVert$ the Frobenius norm.

# %%
import dataclasses
import functools
import io
import json
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from checks import compression as check  # the exercises' checkers (tutorials/checks/)
from ttrnn_np import cells, compress, init, ttmatrix
from ttrnn_np.cells import CellConfig
from ttrnn_np.experiments import mnist, runs
from ttrnn_np.experiments.compress_cli import compress_run
from ttrnn_np.experiments.report import format_table, pareto_front, plot_error_vs_params, read_csv
from ttrnn_np.experiments.runtime import set_blas_threads
from ttrnn_np.pytree import num_params
from ttrnn_np.rnn import init_model
from ttrnn_np.sizes import configs_for_budget, dense_hidden_for_budget

set_blas_threads(1)  # one BLAS thread: on a shared machine a second thread mostly waits for a core
FAST = os.environ.get("TTRNN_FAST") == "1"
HAVE_FULL = bool(os.environ.get("TTRNN_DATA")) and (Path(os.environ.get("TTRNN_DATA", "")) / "mnist").is_dir()
DATA = "full" if HAVE_FULL and not FAST else "mini"  # the shipped mini subset in fast mode
RESULTS = next((p for p in (Path("..", "results"), Path("results")) if p.is_dir()), Path("..", "results"))
I, G, K = 28, 4, 10  # row-MNIST: 28 pixels per step, LSTM gates, classes
BUDGET = 4_000  # the parameter budget of section 1
H = 64 if FAST else 128  # hidden units of the dense LSTM we compress
train_subset, val_subset = (2_000, 500) if FAST else (20_000 if DATA == "full" else None, 2_000)  # images
epochs = 2 if FAST else 5  # training epochs of the dense LSTM
CORES, RANKS = (2, 3), ((1, 2, 4, 8, 16, 32) if FAST else (1, 2, 4, 8, 16, 32, 64))  # the compression grid
finetune = dict(cores=2, rank=8, epochs=1 if FAST else 2)  # the one compressed model we fine-tune

# %% [markdown]
# ## 1. What "the same budget" means
#
# A budget $P$ counts **every** parameter of a one-layer row-MNIST model: both weights, the bias and the
# classifier head ($HK$ weights and $K$ biases, dense for every family here, so that the head rule is the
# same). With one bias of $GH$ per cell (docs/method.md §5):
#
# | family | $W_x$ | $W_h$ | bias | head |
# |---|---|---|---|---|
# | dense, small $H$ | $I \cdot GH$ | $H \cdot GH$ | $GH$ | $K(H+1)$ |
# | low-rank $W = UV$, rank $R$ | $R(I + GH)$ | $R(H + GH)$ | $GH$ | $K(H+1)$ |
# | naive TT (a TT-matrix per gate) | $G P_{TT}(a(I), a(H), R)$ | $G P_{TT}(a(H), a(H), R)$ | $GH$ | $K(H+1)$ |
# | joint TT (the gates share the cores) | $P_{TT}(a(I), a(GH), R)$ | $P_{TT}(a(H), a(GH), R)$ | $GH$ | $K(H+1)$ |
#
# The low-rank family is the matrix analogue of the joint encoding: one factorization of the stacked
# $(\cdot, GH)$ matrix shared by all gates, with a single rank. A **Kronecker-product** model is not a family of
# its own: it is the joint TT family at $R = 1$. With every rank 1 the entry of a TT-matrix is a product of
# scalars, $W[i, j] = \prod_k G_k[0, i_k, j_k, 0]$, which is exactly the entry of
# $G_0 \otimes G_1 \otimes \dots \otimes G_{d-1}$ with factors of shape $(m_k, n_k)$.
#
# Within a family the count grows with $H$ and with $R$, so the candidates near a budget are, for every
# structural choice ($H$, and $d$ for the TT families), the largest rank that fits; for the dense family the
# largest $H$. `sizes.configs_for_budget` lists them with their exact counts (a candidate must reach at least
# half the budget, and no rank is raised past what its bonds can use).

# %%
H_dense = dense_hidden_for_budget(BUDGET, I)
candidates = [c for family in ("dense", "lowrank", "naive", "joint") for c in configs_for_budget(family, BUDGET, I)]
for c in candidates:
    c["head"] = K * (c["hidden_size"] + 1)  # the head's share of the count
    c["family"] += " (Kronecker)" if c["family"] == "joint" and c["rank"] == 1 else ""
print(f"budget P ≤ {BUDGET:,} (I = {I}, K = {K}, dense head); the largest dense H is {H_dense}\n")
print(format_table(candidates, [("family", "family", None), ("hidden_size", "H", "d"), ("cores", "d", "d"),
                                ("rank", "R", "d"), ("params", "parameters", ",d"), ("head", "of which head", ",d"),
                                ("flops_per_step", "FLOPs per step and image", ",d")]))
assert candidates[0]["params"] == G * H_dense * (I + H_dense + 1) + K * (H_dense + 1)  # the dense formula
for c in candidates:
    if c["layout"] == "lowrank":  # the low-rank formula of the table above
        H_c, R_c = c["hidden_size"], c["rank"]
        assert c["params"] == R_c * (I + G * H_c) + R_c * (H_c + G * H_c) + G * H_c + K * (H_c + 1)
    assert BUDGET / 2 <= c["params"] <= BUDGET
largest_head = max(candidates, key=lambda c: c["head"] / c["params"])
print(f"\n{len(candidates)} candidates; the head takes between {min(c['head'] / c['params'] for c in candidates):.0%} "
      f"and {largest_head['head'] / largest_head['params']:.0%} of the budget ({largest_head['family']}, "
      f"H = {largest_head['hidden_size']})")

# %% [markdown]
# The Kronecker claim, checked on live cores: a joint TT-matrix with $d = 3$ and $R = 1$ for $W_x$ at
# $H = 64$ (modes $a(28) = (2, 2, 7)$, $a(256) = (4, 8, 8)$) is the Kronecker product of its three core slices.

# %%
m, n = CellConfig("lstm", "joint", I, 64, n_cores=3).weight_shapes["W_x"][0]
kron_cores = init.normal(m, n, 1, std=1.0, rng=np.random.default_rng(0))  # [(1, m_k, n_k, 1)]
factors = [G_k[0, :, :, 0] for G_k in kron_cores]  # [(m_k, n_k)]
W_kron = functools.reduce(np.kron, factors)  # (28, 256)
assert np.allclose(ttmatrix.full(kron_cores), W_kron)
print(f"modes {m} → {n}: full(cores) equals kron of factors {[f.shape for f in factors]}; "
      f"{sum(f.size for f in factors)} numbers for a {W_kron.shape[0]}×{W_kron.shape[1]} matrix")

# %% [markdown]
# ## 2. The equal-budget study
#
# Which family is best at a budget is a question for training runs, not for counting. `scripts/mnist_budget.py`
# answers it on row-MNIST for budgets of 1.5k, 4k, 10k and 30k parameters: for each family it first trains
# every candidate above on a subset (10,000 images, 5 epochs) and picks the best by validation accuracy (the
# test set is not read), tries three learning-rate recipes on the chosen shape the same way, then trains the
# chosen configuration on all 50,000 training images for 20 epochs (two seeds at 4k and 10k) and evaluates the
# test set once. A short search favours large steps, and a large step can wreck a long run: a final run whose
# validation accuracy falls more than 10 points below its best so far counts as *collapsed*, and the study
# trains the family's next recipe in its place (the cell prints the collapsed runs). It writes
# `results/mnist_budget/summary.csv`, `README.md` (with every run's command) and `pareto.png`. The cell below
# draws the figure from the CSV, with the Pareto front (the models no other beats on both size and error) in grey.
#
# Every family above pays for a dense head: $K(H + 1) = 2{,}570$ parameters at $H = 256$, more than half of a 4k
# budget, which pushes the TT families to smaller $H$. The paper's models write the head as a TT-matrix too,
# with the cell's $d$ and $R$. Two such models, trained on all the data with the same protocol (not searched,
# not at a budget; `results/mnist_full/`), are drawn beside the families as a reference.

# %%
def read_study(name, command, note):
    """The rows of results/<name>/summary.csv, or None after printing the command that makes it."""
    path = RESULTS / name / "summary.csv"
    if path.is_file():
        return read_csv(path)
    print(f"This study has not been run yet ({path.as_posix()} does not exist). From the repository root:\n\n"
          f"    {command}\n\n({note}); then run this cell again.")
    return None


study = read_study("mnist_budget", "python scripts/mnist_budget.py --jobs 2",
                   "many hours on 2 cores, resumable; `--report-only` rewrites the table, README and figure")
if study is not None:
    print(format_table(study, [("budget", "budget", ",d"), ("family", "family", None), ("hidden_size", "H", "d"),
                               ("cores", "d", "d"), ("rank", "R", "d"), ("params", "parameters", ",d"),
                               ("lr", "lr", "g"), ("seeds", "seeds", "d"), ("test_error", "test error %", ".2f"),
                               ("test_error_spread", "± half range", ".2f")]))
    for row in study:
        if row.get("collapsed"):
            print(f"collapsed at {row['budget']:,}, {row['family']}: {row['collapsed']}")
    done = [row for row in study if row["test_error"] is not None]
    families = dict.fromkeys(row["family"] for row in done)
    groups = {family: [(row["params"], row["test_error"], f"{row['budget'] / 1000:g}k", row["test_error_spread"])
                       for row in done if row["family"] == family] for family in families}  # bars: seed spread
    front = pareto_front([(row["params"], row["test_error"], row["family"], row["budget"]) for row in done])
    tt_head = {}  # the joint TT-LSTMs with a TT head, cosine schedule: {(d, R): [(params, test error %)]}
    for row in read_csv(RESULTS / "mnist_full" / "summary.csv"):
        if row["layout"] == "joint" and row["head"] == "tt" and "cosine" in row["name"]:
            tt_head.setdefault((row["cores"], row["rank"]), []).append((row["params"], row["test_error"]))
    reference = []
    for (d, R), points in sorted(tt_head.items()):
        errors = [error for _, error in points]
        spread = (max(errors) - min(errors)) / 2 if len(errors) > 1 else None
        reference.append((points[0][0], np.mean(errors), f"d={d} R={R}", spread))
        print(f"reference: joint TT with a TT head, d = {d}, R = {R}, {points[0][0]:,} parameters, test error "
              f"{np.mean(errors):.2f} % (mean of {len(errors)} seed(s))")
    groups["joint TT, TT head (reference)"] = reference
    fig, ax = plt.subplots(figsize=(8, 5))
    plot_error_vs_params(groups, background={"Pareto front": [p[:2] for p in front]} if front else None, ax=ax,
                         title="row-MNIST at equal budgets: test error against parameters (labels: budget)")
    fig.tight_layout()
    print("\nPareto front, smallest first:", ", ".join(f"{family} at {budget:,} ({error:.2f} %)"
                                                        for _, error, family, budget in front))
    for budget in sorted({row["budget"] for row in done}):  # the families at each budget, best first
        ranked = sorted((row for row in done if row["budget"] == budget), key=lambda row: row["test_error"])
        print(f"test error at {budget:,}: " + " < ".join(f"{row['family']} {row['test_error']:.2f} %"
                                                         for row in ranked))

# %% [markdown]
# ## 3. A dense LSTM to compress
#
# The second question starts from a trained dense model. `mnist.run_experiment` trains one with the protocol of
# tutorial 05 (seeded split, validation selection, one test evaluation) and stores its best parameters in a run
# folder, which `ttrnn compress` reads later.

# %%
config = mnist.MnistConfig(layout="dense", hidden_size=H, epochs=epochs, batch_size=128, lr=5e-3, data=DATA,
                           train_subset=train_subset, val_subset=val_subset, seed=0)
run_dir = Path(tempfile.mkdtemp()) / "dense"
results = mnist.run_experiment(config, out=run_dir, command="tutorial 09")
_, model, params = runs.load_run(run_dir)  # the best-validation parameters
splits = mnist.prepare_data(config)
W_x, W_h = cells.dense_weights(params["layers"][0])  # (I, 4H), (H, 4H)
dense_val = 100 * results["best"]["val_accuracy"]
print(f"{'FAST MODE: ' if FAST else ''}dense LSTM, H = {H}, {results['sizes']['total']:,} parameters: validation "
      f"{dense_val:.2f} %, test {100 * results['test']['accuracy']:.2f} % after {epochs} epochs on "
      f"{results['data']['n_train']:,} {DATA} images")

# %% [markdown]
# ## 4. TT-SVD of the trained weights, rank by rank
#
# `compress.compress_model` turns every cell into the joint layout with $d$ cores: one TT-SVD per stacked
# matrix, with the joint modes $a(I) \to a(GH)$ and $a(H) \to a(GH)$, every bond truncated to at most $R$
# singular values; the bias and the head are kept. The relative error it reports,
# $\lVert W - W_{TT} \rVert / \lVert W \rVert$, obeys the bound of docs/method.md §5,
#
# $$\lVert W - W_{TT} \rVert^2 \le \sum_{k=1}^{d-1} \sum_{\alpha > R} \sigma_{k,\alpha}^2,$$
#
# where $\sigma_{k,\alpha}$ are the singular values of the unfolding TT-SVD cuts at bond $k$
# (`compress.unfolding_spectra`). For $d = 2$ there is one bond and the bound is an equality: TT-SVD is then the
# truncated SVD of one unfolding, the best rank-$R$ approximation of it. For $d \ge 3$ each later truncation
# sees a matrix already truncated, so the error is at most the bound (which adds the tails of all $d - 1$ bonds
# and can exceed 1 at small $R$). Each compressed model is then evaluated on the validation images as it is,
# without any training.

# %%
spectra = {}  # (d, name) → [σ (descending) per bond]
for d in CORES:
    joint_cell = CellConfig("lstm", "joint", I, H, n_cores=d)  # only its modes are needed
    for name, W in (("W_x", W_x), ("W_h", W_h)):
        ((m, n),) = joint_cell.weight_shapes[name]
        spectra[d, name] = compress.unfolding_spectra(W, m, n)


def spectral_bound(sigmas, W, R):
    """√(Σ_k Σ_{α>R} σ_{k,α}²) / ‖W‖: the bound on TT-SVD's relative error at rank R."""
    return float(np.sqrt(sum(np.sum(s[R:] ** 2) for s in sigmas)) / np.linalg.norm(W))


sweep = []
for d in CORES:
    for R in RANKS:
        joint, joint_params, report = compress.compress_model(model, params, d, rank=R)
        row = {"d": d, "R": R, "params": num_params(joint_params),
               "val": 100 * mnist.evaluate_split(joint, joint_params, splits.val, config)["accuracy"]}
        for entry in report:
            name, W = entry["matrix"], W_x if entry["matrix"] == "W_x" else W_h
            row[f"error {name}"], row[f"bound {name}"] = entry["rel_error"], spectral_bound(spectra[d, name], W, R)
            assert row[f"error {name}"] <= row[f"bound {name}"] * (1 + 1e-6) + 1e-9
            if d == 2:
                assert np.isclose(row[f"error {name}"], row[f"bound {name}"], rtol=1e-5, atol=1e-7)
        sweep.append(row)
print(f"dense LSTM: {results['sizes']['total']:,} parameters, validation {dense_val:.2f} %; "
      f"{len(splits.val):,} validation images, chance 10 %\n")
print(format_table(sweep, [("d", "d", "d"), ("R", "R", "d"), ("params", "parameters", ",d"),
                           ("error W_x", "‖ΔW_x‖/‖W_x‖", ".3f"), ("bound W_x", "bound", ".3f"),
                           ("error W_h", "‖ΔW_h‖/‖W_h‖", ".3f"), ("bound W_h", "bound", ".3f"),
                           ("val", "val acc % (no training)", ".1f")]))
print("\nd = 2: error = bound in every row (asserted); d = 3: error ≤ bound (asserted)")

# %%
fig, ax = plt.subplots(figsize=(7.5, 4.5))
for d, style in zip(CORES, ("-", "--")):
    mine = [row for row in sweep if row["d"] == d]
    for name, color in (("W_x", "tab:blue"), ("W_h", "tab:orange")):
        ax.plot([row["R"] for row in mine], [row[f"error {name}"] for row in mine], style, marker="o", color=color,
                label=f"{name}, d = {d}, measured")
        if d > 2:
            ax.plot([row["R"] for row in mine], [row[f"bound {name}"] for row in mine], ":", marker="x",
                    color=color, label=f"{name}, d = {d}, bound")
ax.set_xscale("log", base=2)
ax.set_xticks(RANKS, [str(R) for R in RANKS])
ax.minorticks_off()
top = max(row[key] for row in sweep for key in row if key.startswith(("error", "bound")))
ax.set(xlabel="TT rank R (every bond)", ylabel="relative error ‖W − W_TT‖ / ‖W‖", ylim=(0, 1.05 * top),
       title=f"TT-SVD of the trained dense LSTM (H = {H}) into the joint layout")
ax.grid(True, alpha=0.3)
ax.legend(fontsize=9)
fig.tight_layout()

# %% [markdown]
# ## 5. Fine-tuning one compressed model, and the same model from scratch
#
# An approximation error that is large in norm can still keep what matters for classification, or not; and
# if it does not, a few epochs of training may recover it. `compress_run` (the function behind
# `ttrnn compress RUN --cores d --rank R --finetune-epochs k`) reloads the run, compresses it, evaluates it, then
# fine-tunes it for $k$ epochs with the run's own recipe and data split, keeps the best validation epoch and
# tests it once. Whether the compressed start helps is only visible against the same joint model trained
# from a random initialisation for the same $k$ epochs with the same recipe, so we train that too.

# %%
log = io.StringIO()
tuned = compress_run(run_dir, finetune["cores"], finetune["rank"], finetune_epochs=finetune["epochs"], stream=log)
print(log.getvalue().replace(str(run_dir), "RUN"), end="")  # its report; RUN is the dense run's (temporary) folder
scratch_config = mnist.MnistConfig.from_dict(tuned["config"])  # joint d, R; the run's recipe; k epochs
with open(os.devnull, "w") as quiet:  # its epoch lines are not needed here
    scratch = mnist.run_experiment(scratch_config, progress=False, stream=quiet)
assert scratch["sizes"]["total"] == tuned["params"]  # the same architecture
ft = {"d": finetune["cores"], "R": finetune["rank"],
      "val": {"compressed": 100 * tuned["compressed"]["val"]["accuracy"],
              "fine-tuned": 100 * tuned["finetuned"]["val"]["accuracy"],
              "from scratch": 100 * scratch["best"]["val_accuracy"]}}
table = [{"model": f"dense, as trained ({epochs} epochs)", "params": results["sizes"]["total"], "val": dense_val,
          "test": 100 * results["test"]["accuracy"]},
         {"model": f"joint d={ft['d']} R={ft['R']}, compressed", "params": tuned["params"],
          "val": ft["val"]["compressed"], "test": 100 * tuned["compressed"]["test"]["accuracy"]},
         {"model": f"  then fine-tuned {finetune['epochs']} epoch(s)", "params": tuned["params"],
          "val": ft["val"]["fine-tuned"], "test": 100 * tuned["finetuned"]["test"]["accuracy"]},
         {"model": f"  the same from scratch, {finetune['epochs']} epoch(s)", "params": scratch["sizes"]["total"],
          "val": ft["val"]["from scratch"], "test": 100 * scratch["test"]["accuracy"]}]
print()
print(format_table(table, [("model", "model", None), ("params", "parameters", ",d"), ("val", "val %", ".2f"),
                           ("test", "test %", ".2f")]))
print(f"\n{'FAST MODE: a tiny fine-tune; ' if FAST else ''}one seed, {tuned['data']['n_train']:,} training images: "
      f"fine-tuned minus from scratch = {ft['val']['fine-tuned'] - ft['val']['from scratch']:+.2f} points "
      "of validation accuracy")

# %% [markdown]
# Accuracy against rank: the compressed models without training (section 4), and the fine-tuned and
# from-scratch models at the one rank trained above.

# %%
fig, ax = plt.subplots(figsize=(10, 4.5))
for d, style in zip(CORES, ("-o", "--s")):
    mine = [row for row in sweep if row["d"] == d]
    ax.plot([row["R"] for row in mine], [row["val"] for row in mine], style, label=f"d = {d}, compressed, no training")
for (what, acc), marker, shift in zip(list(ft["val"].items())[1:], ("*", "P"), (2 ** -0.12, 2 ** 0.12)):
    ax.plot([ft["R"] * shift], [acc], marker, markersize=13, linestyle="none",  # drawn side by side at R
            label=f"d = {ft['d']}, {what} ({finetune['epochs']} epoch{'s' if finetune['epochs'] > 1 else ''})")
ax.axhline(dense_val, color="black", linewidth=1, label=f"dense source, {dense_val:.1f} %")
ax.axhline(10, color="grey", linestyle=":", linewidth=1, label="chance, 10 %")
ax.set_xscale("log", base=2)
ax.set_xticks(RANKS, [str(R) for R in RANKS])
ax.minorticks_off()
ax.set(xlabel="TT rank R (every bond)", ylabel="validation accuracy (%)", ylim=(0, 100),
       title=f"compressing a dense LSTM (H = {H}) into a joint TT-LSTM")
ax.grid(True, alpha=0.3)
ax.legend(fontsize=9, loc="center left", bbox_to_anchor=(1.01, 0.5))
fig.tight_layout()

# %% [markdown]
# ## 6. Do trained LSTM weights have low TT rank?
#
# The table of section 4 is decided by the spectra: for $d = 2$ the squared error at rank $R$ is exactly the
# energy $\sum_{\alpha > R} \sigma_\alpha^2$ beyond $R$ in the one unfolding. A matrix with low TT rank has a
# spectrum that falls fast; a random matrix has a flat one. So we compare the trained $W_x$ and $W_h$ with a
# Gaussian matrix of the same shape and norm, and, since training starts from a random initialisation $W_0$,
# with the change training made, $W - W_0$ (`run_experiment` draws $W_0$ from the seed, so `init_model` with the
# same generator gives it back). Each spectrum is divided by its matrix's norm, so the curves compare shapes;
# the *energy kept* at rank $R$ is $\sum_{\alpha \le R} \sigma_\alpha^2 / \lVert W \rVert^2$.
#
# The same function measures the low-rank family. Its weight block is a TT-matrix of two cores with row modes
# $(M, 1)$ and column modes $(1, GH)$ (docs/method.md §5), so its one unfolding is $W$ itself, and its error at
# rank $R$ is the tail of $W$'s own singular values (exercise 1). The second row of the figure cuts $W$ that way.

# %%
def energy_kept(sigma, R):
    """Σ_{α≤R} σ_α² / Σ_α σ_α²: the fraction of ‖·‖² a rank-R truncation of this unfolding keeps."""
    return float(np.sum(sigma[:R] ** 2) / np.sum(sigma ** 2))


rng = np.random.default_rng(9)
initial = init_model(model, np.random.default_rng([config.seed, 1]), config.dtype)  # as run_experiment draws it
W0 = dict(zip(("W_x", "W_h"), cells.dense_weights(initial["layers"][0])))  # (I, 4H), (H, 4H)
curves = {}  # {name: {label: matrix A (M, 4H)}}
for name, W in (("W_x", W_x), ("W_h", W_h)):
    gaussian = rng.standard_normal(W.shape)  # (M, 4H)
    gaussian *= np.linalg.norm(W) / np.linalg.norm(gaussian)
    change = np.asarray(W, dtype=np.float64) - W0[name]  # (M, 4H)
    curves[name] = {"trained W": W, "Gaussian, same shape and norm": gaussian, "change W − W₀": change}
    cosine = float(np.sum(W * W0[name]) / (np.linalg.norm(W) * np.linalg.norm(W0[name])))
    print(f"{name}: ‖W₀‖/‖W‖ = {np.linalg.norm(W0[name]) / np.linalg.norm(W):.2f}, "
          f"‖W − W₀‖/‖W‖ = {np.linalg.norm(change) / np.linalg.norm(W):.2f}, cosine(W, W₀) = {cosine:.2f}")
    assert cosine > 0.2  # W₀ is this run's initialisation (an unrelated random matrix gives ≈ 0)

cuts = {"joint TT, d = 2": CellConfig("lstm", "joint", I, H, n_cores=2),
        "low-rank UV": CellConfig("lstm", "lowrank", I, H)}  # only their block modes are needed
fig, axes = plt.subplots(2, 2, figsize=(12, 8))
energy = []
for row_axes, (cut, cell) in zip(axes, cuts.items()):
    for ax, name in zip(row_axes, ("W_x", "W_h")):
        ((m, n),) = cell.weight_shapes[name]
        for (label, A), style in zip(curves[name].items(), ("-", "--", "-.")):
            (sigma,) = compress.unfolding_spectra(A, m, n)  # (min(m_0 n_0, m_1 n_1),): one bond
            ax.semilogy(np.arange(1, len(sigma) + 1), sigma / np.linalg.norm(sigma), style, label=label)
            energy.append({"cut": cut, "matrix": name, "what": label,
                           **{f"R={R}": energy_kept(sigma, R) for R in RANKS}})
        ax.set(xlabel="singular value index α", ylabel="σ_α / ‖A‖",
               title=f"{name}, {cut}: unfolding ({m[0]}·{n[0]}) × ({m[1]}·{n[1]})")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=9)
fig.suptitle(f"singular values of the unfolding each layout cuts (trained dense LSTM, H = {H})", fontsize=11)
fig.tight_layout()
print("\nenergy kept at rank R (fraction of ‖A‖²):")
print(format_table(energy, [("cut", "cut", None), ("matrix", "matrix", None), ("what", "matrix A", None)]
                   + [(f"R={R}", f"R={R}", ".2f") for R in RANKS]))

# %%
R_look = 8  # the answer, measured: energy kept at one rank, trained against random
for row in (row for row in energy if row["what"] == "trained W"):
    kept = {other["what"]: other[f"R={R_look}"] for other in energy
            if (other["cut"], other["matrix"]) == (row["cut"], row["matrix"])}
    print(f"{row['cut']}, {row['matrix']}: at R = {R_look} the trained matrix keeps {kept['trained W']:.0%} of its "
          f"energy (relative error {np.sqrt(1 - kept['trained W']):.2f}), a Gaussian matrix "
          f"{kept['Gaussian, same shape and norm']:.0%}, the change W − W₀ {kept['change W − W₀']:.0%}")

# %% [markdown]
# Read the printed lines as the answer for this model: the closer a trained curve lies to the Gaussian one,
# the less low-rank structure that cut can find, and the more of the accuracy fine-tuning has to restore.
# Exercise 1 turns the second row into accuracies. The stored study below asks the same of a dense LSTM with
# $H = 256$ trained for 20 epochs on all the data.

# %% [markdown]
# ## 7. The stored compression study
#
# `scripts/mnist_compress.py` takes a dense LSTM trained on all 50,000 training images (the shipped
# $H = 256$ model of `results/mnist_full/models/`, or one it trains) and, for each $d$ and $R$ asked, compresses it
# (`ttrnn compress`), fine-tunes it for a few epochs with the source's recipe, and trains the same joint model
# from scratch with that recipe for comparison (for as many epochs as the fine-tuning when run with
# `--scratch-epochs`: the same training compute once the dense model exists). It writes
# `results/mnist_compress/summary.csv`, `README.md` (with the command), `compress.png` and the spectra of section 6
# at that scale (`spectra.json`). The cell below reads the CSV (test accuracies, each the one test evaluation of
# its model) and the source's recorded test accuracy.

# %%
stored = read_study("mnist_compress", "python scripts/mnist_compress.py --jobs 2",
                    "hours on 2 cores, resumable; `--source RUN` compresses an existing dense run instead of "
                    "training one")
if stored is not None:
    print(format_table(stored, [("cores", "d", "d"), ("rank", "R", "d"), ("params", "parameters", ",d"),
                                ("error_W_x", "‖ΔW_x‖/‖W_x‖", ".3f"), ("error_W_h", "‖ΔW_h‖/‖W_h‖", ".3f"),
                                ("compressed_test", "compressed %", ".2f"), ("finetune_epochs", "epochs", "d"),
                                ("finetuned_test", "fine-tuned %", ".2f"), ("scratch_epochs", "epochs", "d"),
                                ("scratch_test", "from scratch %", ".2f")]))
    stored_ranks = sorted({row["rank"] for row in stored})
    fig, ax = plt.subplots(figsize=(8, 5))
    for k, d in enumerate(sorted({row["cores"] for row in stored})):
        for key, style, label in (("compressed_test", ":o", "compressed"), ("finetuned_test", "-s", "fine-tuned"),
                                  ("scratch_test", "--^", "from scratch")):
            points = [(row["rank"], row[key]) for row in stored if row["cores"] == d and row[key] is not None]
            if points:
                ax.plot(*zip(*points), style, color=f"C{k}", label=f"d = {d}, {label}")
    compressions = sorted((RESULTS / "mnist_compress" / "compress").glob("*/results.json"))
    if compressions:  # every compression records its source run and the source's one test evaluation
        source = json.loads(compressions[0].read_text())["source"]
        source_test = 100 * source["test"]["accuracy"]
        print(f"\nsource: {source['run']}, {source['params']:,} parameters, test {source_test:.2f} %")
        ax.axhline(source_test, color="black", linewidth=1, label=f"dense source, {source_test:.2f} %")
    ax.set_xscale("log", base=2)
    ax.set_xticks(stored_ranks, [str(R) for R in stored_ranks])
    ax.minorticks_off()
    ax.set(xlabel="TT rank R", ylabel="test accuracy (%)", title="stored study: compressing a trained dense LSTM")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    spectra_json = RESULTS / "mnist_compress" / "spectra.json"
    if spectra_json.is_file():
        print("\nstored spectra: energy kept at rank R by the bond-1 unfolding, trained / Gaussian")
        for d, matrices in json.loads(spectra_json.read_text()).items():
            for name, entry in matrices.items():
                trained, gaussian = np.array(entry["trained"][0]), np.array(entry["random"][0])  # (n_σ,) each
                print(f"  d = {d} {name}: " + ", ".join(f"R={R} {energy_kept(trained, R):.2f} / "
                                                        f"{energy_kept(gaussian, R):.2f}" for R in stored_ranks))

# %% [markdown]
# ## Summary
#
# - An equal budget counts every parameter, the head included; at a few thousand parameters the head's share
#   varies widely between the candidates (section 1 prints it). The families at a budget are small dense,
#   low-rank $UV$ (the matrix analogue of the joint encoding), naive TT and joint TT, with the Kronecker product
#   as the joint family's $R = 1$ slice.
# - Compressing a trained cell is one TT-SVD per stacked matrix; its error is bounded by the singular values
#   beyond $R$ of the unfoldings it cuts, exactly so for $d = 2$.
# - Whether compression after training works is a property of the trained weights' spectra under the cut a
#   layout makes (the joint unfolding, or $W$ itself for low-rank), which section 6 measures against a random
#   matrix; whether compressing or training in TT form is the better route is what the fine-tuned and
#   from-scratch comparison (and the stored study) measure.
#
# ## Exercises
#
# Each exercise has a stub and a `check` call that runs your function against the library: ✓, ✗ with a hint,
# or ○ while the stub is there. Solutions: `tutorials/solutions/compression.py` (try first).
#
# **Exercise 1 (the low-rank family's best case).** Write `my_truncated_svd(W, r)`: factors $U$ $(M, r)$ and
# $V$ $(r, N)$ whose product is the best rank-$r$ approximation of $W$, so that
# $\lVert W - UV \rVert = \big(\sum_{\alpha > r} \sigma_\alpha^2\big)^{1/2}$ (Eckart–Young). This is the
# low-rank layout's compression of a trained matrix. Once it passes, the cell below uses it to turn the
# trained dense LSTM into a low-rank LSTM (`layout="lowrank"`, whose weight block is the two cores
# $U$ $(1, M, 1, r)$ and $V$ $(r, 1, GH, 1)$) and measures it as section 4 measured the joint models.

# %%
def my_truncated_svd(W, r):
    """(U (M, r), V (r, N)) with U V the best rank-r approximation of W."""
    # your code here
    raise NotImplementedError


if check.truncated_svd(my_truncated_svd):
    for r in (4, 16):
        lowrank = mnist.build_model(dataclasses.replace(config, layout="lowrank", rank=r))
        cores = {}
        for name, W in (("W_x", W_x), ("W_h", W_h)):
            U, V = my_truncated_svd(np.asarray(W, dtype=np.float64), r)  # (M, r), (r, 4H)
            cores[name] = [[U.reshape(1, W.shape[0], 1, r).astype(config.dtype),
                            V.reshape(r, 1, W.shape[1], 1).astype(config.dtype)]]  # one block of two cores
        lowrank_params = {"layers": [{**cores, "b": params["layers"][0]["b"]}], "head": params["head"]}
        acc = mnist.evaluate_split(lowrank, lowrank_params, splits.val, config)["accuracy"]
        near = min(sweep, key=lambda row: abs(row["params"] - num_params(lowrank_params)))  # section 4's closest
        print(f"low-rank r = {r}: {num_params(lowrank_params):,} parameters, validation {100 * acc:.1f} % (no "
              f"training); the joint model closest in size, d = {near['d']} R = {near['R']} with "
              f"{near['params']:,}: {near['val']:.1f} %")

# %% [markdown]
# **Exercise 2 (the unfolding TT-SVD cuts).** Write `my_unfolding(W, row_modes, col_modes, k)`: the matrix whose
# singular values are $\sigma_{k,\cdot}$, i.e. $W$ reshaped to $(m_0, \dots, m_{d-1}, n_0, \dots, n_{d-1})$,
# its modes interleaved to $(m_0, n_0, m_1, n_1, \dots)$ and read as
# $(\prod_{l<k} m_l n_l) \times (\prod_{l \ge k} m_l n_l)$, for $k = 1 \dots d-1$. Its rank is the smallest
# $r_k$ an exact TT-matrix of $W$ can have. The cell then compares it with the spectra of section 4 at $d = 3$.

# %%
def my_unfolding(W, row_modes, col_modes, k):
    """The k-th unfolding of W (M, N) with these modes: (∏_{l<k} m_l n_l, ∏_{l≥k} m_l n_l)."""
    # your code here
    raise NotImplementedError


if check.unfolding(my_unfolding):
    ((m, n),) = CellConfig("lstm", "joint", I, H, n_cores=3).weight_shapes["W_h"]
    for k in (1, 2):
        unfolded = my_unfolding(np.asarray(W_h, dtype=np.float64), m, n, k)  # (∏_{l<k} m_l n_l, ∏_{l≥k} m_l n_l)
        sigma = np.linalg.svd(unfolded, compute_uv=False)  # (min of the two,)
        print(f"W_h, d = 3, bond {k}: {len(sigma)} singular values, largest difference from section 4's "
              f"{np.max(np.abs(sigma - spectra[3, 'W_h'][k - 1])):.1e}")

# %% [markdown]
# **Exercise 3 (the size of a low-rank LSTM).** Write `my_lowrank_lstm_params(I, H, r)`: the parameters of a
# low-rank LSTM cell, $W_x = U_x V_x$ and $W_h = U_h V_h$ with one rank $r$, plus its bias. Then the cell
# finds, for $H = 64$, the largest $r$ whose whole model (cell and dense head) fits the budget of section 1,
# and compares it with `configs_for_budget`.

# %%
def my_lowrank_lstm_params(I, H, r):
    """Parameters of a low-rank LSTM cell with input size I, hidden size H and rank r (weights and bias)."""
    # your code here
    raise NotImplementedError


if check.lowrank_lstm_params(my_lowrank_lstm_params):
    H_low = 64
    r_fit = max(r for r in range(1, H_low + 1) if my_lowrank_lstm_params(I, H_low, r) + K * (H_low + 1) <= BUDGET)
    listed = next(c["rank"] for c in configs_for_budget("lowrank", BUDGET, I) if c["hidden_size"] == H_low)
    print(f"H = {H_low}: the largest r within {BUDGET:,} parameters is {r_fit} "
          f"({my_lowrank_lstm_params(I, H_low, r_fit) + K * (H_low + 1):,} with the head); configs_for_budget "
          f"lists r = {listed}")
