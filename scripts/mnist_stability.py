"""Row-MNIST stability: learning-rate robustness, gradient-norm histograms and gradient flow through time.

The paper's abstract says the joint TT factorization helps in "stabilizing model training and hyperparameter
selection" (see docs/method.md §10); its only evidence is a gradient-norm histogram from speaker verification and no
learning-rate sweep was stored.  This script measures three things on row-MNIST (T = 28 steps of F = 28
pixels) for the dense LSTM and a joint TT-LSTM (H = 256, TT head), trained with the paper's recipe (Adam, no
clipping, lr ×0.1 every 10 epochs, batch 128) at a reduced budget:

1. **Learning-rate sweep.**  For each η in ``--lrs`` and each model, the best validation accuracy over epochs,
   a*(η).  A run whose loss or gradient norm becomes non-finite stops (``TrainingDiverged``); it is recorded
   with status "diverged" and drawn at chance (10 %) with a cross.
2. **Gradient-norm histograms.**  The pre-clip global norm ‖g_s‖ = (Σ_θ ‖∂L_s/∂θ‖²)^{1/2} of every training
   step s of the run at ``--hist-lr`` (the first ``--hist-steps`` steps), dense against TT (docs/method.md §11).
3. **Gradient flow through time.**  ‖∂L/∂h_t‖ for t = 1..T (``diagnostics.state_grad_norms``) on a fixed
   batch of B validation images, at initialisation and with the best-validation parameters of the
   ``--hist-lr`` run.  L is the batch-mean cross-entropy.

Index letters: t time step (T), s training step, b image (B in the diagnostic batch), η learning rate.

Outputs in ROOT: ``runs/<run>_lr<η>/`` (run directories of ``ttrnn mnist``: checkpoints, results.json),
``stability.json`` (all numbers), ``lr_sweep.png``, ``grad_norm_hist.png``, ``time_step_grad_norms.png`` and
``README.md`` (command, budget, wall time, machine, tables).  Resumable: a finished run (complete or diverged)
with the same settings is not retrained, an interrupted one continues from its ``last`` checkpoint.

    python scripts/mnist_stability.py --train-subset 8000 --val-subset 2000 --epochs 2 --blas-threads 1
    python scripts/mnist_stability.py --data mini --hidden-size 16 --epochs 1 --lrs 1e-3 1e-2   # seconds
"""
import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from ttrnn_np.checkpoint import jsonable, load_checkpoint
from ttrnn_np.cli import add_deprecated_alias
from ttrnn_np.data.mnist import as_sequences
from ttrnn_np.diagnostics import state_grad_norms
from ttrnn_np.experiments.mnist import MnistConfig, build_model, prepare_data, run_experiment
from ttrnn_np.experiments.runfolder import checkpoint_dir
from ttrnn_np.experiments.report import markdown_table
from ttrnn_np.experiments.runtime import machine_info, set_blas_threads
from ttrnn_np.losses import softmax_cross_entropy
from ttrnn_np.rnn import init_model, upgrade_params

ROOT = Path("results/mnist_stability")
LRS = (3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
CHANCE = 0.1
MODELS = ("dense", "tt")
LR_COLUMNS = [("model", "model", None), ("lr", "lr", "g"), ("status", "status", None),
              ("epochs_run", "epochs", "d"), ("best_val_pct", "best val acc %", ".2f"),
              ("diverged_step", "diverged at step", "d"), ("examples_per_s", "examples/s", ".0f")]


def model_label(config):
    """"dense LSTM" or "joint TT-LSTM d=2 R=4" (with the parameter count left to the caller)."""
    return "dense LSTM" if config.layout == "dense" else f"joint TT-LSTM d={config.cores} R={config.rank}"


def sweep_configs(options):
    """{("dense" | "tt", η): MnistConfig} of every run: the paper's recipe at the options' budget."""
    common = dict(hidden_size=options.hidden_size, epochs=options.epochs, schedule="step", step_size=10, gamma=0.1,
                  clip=None, seed=options.seed, data=options.data, train_subset=options.train_subset,
                  val_subset=options.val_subset)
    layouts = {"dense": dict(layout="dense"), "tt": dict(layout="joint", cores=options.cores, rank=options.rank)}
    lrs = sorted(set(options.lrs) | {options.hist_lr})
    return {(model, lr): MnistConfig(lr=lr, **layouts[model], **common) for model in MODELS for lr in lrs}


def run_dir(root, config):
    """ROOT/runs/<name>_lr<η>, e.g. runs/lstm_dense_row_lr0.001."""
    return Path(root) / "runs" / f"{config.name}_lr{config.lr:g}"


def train_run(config, root, data_dir=None, stream=None):
    """Train one run into ``run_dir`` (or return its stored results); returns the results dict."""
    out = run_dir(root, config)
    stored = out / "results.json"
    resume = stored.exists() or (checkpoint_dir(out) / "last.json").exists()
    out.mkdir(parents=True, exist_ok=True)
    command = f"ttrnn mnist {' '.join(_cli_flags(config))} --out {out}"
    return run_experiment(config, out=out, resume=resume, data_dir=data_dir, progress=False, stream=stream,
                          command=command)


def _cli_flags(config):
    """The ``ttrnn mnist`` flags that reproduce ``config`` (for the record)."""
    flags = ["--recipe", "paper", "--layout", config.layout, "--hidden-size", str(config.hidden_size),
             "--lr", f"{config.lr:g}", "--epochs", str(config.epochs), "--data", config.data,
             "--seed", str(config.seed)]
    if config.layout != "dense":
        flags += ["--cores", str(config.cores), "--rank", str(config.rank)]
    for name in ("train_subset", "val_subset"):
        if getattr(config, name) is not None:
            flags += [f"--{name.replace('_', '-')}", str(getattr(config, name))]
    return flags


def lr_row(model, results):
    """One row of the learning-rate table from a run's results (best val accuracy None if none was measured)."""
    best, diverged = results.get("best"), results.get("diverged")
    return {"model": model, "lr": results["config"]["lr"], "status": results["status"],
            "epochs_run": results["epochs_run"],
            "best_val_pct": None if best is None else 100 * best["val_accuracy"],
            "diverged_step": None if diverged is None else diverged["step"],
            "examples_per_s": results["examples_per_s"], "params": results["sizes"]["total"]}


def grad_norm_record(results, steps):
    """{"lr", "norms": pre-clip ‖g_s‖ of the first ``steps`` steps, quantiles} of one run."""
    history = results.get("history") or {"steps": {"grad_norm": []}}
    norms = [float(g) for g in history["steps"]["grad_norm"][:steps]]
    q = np.percentile(norms, [5, 50, 95]) if norms else [None] * 3  # (3,)
    return {"lr": results["config"]["lr"], "steps": len(norms), "norms": norms,
            "p05": _float(q[0]), "median": _float(q[1]), "p95": _float(q[2])}


def _float(x):
    return None if x is None else float(x)


def time_step_norms(config, params, images, labels):
    """‖∂L/∂h_t‖ for t = 1..T, shape (T,), of the batch-mean cross-entropy on images (B, 28, 28), labels (B,)."""
    model = build_model(config)
    X = as_sequences(images, config.view, seed=config.perm_seed, dtype=config.dtype)  # (B, T, F)
    norms = state_grad_norms(model, params, X, lambda logits: softmax_cross_entropy(logits, labels))
    return norms["h"][0]  # (T,) of the only layer


def flow_record(config, root, images, labels):
    """{"init": (T,) list, "trained": (T,) list or None}: at initialisation and at the run's best checkpoint."""
    model = build_model(config)
    init_params = init_model(model, np.random.default_rng([config.seed, 1]), config.dtype)  # as run_experiment
    best = checkpoint_dir(run_dir(root, config)) / "best"
    trained = None
    if Path(f"{best}.json").exists():
        trained = time_step_norms(config, upgrade_params(load_checkpoint(best)[0]), images, labels).tolist()
    return {"init": time_step_norms(config, init_params, images, labels).tolist(), "trained": trained}


def plot_lr_sweep(rows, labels, ax=None):
    """Best validation accuracy (%) against η (log x), one line per model; diverged runs at chance, crossed."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4)) if ax is None else (ax.figure, ax)
    for model in MODELS:
        mine = sorted((r for r in rows if r["model"] == model), key=lambda r: r["lr"])
        if not mine:
            continue
        y = [100 * CHANCE if r["best_val_pct"] is None or r["status"] == "diverged" else r["best_val_pct"]
             for r in mine]
        (line,) = ax.plot([r["lr"] for r in mine], y, marker="o", label=labels[model])
        bad = [(r["lr"], v) for r, v in zip(mine, y) if r["status"] == "diverged"]
        if bad:
            ax.plot(*zip(*bad), linestyle="none", marker="x", markersize=11, markeredgewidth=2,
                    color=line.get_color(), label=f"{labels[model]}: diverged (drawn at chance)")
    ax.axhline(100 * CHANCE, color="0.6", linestyle=":", linewidth=1, label="chance (10 %)")
    ax.set_xscale("log")
    ax.set_xlabel("Adam learning rate η (log scale)")
    ax.set_ylabel("best validation accuracy (%)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig, ax


def plot_grad_norm_hist(records, labels, ax=None, bins=40):
    """Histograms of the pre-clip global gradient norm per step, one per model, on shared log-spaced bins."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter
    fig, ax = plt.subplots(figsize=(6, 4)) if ax is None else (ax.figure, ax)
    records = {model: r for model, r in records.items() if r["norms"]}  # a run that diverged in epoch 1 has none
    if not records:
        ax.text(0.5, 0.5, "no logged steps (every run diverged in its first epoch)", ha="center",
                transform=ax.transAxes)
        return fig, ax
    everything = np.concatenate([r["norms"] for r in records.values()])  # (all steps,)
    edges = np.geomspace(everything.min(), everything.max(), bins + 1)  # (bins + 1,)
    for model, record in records.items():
        ax.hist(record["norms"], bins=edges, alpha=0.55,
                label=f"{labels[model]} (median {record['median']:.3g}, {record['steps']} steps)")
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())  # the minor labels of a short log axis overlap
    ax.set_xlabel("pre-clip global gradient norm ‖g‖ (log scale)")
    ax.set_ylabel("training steps")
    ax.set_title(f"η = {next(iter(records.values()))['lr']:g}", fontsize=9)
    ax.legend(fontsize=8)
    return fig, ax


def plot_time_step_norms(flows, labels, ax=None):
    """‖∂L/∂h_t‖ against t = 1..T (log y): solid after training, dashed at initialisation, one colour per model."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4)) if ax is None else (ax.figure, ax)
    for model, flow in flows.items():
        t = np.arange(1, len(flow["init"]) + 1)  # (T,)
        (line,) = ax.plot(t, flow["init"], linestyle="--", label=f"{labels[model]}, at init")
        if flow["trained"] is not None:
            ax.plot(t, flow["trained"], color=line.get_color(), label=f"{labels[model]}, trained (best val)")
    ax.set_yscale("log")
    ax.set_xlabel("time step t (image row)")
    ax.set_ylabel("‖∂L/∂h_t‖")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig, ax


def _save(plotter, path, *args):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, _ = plotter(*args)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_readme(root, report):
    """ROOT/README.md: command, budget, wall time, machine, the tables and the figures."""
    budget, machine = report["budget"], report["machine"]
    blas, labels = machine["blas"], report["labels"]
    hist = "\n".join(f"| {labels[m]} | {r['lr']:g} | {r['steps']} | {_fmt(r['p05'])} | {_fmt(r['median'])} | "
                     f"{_fmt(r['p95'])} |" for m, r in report["grad_norms"].items())
    flow = "\n".join(f"| {labels[m]} | {_ratio(f['init'])} | {_ratio(f['trained'])} |"
                     for m, f in report["time_step_grad_norms"].items())
    lines = ["# Row-MNIST stability: learning rate, gradient norms, gradient flow", "",
             "Generated by `scripts/mnist_stability.py`; every number is in `stability.json`.", "",
             "## How it was run", "", f"- command: `{report['command']}`",
             f"- budget: {budget['train_images']:,} training images ({budget['n_train']:,} used; 50,000 is the full "
             f"split), {budget['val_images']:,} validation images, {budget['epochs']} epoch(s) of "
             f"{budget['steps_per_epoch']} steps, batch 128, H = {budget['hidden_size']}; the paper's recipe otherwise "
             "(Adam, no clipping, lr ×0.1 every 10 epochs, so no decay happens within this budget)",
             f"- wall time: the runs took {report['runs_wall_time_s'] / 60:.1f} min together (data, training, "
             f"evaluation, as each run last recorded it); the invocation that wrote this file took "
             f"{report['wall_time_s'] / 60:.1f} min (less when the runs were already done)",
             f"- machine: {machine['cpu_count']} cores (shared with other jobs), {blas['name']} {blas['version']} "
             f"with {blas['threads']} thread(s), numpy {machine['numpy']}, autograd {machine['autograd']}, "
             f"Python {machine['python']}", "",
             "## 1. Best validation accuracy against the learning rate", "",
             markdown_table([{**r, "model": labels[r["model"]]} for r in report["lr_sweep"]], LR_COLUMNS), "",
             "![accuracy vs learning rate](lr_sweep.png)", "",
             "## 2. Pre-clip global gradient norm per training step", "",
             "| model | lr | steps | 5th pct | median | 95th pct |", "|---|---|---|---|---|---|", hist, "",
             "![gradient norm histograms](grad_norm_hist.png)", "",
             f"## 3. Gradient flow through time, ‖∂L/∂h_t‖ on {report['diag_batch']} validation images", "",
             "Ratio ‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ (below 1: the first rows get less gradient than the last).", "",
             "| model | at init | trained |", "|---|---|---|", flow, "",
             "![gradient flow](time_step_grad_norms.png)"]
    (Path(root) / "README.md").write_text("\n".join(lines) + "\n")
    return Path(root) / "README.md"


def _fmt(x):
    return "-" if x is None else f"{x:.3g}"


def _ratio(curve):
    return "-" if curve is None else f"{curve[0] / curve[-1]:.3g}"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=ROOT, help=f"results directory (default {ROOT})")
    parser.add_argument("--lrs", type=float, nargs="+", default=list(LRS), help="learning rates of the sweep")
    parser.add_argument("--hist-lr", type=float, default=1e-2,
                        help="lr of the gradient-norm and gradient-flow analyses (default 1e-2, the paper's)")
    parser.add_argument("--hist-steps", type=int, default=1000, help="first steps in the histograms (1000)")
    parser.add_argument("--cores", "-d", type=int, default=2, help="TT cores d of the TT-LSTM (default 2)")
    parser.add_argument("--rank", "-R", type=int, default=4, help="TT rank R of the TT-LSTM (default 4)")
    parser.add_argument("--hidden-size", "-H", type=int, default=256, help="hidden units H (default 256)")
    add_deprecated_alias(parser, "--hidden", "--hidden-size", dest="hidden_size", type=int)
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run (default 2)")
    parser.add_argument("--train-subset", type=int, default=8_000, help="training images per run (8,000)")
    parser.add_argument("--val-subset", type=int, default=2_000, help="validation images per run (2,000)")
    parser.add_argument("--diag-batch", type=int, default=256, help="images in the gradient-flow batch (256)")
    parser.add_argument("--data", choices=("full", "mini"), default="full", help="full (default) or mini")
    parser.add_argument("--data-dir", default=None, help="folder holding the four MNIST IDX files")
    parser.add_argument("--seed", type=int, default=0, help="seed of every run (default 0)")
    parser.add_argument("--blas-threads", type=int, default=None, help="OpenBLAS threads (default: as configured)")
    parser.add_argument("--quiet", action="store_true", help="send the runs' epoch lines to runs/*/log.txt only")
    options = parser.parse_args(argv)
    for name in ("hist_steps", "epochs", "train_subset", "diag_batch"):
        if getattr(options, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(options, name)}")
    return options


def main(argv=None):
    options = parse_args(argv)
    wall_start = time.perf_counter()
    if options.blas_threads is not None:
        set_blas_threads(options.blas_threads)
    configs = sweep_configs(options)
    results = {}
    for (model, lr), config in configs.items():
        out = run_dir(options.root, config)
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "log.txt", "a") as log:
            results[model, lr] = train_run(config, options.root, options.data_dir,
                                           stream=log if options.quiet else None)
        r = results[model, lr]
        print(f"{out.name}: {r['status']}, best val "
              f"{'-' if r['best'] is None else format(100 * r['best']['val_accuracy'], '.2f')} %", flush=True)
    labels = {model: f"{model_label(configs[model, options.hist_lr])} "
                     f"({results[model, options.hist_lr]['sizes']['total']:,} params)" for model in MODELS}
    splits = prepare_data(configs["dense", options.hist_lr], options.data_dir)
    images = splits.val.images[:options.diag_batch]  # (B, 28, 28) uint8
    y = splits.val.labels[:options.diag_batch]  # (B,)
    any_result = results["dense", options.hist_lr]
    n_train = any_result["data"]["n_train"]
    report = {"command": "python scripts/mnist_stability.py " + shlex.join(sys.argv[1:] if argv is None else argv),
              "budget": {"train_images": options.train_subset, "n_train": n_train,
                         "val_images": any_result["data"]["n_val"], "epochs": options.epochs,
                         "steps_per_epoch": -(-n_train // configs["dense", options.hist_lr].batch_size),
                         "hidden_size": options.hidden_size, "data": options.data},
              "labels": labels,
              "lr_sweep": [lr_row(model, r) for (model, lr), r in results.items() if lr in options.lrs],
              "grad_norms": {m: grad_norm_record(results[m, options.hist_lr], options.hist_steps) for m in MODELS},
              "time_step_grad_norms": {m: flow_record(configs[m, options.hist_lr], options.root, images, y)
                                       for m in MODELS},
              "diag_batch": len(y), "runs_wall_time_s": sum(r["wall_time_s"] for r in results.values()),
              "machine": machine_info(), "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
    root = options.root
    _save(plot_lr_sweep, root / "lr_sweep.png", report["lr_sweep"], labels)
    _save(plot_grad_norm_hist, root / "grad_norm_hist.png", report["grad_norms"], labels)
    _save(plot_time_step_norms, root / "time_step_grad_norms.png", report["time_step_grad_norms"], labels)
    report["wall_time_s"] = time.perf_counter() - wall_start
    (root / "stability.json").write_text(json.dumps(jsonable(report), indent=1))
    write_readme(root, report)
    print(f"→ {root / 'stability.json'}, lr_sweep.png, grad_norm_hist.png, time_step_grad_norms.png, README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
