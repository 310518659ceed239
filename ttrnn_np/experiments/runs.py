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

__all__ = ["load_run", "recorded_blas_threads", "run_kind", "EER_TOLERANCE", "evaluate_run", "run_row", "run_history",
           "plot_history"]


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


def recorded_blas_threads(path):
    """The BLAS thread count the run in ``path`` trained with (its results' machine record), else 1.  Evaluating
    with the same count reproduces its float32 sums bit for bit: OpenBLAS splits a product differently across
    threads, which moves a mean loss in its 8th digit."""
    results, _ = _stored(path)
    return ((results or {}).get("machine") or {}).get("blas", {}).get("threads") or 1


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


# Speaker runs: the largest |recomputed − recorded| EER (a fraction) still called a reproduction.  An EER
# depends on the trial scores only through their order (the interpolation is float64 arithmetic on counts), so
# float32 rounding in the embeddings changes it only if it reorders two trials right at a crossing of the
# FPR and FNR curves; such a swap moves it by about 1 / (number of trials) (6e-5 measured for the AN4
# enrolment trials, 6e-6 expected for the pairwise ones), far above this tolerance.  Measured on the shipped
# AN4 runs (results/speaker/study/models): the encoder's twelve numbers of every run (two test sets × two
# protocols × EER, low, high) are bit-identical to the recorded ones with 1 or 2 BLAS threads, with 37 windows
# per forward pass instead of 256, and even with the parameters cast to float64, which moves the embeddings by
# up to 4e-7 and reorders about 20 of the 17,160 enrolment trials, none at a crossing.
EER_TOLERANCE = 1e-9


def evaluate_run(path, split="test", data_dir=None, predictions=False, an4_dir=None, librispeech_dir=None,
                 cache_dir=None):
    """Evaluate the best parameters of a run on ``split`` and compare with the numbers the run recorded.

    MNIST runs: ``split`` "test", "val" or "train" from ``data_dir``; returns {"kind": "mnist", "loss",
    "accuracy"[, "predictions", "labels"], "recorded", "reproduced", "config"}; "recorded" is the run's own
    test numbers (None for another split or an unfinished run), which a test evaluation reproduces exactly.

    Speaker runs: ``split`` "test" or "val"; the data are rebuilt from the run's config (``speaker.load_data``
    with ``an4_dir``, ``librispeech_dir``, ``cache_dir``: the same split seed gives the same held-out speakers
    and trials, the training frames the same normalisation).  "test" scores every test set the run had (AN4's
    evaluation speakers; LibriSpeech test-other when it was loaded) with both protocols' EERs and 95 % intervals,
    and the no-training baseline on the same trials; "val" gives the validation EERs that chose the checkpoint.
    Returns {"kind": "speaker", "scores", "trials" (``speaker.trial_counts`` per test set), "recorded",
    "differences" ("tests/an4/enrolment/eer" … → {"recomputed", "recorded", "difference"}), "reproduced"
    (every |difference| ≤ ``EER_TOLERANCE``), "config"}; "recorded", "differences" and "reproduced" are None
    for an unfinished run.  Evaluation data that do not match the run's recorded split or trial counts raise
    ``errors.DataError``; missing corpora raise ``FileNotFoundError``.
    """
    results, stored = _stored(path)
    if run_kind(results, stored) == "speaker":
        if predictions:
            raise ValueError("class predictions (predictions=True) are for MNIST runs; a speaker run has none")
        if data_dir is not None:
            raise ValueError("data_dir (the MNIST folder) does not apply to a speaker run: give its corpora as "
                             "an4_dir and librispeech_dir")
        return _evaluate_speaker(path, results, split, an4_dir, librispeech_dir, cache_dir)
    from .mnist import evaluate_split, prepare_data
    config, model, params = load_run(path)
    if split not in ("test", "val", "train"):
        raise ValueError(f"split must be test, val or train, got {split!r}")
    data = getattr(prepare_data(config, data_dir=data_dir), split)
    metrics = evaluate_split(model, params, data, config, predictions=predictions)
    if predictions:
        metrics["labels"] = data.labels  # (N,)
    recorded = (results or {}).get("test") if split == "test" else None
    reproduced = None if recorded is None else (recorded["accuracy"] == metrics["accuracy"] and
                                                recorded["loss"] == metrics["loss"])
    return {"kind": "mnist", **metrics, "recorded": recorded, "reproduced": reproduced, "config": config}


def _flat(tree, prefix=""):
    """{"an4/enrolment/eer": value, …}: the numbers of a nested dict by their slash-joined keys."""
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in _flat(sub, f"{prefix}{key}/").items()}
    return {prefix[:-1]: tree}


def _check_same_data(path, results, data):
    """DataError unless the rebuilt split and test trials are those the run recorded."""
    recorded = (results or {}).get("data")
    if recorded is None:
        return
    from .speaker import trial_counts
    if recorded.get("split") is not None and recorded["split"] != data["split"]:
        differ = {part: sorted(set(recorded["split"][part]) ^ set(data["split"][part])) for part in data["split"]}
        raise DataError(f"{path}: the AN4 speakers found split differently from the run's recorded split "
                        f"(speakers in one but not the other: {differ}); evaluate with the corpus the run was "
                        "trained on")
    for name, counts in recorded.get("tests", {}).items():
        found = trial_counts(data["tests"][name], data["test_enrol"][name]) if name in data["tests"] else None
        if found != counts:
            raise DataError(f"{path}: the test set {name!r} rebuilt from the data has {found} but the run recorded "
                            f"{counts}; evaluate with the corpus the run was trained on")


def _evaluate_speaker(path, results, split, an4_dir, librispeech_dir, cache_dir):
    """``evaluate_run`` for a speaker run (see there)."""
    from .speaker import baselines, load_data, score_tests, score_validation, trial_counts
    if split not in ("test", "val"):
        raise ValueError(f"split must be test or val for a speaker run, got {split!r}")
    config, model, params = load_run(path)
    try:
        data = load_data(config, an4_dir=an4_dir, librispeech_dir=librispeech_dir, cache_dir=cache_dir)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"cannot rebuild the evaluation data of the speaker run {path}: {error} (give "
                                "the run's corpora as an4_dir and librispeech_dir, or set TTRNN_DATA)") from None
    _check_same_data(path, results, data)
    best = (results or {}).get("best")
    if split == "test":
        scores = {"tests": score_tests(model, params["encoder"], data, config.frames),
                  "baseline": baselines(data["tests_raw"], data["test_enrol"])}
        recorded = None if best is None else {"tests": best["tests"], "baseline": results["baseline"]}
    else:
        scores = score_validation(model, params["encoder"], data, config.frames)
        recorded = None if best is None else {"enrolment": best["val_eer"], "pairwise": best["val_pairwise_eer"]}
    differences, reproduced = None, None
    if recorded is not None:
        now, then = _flat(scores), _flat(recorded)
        if set(now) != set(then):
            raise DataError(f"{path}: results.json records {sorted(then)} but the evaluation gives {sorted(now)}")
        differences = {key: {"recomputed": now[key], "recorded": then[key], "difference": now[key] - then[key]}
                       for key in now}
        reproduced = all(abs(d["difference"]) <= EER_TOLERANCE for d in differences.values())
    trials = {name: trial_counts(t, data["test_enrol"][name]) for name, t in data["tests"].items()}
    return {"kind": "speaker", "scores": scores, "trials": trials, "recorded": recorded, "differences": differences,
            "reproduced": reproduced, "config": config}


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
        first_test = next(iter((best.get("tests") or {}).values()), None)  # AN4's, or LibriSpeech's
        row["test"] = _pct(first_test["enrolment"]["eer"] if first_test else None, "EER")
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
