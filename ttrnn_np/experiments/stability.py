"""The row-MNIST stability study's pieces: the runs of a learning-rate sweep and the three measurements.

The paper's abstract says the joint TT factorization helps in "stabilizing model training and hyperparameter
selection" (docs/method.md §10).  Three measurements make that testable, for the dense LSTM and a joint
TT-LSTM trained with the paper's recipe:

1. the best validation accuracy over epochs against the learning rate η (``lr_row``; a run whose loss or
   gradient becomes non-finite is recorded as "diverged" and drawn at chance with a cross);
2. the pre-clip global gradient norm ‖g_s‖ of every training step s (``grad_norm_record``);
3. ‖∂L/∂h_t‖ for t = 1..T on a fixed batch, at initialisation and at the best checkpoint (``flow_record``).

``scripts/mnist_stability.py`` runs the whole study and writes ``results/mnist_stability/``; tutorial 07 runs a
tiny version with these functions and reads the stored one.

Index letters: t time step (T), s training step, b image (B in the diagnostic batch), η learning rate.
"""
import json
from pathlib import Path

import numpy as np

from ..checkpoint import load_checkpoint
from ..data.mnist import as_sequences
from ..diagnostics import state_grad_norms
from ..losses import softmax_cross_entropy
from ..rnn import init_model, upgrade_params
from .mnist import MnistConfig, build_model, run_experiment
from .runfolder import checkpoint_dir

__all__ = ["sweep_configs", "train_run", "lr_row", "grad_norm_record", "flow_record", "load_study",
           "plot_lr_sweep", "plot_grad_norm_hist", "plot_time_step_norms"]

LRS = (3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
CHANCE = 0.1
MODELS = ("dense", "tt")


def model_label(config):
    """"dense LSTM" or "joint TT-LSTM d=2 R=4" (with the parameter count left to the caller)."""
    return "dense LSTM" if config.layout == "dense" else f"joint TT-LSTM d={config.cores} R={config.rank}"


def sweep_configs(lrs=LRS, hidden_size=256, epochs=2, train_subset=8_000, val_subset=2_000, data="full", cores=2,
                  rank=4, seed=0):
    """{("dense" | "tt", η): MnistConfig} of every run: the paper's recipe (Adam, no clipping, η ×0.1 every 10
    epochs, batch 128) at the given budget, for the dense LSTM and a joint TT-LSTM with ``cores`` and ``rank``."""
    common = dict(hidden_size=hidden_size, epochs=epochs, schedule="step", step_size=10, gamma=0.1, clip=None,
                  seed=seed, data=data, train_subset=train_subset, val_subset=val_subset)
    layouts = {"dense": dict(layout="dense"), "tt": dict(layout="joint", cores=cores, rank=rank)}
    return {(model, lr): MnistConfig(lr=lr, **layouts[model], **common) for model in MODELS for lr in sorted(set(lrs))}


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
    from matplotlib.ticker import FixedLocator, NullFormatter, StrMethodFormatter
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
    ax.xaxis.set_major_locator(FixedLocator(_log_ticks(edges[0], edges[-1])))
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_xlabel("pre-clip global gradient norm ‖g‖ (log scale)")
    ax.set_ylabel("training steps")
    ax.set_title(f"η = {next(iter(records.values()))['lr']:g}", fontsize=9)
    ax.legend(fontsize=8)
    return fig, ax


def _log_ticks(lo, hi, most=8):
    """Labelled ticks for a log axis from lo to hi: 1, 2, 5 × 10^k; on a range too short for three of those,
    1, 2, 3, 5 × 10^k, else every 1…9 × 10^k, else (a range inside one such step) evenly spaced round numbers;
    on a range that would need more than ``most``, the powers of ten."""
    from matplotlib.ticker import MaxNLocator
    decades = 10.0 ** np.arange(np.floor(np.log10(lo)), np.ceil(np.log10(hi)) + 1)  # (n,)

    def inside(subs):
        ticks = np.outer(decades, subs).ravel()  # (n · len(subs),)
        return ticks[(ticks >= lo) & (ticks <= hi)]

    ticks = inside((1, 2, 5))
    if len(ticks) > most:
        return inside((1,))
    for finer in ((1, 2, 3, 5), range(1, 10)):
        if len(ticks) >= 3:
            break
        ticks = inside(finer)
    if len(ticks) < 2:
        ticks = MaxNLocator(5, steps=[1, 2, 5, 10]).tick_values(lo, hi)  # (≤ 7,)
        ticks = ticks[(ticks >= lo) & (ticks <= hi)]
    return ticks


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


def load_study(root):
    """The stored study ``root``/stability.json as a dict, or None if it is not there."""
    path = Path(root) / "stability.json"
    return json.loads(path.read_text()) if path.is_file() else None
