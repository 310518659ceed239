"""Saved runs: rebuild a run's model from its folder, evaluate it again, list runs, draw a run's history.

A run folder is what ``ttrnn mnist`` / ``ttrnn speaker`` write (``runfolder``: ``results.json`` and
``checkpoints/best``, ``checkpoints/last``).  Its configuration is read from ``results.json`` or, for a run
that has not finished, from the checkpoint's stored settings.

    config, model, params = load_run("runs/mnist/lstm_joint_d2_R2_row")   # the best-validation parameters
    logits = rnn.forward(model, params, X)                                 # X (B, T, F)

``load_run`` is the one way to get a trained model back; ``evaluate_run`` reproduces the recorded test
numbers from it; ``run_row`` is one line of ``ttrnn runs``; ``plot_history`` draws ``ttrnn plot``.
"""
import math
from pathlib import Path

import numpy as np

from ..checkpoint import load_checkpoint
from ..errors import DataError
from ..rnn import upgrade_params
from .runfolder import LOCK_FILE, RESULTS_FILE, checkpoint_dir, read_json

__all__ = ["load_run", "run_kind", "evaluate_run", "run_row", "run_history", "plot_history"]


def _stored(path):
    """(results dict or None, config dict) of the run in ``path``."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no run folder {path}: give the folder a training command wrote (its --out)")
    results = read_json(path / RESULTS_FILE) if (path / RESULTS_FILE).is_file() else None
    if results is not None and "config" in results:
        return results, results["config"]
    for name in ("last", "best"):
        if (checkpoint_dir(path) / f"{name}.json").is_file():
            meta = load_checkpoint(checkpoint_dir(path) / name)[2]
            return results, meta["settings"]["config"]
    raise FileNotFoundError(f"{path} holds no run: neither {RESULTS_FILE} nor checkpoints/last were found")


def run_kind(results, config):
    """"mnist" or "speaker": which experiment wrote a run, from its results and config."""
    if (results or {}).get("experiment") == "mnist" or "view" in config:
        return "mnist"
    if "embed_dim" in config:
        return "speaker"
    raise DataError(f"unknown kind of run: its config has the fields {sorted(config)}")


def load_run(path):
    """``(config, model, params)`` of the run in ``path``: its config object (``MnistConfig`` or
    ``SpeakerConfig``), the ``ModelConfig`` rebuilt from it, and the parameters of its best checkpoint.

    For a speaker run, ``params`` is the whole tree {"encoder", "ge2e"}; the model reads ``params["encoder"]``.
    Raises ``FileNotFoundError`` when ``path`` holds no run or no best checkpoint (a run that diverged in its
    first epoch has none) and ``errors.DataError`` for a damaged file.
    """
    results, stored = _stored(path)
    kind = run_kind(results, stored)
    if kind == "mnist":
        from .mnist import MnistConfig, build_model
        config = MnistConfig.from_dict(stored)
        model = build_model(config)
    else:
        from .speaker import SpeakerConfig, encoder_config
        config = SpeakerConfig(**stored)
        model = encoder_config(config)
    best = checkpoint_dir(path) / "best"
    if not Path(f"{best}.json").is_file():
        raise FileNotFoundError(f"{path} has no best checkpoint ({best}.json): the run ended before its first "
                                "evaluation (diverged or interrupted in the first epoch)")
    params = upgrade_params(load_checkpoint(best)[0])
    return config, model, params


def evaluate_run(path, split="test", data_dir=None, predictions=False):
    """Evaluate the best parameters of an MNIST run on ``split`` ("test", "val" or "train").

    Returns {"loss", "accuracy"[, "predictions", "labels"], "recorded"}; "recorded" is the run's own test
    numbers (None for another split or an unfinished run), which a test evaluation reproduces exactly.
    """
    from .mnist import evaluate_split, prepare_data
    config, model, params = load_run(path)
    results, stored = _stored(path)
    if run_kind(results, stored) != "mnist":
        raise ValueError(f"{path} is a speaker run; ttrnn evaluate reads MNIST runs (the speaker run's test EER "
                         "is in its results.json)")
    if split not in ("test", "val", "train"):
        raise ValueError(f"split must be test, val or train, got {split!r}")
    data = getattr(prepare_data(config, data_dir=data_dir), split)
    metrics = evaluate_split(model, params, data, config, predictions=predictions)
    if predictions:
        metrics["labels"] = data.labels  # (N,)
    recorded = (results or {}).get("test") if split == "test" else None
    return {**metrics, "recorded": recorded, "config": config}


def _pct(value, what):
    """A fraction as "12.34 % what", "-" when missing."""
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.2f} % {what}"


def _status(path, results):
    if results is not None:
        return results.get("status", "complete")
    return "running" if (Path(path) / LOCK_FILE).exists() else "interrupted"


def run_row(path, root=None):
    """One row of ``ttrnn runs``: {"run", "kind", "status", "model", "params", "epochs", "best_val", "test"}."""
    results, config = _stored(path)
    kind = run_kind(results, config)
    name = str(Path(path).relative_to(root)) if root is not None and Path(path) != Path(root) else str(path)
    tt = "" if config.get("layout") == "dense" else f" d={config.get('cores')} R={config.get('rank')}"
    hidden = config.get("hidden_size", config.get("hidden"))
    row = {"run": name, "kind": kind, "status": _status(path, results),
           "model": f"{config.get('cell', 'lstm')} {config.get('layout')}{tt} H={hidden}",
           "params": None, "epochs": None, "best_val": "-", "test": "-"}
    if results is None:
        return row
    row["params"] = results.get("sizes", {}).get("total")
    best = results.get("best") or {}
    if kind == "mnist":
        row["epochs"] = results.get("epochs_run")
        row["best_val"] = _pct(best.get("val_accuracy"), "acc")
        row["test"] = _pct((results.get("test") or {}).get("accuracy"), "acc")
    else:
        row["epochs"] = results.get("steps")
        row["best_val"] = _pct(best.get("val_eer"), "EER")
        row["test"] = _pct(best.get("test_eer"), "EER")
    return row


def run_history(path):
    """A run's history in one form: {"kind", "loss" (per step), "grad_norm" (per step), "steps_per_epoch",
    "epochs": [{"epoch", metric: value ...}]} — from results.json, else from the last checkpoint."""
    results, config = _stored(path)
    kind = run_kind(results, config)
    history = (results or {}).get("history")
    if history is None and (checkpoint_dir(path) / "last.json").is_file():
        history = load_checkpoint(checkpoint_dir(path) / "last")[2]["history"]
    if not history:
        raise FileNotFoundError(f"{path} has no training history yet (no results.json and no checkpoints/last)")
    if "steps" in history:  # fit's own history (MNIST)
        steps, epochs = history["steps"], history["epochs"]
    else:  # the speaker run's summary
        steps, epochs = {"loss": history["loss"], "grad_norm": history["grad_norm"]}, history["evals"]
    per_epoch = len(steps["loss"]) / max(len(epochs), 1)
    return {"kind": kind, "loss": steps["loss"], "grad_norm": steps["grad_norm"], "steps_per_epoch": per_epoch,
            "epochs": epochs}


def plot_history(path, png=None):
    """Draw the run's training loss, validation metric and gradient norm per step to ``png``
    (default ``<run>/history.png``); returns the path written."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ModuleNotFoundError("drawing needs matplotlib: pip install matplotlib (or the tutorials extra, "
                                  "pip install 'ttrnn_np[tutorials]')") from None
    h = run_history(path)
    png = Path(png) if png is not None else Path(path) / "history.png"
    steps = np.arange(1, len(h["loss"]) + 1)  # (S,)
    ends = [(i + 1) * h["steps_per_epoch"] for i in range(len(h["epochs"]))]  # step at each epoch's end
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    axes[0].plot(steps, h["loss"], linewidth=0.7, alpha=0.6, label="training loss per step")
    if h["epochs"] and "val_loss" in h["epochs"][0]:
        axes[0].plot(ends, [e["val_loss"] for e in h["epochs"]], marker="o", label="validation loss")
    axes[0].set(xlabel="step", ylabel="loss", title="loss")
    if h["kind"] == "mnist":
        for key, label in (("train_accuracy", "training"), ("val_accuracy", "validation")):
            values = [100 * e[key] for e in h["epochs"] if key in e]
            if values:
                axes[1].plot(ends[:len(values)], values, marker="o", label=label)
        axes[1].set(xlabel="step", ylabel="accuracy (%)", title="accuracy per epoch")
    else:
        for key, label in (("train_eer", "training batches"), ("val_eer", "validation"), ("test_eer", "test")):
            values = [100 * e[key] for e in h["epochs"] if key in e]
            if values:
                axes[1].plot(ends[:len(values)], values, marker="o", label=label)
        axes[1].set(xlabel="step", ylabel="EER (%)", title="equal error rate per evaluation")
    axes[2].semilogy(steps, h["grad_norm"], linewidth=0.7)
    axes[2].set(xlabel="step", ylabel="‖g‖ before clipping", title="global gradient norm")
    for ax in axes[:2]:
        ax.legend(fontsize=8)
    for ax in axes:
        ax.grid(True, alpha=0.3)
    fig.suptitle(str(path), fontsize=9)
    fig.tight_layout()
    try:
        png.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(png, dpi=110)
    except OSError as err:
        from ..errors import output_error
        raise output_error(png, err) from err
    finally:
        plt.close(fig)
    return png
