"""Sequential MNIST (docs/method.md §10): train one LSTM/GRU in any layout, select on validation, test once.

Index letters: b image (B per batch), t time step (T), f feature per step (F), k class (K = 10), e epoch.

**Task.**  An image becomes a sequence X (B, T, F) (``data.mnist.as_sequences``): row view T = 28, F = 28
(the paper's "row-MNIST"), pixel view T = 784, F = 1, or a fixed seeded permutation of the pixel view.  The
model reads it with a 1-layer recurrent cell (H = 256 in the paper) and classifies the last state,

    z = h_T W + b (B, K),      L = −(1/B) Σ_b log softmax(z_b)[y_b].

**Protocol** (docs/method.md §10, §11).  The training file is split by a seeded permutation into 50,000 train and
10,000 validation images; training batches are reshuffled every epoch by the run's RNG; after every epoch the
validation accuracy is measured and the best epoch's parameters are kept (checkpoint ``best``); the test set
is evaluated exactly once, at the end, with those parameters.  The reference numbers were instead the
maximum test accuracy over epochs ("test-selected") and must be labelled so beside ours.

**Recipes.**  "ours" (default): Adam, lr 2e-3, ×0.1 every 10 epochs, 20 epochs, global-norm clip 5.  The
authors' lr 1e-2 is reported to be fragile for the dense LSTM (stalling near 97 % where 1e-3 reaches 99 %);
their recipe is ``--recipe paper``: lr 1e-2, ×0.1 every 10 epochs, 20 epochs, no clipping.  (In a 5-epoch
probe on 10,000 training images, 2e-3 and 1e-2 reached the same validation accuracy, dense and TT alike.)

**Truncated BPTT** (``--tbptt K``): the first T − k steps (k ∈ 1…K, the last partial window) run on plain
arrays, the gradient flows through the last k steps only; evaluation always reads the whole sequence.
"""
import dataclasses
import math
import numbers
import sys
import time
from pathlib import Path

import numpy as np

from ..cells import GATES, INITS, LAYOUTS, CellConfig
from ..checkpoint import jsonable, load_checkpoint
from ..data.mnist import SEQUENCE_VIEWS, SOURCES, MnistSplits, as_sequences, load_mnist_splits
from ..heads import HEAD_LAYOUTS, HeadConfig
from ..losses import softmax_cross_entropy
from ..optim import constant, cosine, step_decay
from ..rnn import ModelConfig, forward, init_model, truncated_bptt, upgrade_params
from ..sizes import model_sizes, size_story
from ..training import TrainingDiverged, fit, minibatches
from .progress import EpochProgress
from .runfolder import RESULTS_FILE, checkpoint_dir, owned, read_json, write_json
from .runtime import machine_info

__all__ = ["RECIPES", "MnistConfig", "build_model", "prepare_data", "evaluate_split",
           "run_experiment"]

RECIPES = {
    "ours": {"lr": 2e-3, "schedule": "step", "step_size": 10, "gamma": 0.1, "epochs": 20, "clip": 5.0},
    "paper": {"lr": 1e-2, "schedule": "step", "step_size": 10, "gamma": 0.1, "epochs": 20, "clip": None},
}
CHOICES = {"cell": tuple(GATES), "layout": LAYOUTS, "head": HEAD_LAYOUTS, "view": SEQUENCE_VIEWS,
           "schedule": ("step", "cosine", "constant"), "data": SOURCES, "dtype": ("float32", "float64"),
           "init": INITS}
MAX_LOSS_FACTOR = 100.0  # a training loss above this multiple of the first step's loss (at least 1) is divergence
RENAMED_FIELDS = {"hidden": "hidden_size"}  # config fields renamed since runs were first stored: old → new


def _positive_int(name, value, optional=False):
    if optional and value is None:
        return
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer{' or None' if optional else ''}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class MnistConfig:
    """Everything that defines one MNIST run (JSON-able; stored in checkpoints and results).

    ``head`` None → "tt" for TT layouts, "dense" for the dense and low-rank layouts; ``forget_bias`` None → 1.0 for an LSTM
    on the 784-step pixel views (docs/method.md §6), else 0.0.  ``train_subset``/``val_subset`` N: a seeded random
    N-image subset of the split (None: all).  ``tbptt`` K: truncated BPTT window (None: full BPTT).
    """
    cell: str = "lstm"
    layout: str = "joint"
    cores: int = 2
    rank: int = 2
    hidden_size: int = 256
    layers: int = 1
    head: str = None
    init: str = "glorot"
    forget_bias: float = None
    view: str = "row"
    perm_seed: int = 0
    epochs: int = 20
    batch_size: int = 128
    lr: float = 2e-3
    schedule: str = "step"
    step_size: int = 10
    gamma: float = 0.1
    clip: float = 5.0
    seed: int = 0
    data: str = "full"
    train_subset: int = None
    val_subset: int = None
    dtype: str = "float32"
    tbptt: int = None
    eval_batch_size: int = 1000

    def __post_init__(self):
        if self.head is None:
            object.__setattr__(self, "head", "dense" if self.layout in ("dense", "lowrank") else "tt")
        if self.forget_bias is None:
            pixels = self.cell == "lstm" and self.view in ("pixel", "permuted")
            object.__setattr__(self, "forget_bias", 1.0 if pixels else 0.0)
        for name, choices in CHOICES.items():
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {getattr(self, name)!r}")
        for name in ("cores", "rank", "hidden_size", "layers", "epochs", "batch_size", "step_size", "eval_batch_size"):
            _positive_int(name, getattr(self, name))
        for name in ("train_subset", "val_subset", "tbptt"):
            _positive_int(name, getattr(self, name), optional=True)
        for name in ("seed", "perm_seed"):
            if not isinstance(getattr(self, name), numbers.Integral) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {getattr(self, name)!r}")
        if not (isinstance(self.lr, numbers.Real) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if not (isinstance(self.gamma, numbers.Real) and math.isfinite(self.gamma) and self.gamma > 0):
            raise ValueError(f"gamma must be a finite number > 0, got {self.gamma!r}")
        if self.clip is not None and not (isinstance(self.clip, numbers.Real) and math.isfinite(self.clip)
                                          and self.clip > 0):
            raise ValueError(f"clip must be a finite number > 0 or None (no clipping), got {self.clip!r}")
        if not (isinstance(self.forget_bias, numbers.Real) and math.isfinite(self.forget_bias)):
            raise ValueError(f"forget_bias must be a finite number, got {self.forget_bias!r}")

    @classmethod
    def from_dict(cls, stored):
        """The config stored in a results file or checkpoint, also one written before a field was renamed."""
        return cls(**upgrade_config(stored))

    @property
    def name(self):
        """A short run name, e.g. "lstm_joint_d3_R4_row" or "lstm_dense_row"."""
        tt = {"dense": "", "lowrank": f"_R{self.rank}"}.get(self.layout, f"_d{self.cores}_R{self.rank}")
        return f"{self.cell}_{self.layout}{tt}_{self.view}"


def build_model(config):
    """The ModelConfig of a run: ``layers`` cells of ``hidden_size`` units on F inputs per step, a 10-class head."""
    F = 28 if config.view == "row" else 1
    cell = CellConfig(kind=config.cell, layout=config.layout, input_size=F, hidden_size=config.hidden_size,
                      n_cores=config.cores, rank=config.rank, forget_bias=config.forget_bias, init=config.init)
    return ModelConfig(cell, num_layers=config.layers, head=HeadConfig(kind="classify", out_size=10,
                                                                        layout=config.head, init=config.init))


def _subset(split, n, seed, option):
    if n is None:
        return split
    if n > len(split):
        raise ValueError(f"{option} must be at most the {len(split):,} images of the {split.split} split, got {n:,}")
    rng = np.random.default_rng([seed, 2])  # a stream apart from initialisation and shuffling
    return split.subset(np.sort(rng.choice(len(split), n, replace=False)), split.split)  # (n, 28, 28), (n,)


def prepare_data(config, data_dir=None, download=False):
    """The train/val/test ``MnistSplits`` of a run (raw uint8 images; subsets applied)."""
    splits = load_mnist_splits(config.data, data_dir=data_dir, download=download)
    return MnistSplits(_subset(splits.train, config.train_subset, config.seed, "train_subset"),
                       _subset(splits.val, config.val_subset, config.seed, "val_subset"), splits.test, splits.source)


def evaluate_split(model, params, split, config, predictions=False):
    """{"loss", "accuracy"} of ``params`` on an ``MnistSet``, forward only, ``eval_batch_size`` images at a time.

    ``predictions=True`` adds "predictions": the predicted class of every image (N,)."""
    total_loss, predicted = 0.0, []
    for start in range(0, len(split), config.eval_batch_size):
        images = split.images[start:start + config.eval_batch_size]  # (b, 28, 28) uint8
        y = split.labels[start:start + config.eval_batch_size]  # (b,)
        X = as_sequences(images, config.view, seed=config.perm_seed, dtype=config.dtype)  # (b, T, F)
        logits = forward(model, params, X)  # (b, K)
        total_loss += float(softmax_cross_entropy(logits, y)) * len(y)
        predicted.append(np.argmax(logits, axis=1))  # (b,)
    predicted = np.concatenate(predicted)  # (N,)
    metrics = {"loss": total_loss / len(split), "accuracy": int(np.sum(predicted == split.labels)) / len(split)}
    return {**metrics, "predictions": predicted} if predictions else metrics


def _schedule(config, steps_per_epoch):
    """(lr schedule, "epoch" | "step"): step decay per epoch, cosine per step over the run, or constant."""
    if config.schedule == "step":
        return step_decay(config.lr, config.step_size, config.gamma), "epoch"
    if config.schedule == "cosine":
        return cosine(config.lr, config.epochs * steps_per_epoch), "step"
    return constant(config.lr), "epoch"


def _checked_settings(config):
    """The config a resumed run must match: all of it, except ``epochs`` (it may grow) unless cosine uses it."""
    return {k: v for k, v in dataclasses.asdict(config).items() if k != "epochs" or config.schedule == "cosine"}


def upgrade_config(stored):
    """A stored config dict with today's field names (runs stored before a rename keep the old names)."""
    return {RENAMED_FIELDS.get(key, key): value for key, value in stored.items()}


def _in_saved_names(settings, saved):
    """``settings`` with the field names of ``saved``: a run resumed from an old checkpoint keeps its names."""
    old_name = {new: old for old, new in RENAMED_FIELDS.items() if old in saved and new not in saved}
    return {old_name.get(key, key): value for key, value in settings.items()}


def _prepare_out(out, resume, config):
    """Check the run directory (its lock is held); return stored results when resuming a run that has finished.

    Finished means complete or diverged: a diverged run resumed with the same settings would replay the same
    batches from its last good checkpoint and diverge again, so it is not retrained either."""
    if out is None:
        if resume:
            raise ValueError("resume needs a run directory: pass --out DIR (the directory of the run to continue)")
        return None
    results_path, last = Path(out) / RESULTS_FILE, checkpoint_dir(out) / "last.json"
    if not resume and (results_path.exists() or last.exists()):
        raise ValueError(f"{out} already holds a run ({results_path.name if results_path.exists() else last.name}); "
                         "pass --resume to continue it, or choose another --out")
    if resume and last.exists():
        saved = upgrade_config(load_checkpoint(checkpoint_dir(out) / "last")[2]["settings"]["config"])
        wanted = jsonable(_checked_settings(config))
        changed = {k: (saved.get(k), v) for k, v in wanted.items() if saved.get(k) != v}
        if changed:
            raise ValueError(f"cannot resume {out}: it was trained with other settings, "
                             + ", ".join(f"{k} {old!r} (saved) vs {new!r} (now)" for k, (old, new) in changed.items()))
    if resume and results_path.exists():
        stored = read_json(results_path)
        finished = stored.get("status") in ("complete", "diverged")
        if finished and upgrade_config(stored.get("config", {})) == jsonable(dataclasses.asdict(config)):
            return stored
    return None


def _describe_training(config, steps):
    schedule = {"step": f"×{config.gamma:g} every {config.step_size} epochs", "constant": "constant",
                "cosine": f"cosine over {config.epochs * steps:,} steps"}[config.schedule]
    clip = "no clipping" if config.clip is None else f"clip {config.clip:g}"
    tbptt = "full BPTT" if config.tbptt is None else f"truncated BPTT, window {config.tbptt}"
    epochs = f"{config.epochs} epoch{'s' if config.epochs > 1 else ''}"
    return (f"training: Adam lr {config.lr:g} ({schedule}), {clip}, batch {config.batch_size}, {epochs} of "
            f"{steps:,} steps, {tbptt}, {config.dtype}, seed {config.seed}, "
            f"forget bias {config.forget_bias:g}")


def run_experiment(config, out=None, resume=False, data_dir=None, download=False, progress=True, stream=None,
                   command=None):
    """Train, select on validation, test once; write ``out``/results.json (if ``out``) and return the results.

    ``out`` is a run folder (``runfolder``: ``results.json``, ``checkpoints/best``, ``checkpoints/last``), held
    with its lock for the whole run, so a second run into the same folder is refused.  ``resume`` continues from
    the last checkpoint (a finished run, complete or diverged, with the same config is not retrained: its stored
    results are returned).  On divergence (a non-finite loss or gradient, or a loss above ``MAX_LOSS_FACTOR`` ×
    the first step's) the run stops, the checkpoints of the last good epoch stay, the best-val parameters so far
    are tested, and the results say ``"status": "diverged"``.  Text goes to ``stream`` (default stdout);
    ``progress=False`` drops the bar (stderr), not the epoch lines.
    """
    if out is None:
        return _run(config, None, resume, data_dir, download, progress, stream or sys.stdout, command)
    with owned(out):
        return _run(config, Path(out), resume, data_dir, download, progress, stream or sys.stdout, command)


def _run(config, out, resume, data_dir, download, progress, stream, command):
    """``run_experiment`` with ``out`` owned (or None)."""
    stored = _prepare_out(out, resume, config)
    model = build_model(config)
    if stored is not None:
        print(f"{out}: this run has already finished, {stored['status']} (results in {Path(out) / RESULTS_FILE})",
              file=stream)
        return stored
    wall_start, started = time.perf_counter(), time.strftime("%Y-%m-%dT%H:%M:%S")
    splits = prepare_data(config, data_dir, download)
    if splits.source == "mini":
        print("data: MINI — the small MNIST subset shipped with ttrnn_np, not the full data set", file=stream)
    print(f"data: {splits!r}, {config.view} view", file=stream)
    print(size_story(model), file=stream)
    steps = -(-len(splits.train) // config.batch_size)
    print(_describe_training(config, steps), file=stream)

    best_so_far, settings = None, _checked_settings(config)
    if resume and (checkpoint_dir(out) / "last.json").exists():
        run = load_checkpoint(checkpoint_dir(out) / "last")[2]
        best_so_far, settings = run["best"]["value"], _in_saved_names(settings, run["settings"]["config"])
    bar = EpochProgress(config.epochs, stream, bar=progress, best=best_so_far)

    def train_batches(epoch, rng):
        return bar.wrap(epoch, minibatches(splits.train.images, splits.train.labels, config.batch_size, rng))

    def loss_fn(params, batch):
        images, y = batch  # (B, 28, 28) uint8, (B,)
        X = as_sequences(images, config.view, seed=config.perm_seed, dtype=config.dtype)  # (B, T, F)
        logits = (forward(model, params, X) if config.tbptt is None
                  else truncated_bptt(model, params, X, config.tbptt))  # (B, K)
        bar.count(logits, y)
        return softmax_cross_entropy(logits, y)

    def evaluate(params):
        train_metrics, t0 = bar.train_metrics(), time.perf_counter()
        val = evaluate_split(model, params, splits.val, config)
        metrics = {"val_loss": val["loss"], "val_accuracy": val["accuracy"], **train_metrics,
                   "eval_time": time.perf_counter() - t0}
        bar.epoch_line(metrics)
        return metrics

    params = init_model(model, np.random.default_rng([config.seed, 1]), config.dtype)  # apart from shuffling
    lr, lr_unit = _schedule(config, steps)
    status, diverged = "complete", None
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # divergence is detected and reported
            result = fit(loss_fn, params, train_batches, epochs=config.epochs, optimizer="adam", lr=lr,
                         lr_unit=lr_unit, clip=config.clip, evaluate=evaluate, select_metric="val_accuracy",
                         mode="max", checkpoint_dir=None if out is None else checkpoint_dir(out), resume=resume,
                         seed=config.seed, config=settings, progress=False, on_step=bar.on_step,
                         max_loss_factor=MAX_LOSS_FACTOR)
        history, best_params, best_epoch = result.history, result.best_params, result.best_epoch
    except TrainingDiverged as error:
        bar.close()
        print(f"stopped: {error}", file=stream)
        status, diverged = "diverged", {"what": error.what, "value": str(error.value), "epoch": error.epoch,
                                        "step": error.step, "message": str(error)}
        history, best_params, best_epoch = _last_good(out)
    test = None
    if best_params is not None:
        test = evaluate_split(model, best_params, splits.test, config)  # the one and only test evaluation
    results = _results(config, model, splits, history, best_epoch, test, status, diverged, out, command,
                       started, time.perf_counter() - wall_start)
    if out is not None:
        write_json(Path(out) / RESULTS_FILE, results)
    return results


def _last_good(out):
    """(history, best params, best epoch) kept in the checkpoints of ``out`` (None for what is not there)."""
    history, best_params, best_epoch = None, None, None
    folder = None if out is None else checkpoint_dir(out)
    if folder is not None and (folder / "last.json").exists():
        history = load_checkpoint(folder / "last")[2]["history"]
    if folder is not None and (folder / "best.json").exists():
        best_params, _, meta = load_checkpoint(folder / "best")
        best_params, best_epoch = upgrade_params(best_params), meta["epoch"]
    return history, best_params, best_epoch


def _results(config, model, splits, history, best_epoch, test, status, diverged, out, command, started, wall):
    epochs = [] if history is None else history["epochs"]
    best = None if best_epoch is None else next(e for e in epochs if e["epoch"] == best_epoch)

    def mean(key):
        return float(np.mean([e[key] for e in epochs])) if epochs else None

    return {"experiment": "mnist", "name": config.name, "status": status, "diverged": diverged,
            "config": jsonable(dataclasses.asdict(config)),
            "data": {"source": splits.source, "view": config.view, "n_train": len(splits.train),
                     "n_val": len(splits.val), "n_test": len(splits.test)},
            "model": size_story(model).splitlines()[0], "sizes": jsonable(model_sizes(model)),
            "best": None if best is None else {"epoch": best["epoch"], "val_accuracy": best["val_accuracy"],
                                               "val_loss": best["val_loss"]},
            "test": None if test is None else {**test, "error_pct": 100 * (1 - test["accuracy"])},
            "epochs_run": len(epochs), "seconds_per_epoch": {"train": mean("time"), "eval": mean("eval_time")},
            "examples_per_s": mean("examples_per_s"), "train_time_s": sum(e["time"] for e in epochs),
            "wall_time_s": wall, "started": started, "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "out": None if out is None else str(out), "command": command, "machine": machine_info(),
            "history": history}
