"""The training loop shared by the experiments: data splits, minibatches and ``fit``.

Index letters: n example (N in the data set), B batch size, e epoch and s global step (both 0-based).

One step of ``fit`` on a batch, with θ the parameter pytree and S the optimizer state:

    L, g   = value_and_grad(loss_fn)(θ, batch)       one forward + backward pass
    ĝ, ‖g‖ = clip_by_global_norm(g, clip)            ‖g‖ is the pre-clip global L2 norm (logged)
    θ, S   = optimizer.step(θ, ĝ, S, η)              η = lr(e) per epoch, or lr(s) per step

**Divergence.**  A non-finite L (NaN or ±inf) or ‖g‖ stops training with ``TrainingDiverged`` before θ is
touched; so does L > f · max(L_0, 1) when ``max_loss_factor`` f is given, with L_0 the loss of the run's
first step (the experiments use f = 100: a cross-entropy that starts at ln 10 ≈ 2.3 and climbs past 230 has
left training, even while it is still finite; the floor 1 keeps a loss that starts near 0 from tripping it).  After each epoch
``evaluate(θ)`` returns metrics; the best epoch by ``select_metric`` is kept (checkpoint ``best``) and so
is the latest state (checkpoint ``last``: θ, S, RNG state, history).  ``resume=True`` continues from
``last`` and produces exactly the numbers of an uninterrupted run, provided ``train_batches(e, rng)``
depends only on its arguments.
"""
import math
import numbers
import os
import time
from dataclasses import dataclass

import numpy as np
from autograd import value_and_grad

from .checkpoint import checkpoint_files, jsonable, load_checkpoint, save_checkpoint
from .optim import Optimizer, clip_by_global_norm, constant
from .pytree import global_norm, num_params, tree_flatten, tree_leaves
from .rnn import upgrade_params

try:
    from tqdm import tqdm
except ImportError:
    tqdm = None

__all__ = ["fit", "FitResult", "TrainingDiverged", "minibatches", "train_val_split"]

_write = print if tqdm is None else tqdm.write  # a line of text that does not break a progress bar


class TrainingDiverged(RuntimeError):
    """Raised on a non-finite loss or gradient norm, or a loss above ``max_loss_factor`` × the first loss.

    Attributes ``what`` ("loss" or "gradient norm"), ``value``, ``epoch``, ``step`` and ``limit`` (the loss
    bound that was crossed, None for a non-finite value).
    """

    def __init__(self, what, value, epoch, step, limit=None):
        self.what, self.value, self.epoch, self.step, self.limit = what, value, epoch, step, limit
        why = f"{value}" if limit is None else f"{value:.4g}, above the limit {limit:.4g}"
        super().__init__(f"training diverged: the {what} is {why} at global step {step} in epoch {epoch} "
                         "(both 0-based); the parameters were not updated (checkpoints already saved are kept)")


def _check_rng(rng):
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator, e.g. np.random.default_rng(seed), got {type(rng).__name__}")


def train_val_split(n, n_val, rng):
    """Random disjoint ``(train_idx, val_idx)`` of sizes n - n_val and n_val covering range(n), each sorted."""
    _check_rng(rng)
    if not (isinstance(n, numbers.Integral) and isinstance(n_val, numbers.Integral) and 0 <= n_val <= n):
        raise ValueError(f"need integers 0 <= n_val <= n, got n={n!r}, n_val={n_val!r}")
    perm = rng.permutation(n)  # (N,)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])  # (N - n_val,), (n_val,)


class _Minibatches:
    """The batches of one epoch; ``order`` None means in data order (slices, no copies)."""

    def __init__(self, X, y, batch_size, order):
        self.X, self.y, self.B, self.order = X, y, batch_size, order

    def __len__(self):
        return -(-len(self.X) // self.B)

    def __iter__(self):
        for start in range(0, len(self.X), self.B):
            idx = slice(start, start + self.B) if self.order is None else self.order[start:start + self.B]
            yield self.X[idx], self.y[idx]  # (B, ...), (B, ...); the last batch may be smaller


def minibatches(X, y, batch_size, rng=None):
    """One epoch of ``(X_batch, y_batch)`` pairs: shuffled by ``rng.permutation(N)`` (drawn now), else in order.

    The last, partial batch is kept.  The result has a ``len`` (the number of batches).
    """
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same length, got {len(X)} and {len(y)}")
    if not (isinstance(batch_size, numbers.Integral) and batch_size > 0):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if rng is not None:
        _check_rng(rng)
    order = None if rng is None else rng.permutation(len(X))  # (N,)
    return _Minibatches(X, y, batch_size, order)


@dataclass
class FitResult:
    """What ``fit`` returns.

    ``params``, ``opt_state``: after the last epoch.  ``best_params``: at the best epoch by the selection
    metric (the last params when there is no ``evaluate``); ``best_epoch`` (0-based) and ``best_metrics``
    describe it (None without ``evaluate``).  ``history``: ``{"steps": {"loss", "grad_norm", "lr", "time"
    [, "leaf_grad_norms": {path: [...]}]: per-step lists}, "epochs": [{"epoch", "train_loss", "time",
    **metrics}, ...]}``; a step's time covers gradient, clipping and update (not data loading), an epoch's
    time the whole training pass (data included; evaluation and checkpointing excluded).
    """

    params: object
    opt_state: object
    best_params: object
    best_epoch: object
    best_metrics: object
    history: dict


def _batch_len(batch):
    """Examples in a batch: the leading size of its first array."""
    leaves = tree_leaves(batch)
    return int(np.shape(leaves[0])[0]) if leaves and np.ndim(leaves[0]) else 1


def _metrics(evaluate, params, select_metric):
    if evaluate is None:
        return {}
    metrics = evaluate(params)
    if not isinstance(metrics, dict):
        raise TypeError(f"evaluate(params) must return a dict of metrics, got {type(metrics).__name__}")
    if select_metric not in metrics:
        raise ValueError(f"select_metric {select_metric!r} is not among the metrics evaluate returned: "
                         f"{sorted(metrics)}")
    clash = sorted({"epoch", "train_loss", "time"} & set(metrics))
    if clash:
        raise ValueError(f"evaluate's metric names {clash} clash with fit's own epoch fields")
    return {k: float(v) for k, v in metrics.items()}


def _improves(value, best, mode):
    if math.isnan(value):
        return False
    return best is None or (value > best if mode == "max" else value < best)


def _restore(checkpoint_dir, params, settings):
    """Load ``last`` (and ``best``) and check they belong to this model and these settings."""
    saved_params, opt_state, run = load_checkpoint(os.path.join(checkpoint_dir, "last"))
    saved_params, opt_state = upgrade_params(saved_params), upgrade_params(opt_state)  # older checkpoint formats
    if run.get("settings") != settings:
        diff = {k: (run.get("settings", {}).get(k), v) for k, v in settings.items()
                if run.get("settings", {}).get(k) != v}
        raise ValueError(f"cannot resume from {checkpoint_dir}: it was saved with other settings "
                         f"(name: (saved, now)) {diff}")
    given, saved = tree_flatten(params)[0], tree_flatten(saved_params)[0]
    mismatched = sorted(p for p in set(given) | set(saved)
                        if p not in given or p not in saved or np.shape(given[p]) != np.shape(saved[p]))
    if mismatched:
        raise ValueError(f"cannot resume from {checkpoint_dir}: its parameters differ from the model's "
                         f"at {mismatched[:3]}")
    best_params = saved_params
    if run["best"]["epoch"] is not None:
        best_params = upgrade_params(load_checkpoint(os.path.join(checkpoint_dir, "best"))[0])
    return saved_params, opt_state, run, best_params


def fit(loss_fn, params, train_batches, *, epochs, optimizer="adam", lr=1e-3, lr_unit="epoch", clip=None,
        evaluate=None, select_metric="val_accuracy", mode="max", checkpoint_dir=None, resume=False, seed=0,
        config=None, progress=True, log_grad_norms=False, on_step=None, max_loss_factor=None):
    """Train ``params`` to minimise ``loss_fn(params, batch)`` for ``epochs`` epochs (the total, also on resume).

    train_batches(epoch, rng) -> iterable of batches: one epoch's data, shuffled with ``rng`` (the run's
        ``np.random.default_rng(seed)``).  An "epoch" is whatever it yields: for step-based training
        (e.g. evaluate every 100 steps) let it yield 100 batches.
    optimizer: "adam", "sgd" or an ``Optimizer`` with hyperparameters.  lr: a number or a schedule
        ``lr(index) -> float`` called with the epoch (``lr_unit="epoch"``) or global step (``"step"``).
    clip: max global gradient norm (None: no clipping; the pre-clip norm is always logged).
    evaluate(params) -> dict of metrics, run after every epoch; the epoch with the best
        ``metrics[select_metric]`` (``mode`` "max" or "min") is kept.
    checkpoint_dir: if given, ``best`` and ``last`` checkpoints are written there after each epoch
        (``best`` first); ``resume=True`` continues from ``last`` if it exists (settings must match).
    config: JSON-able model / experiment description stored in the checkpoints.
    log_grad_norms: also record each parameter leaf's pre-clip gradient norm per step.
    on_step(record): called after every step with {"epoch", "step", "loss", "grad_norm", "lr", "time"}.
    max_loss_factor: f > 1 stops training when a step's loss exceeds f × max(first loss, 1) (None: never).
    Returns a ``FitResult``; raises ``TrainingDiverged`` on a non-finite loss or gradient, or a loss above
    the bound.
    """
    if not (isinstance(epochs, numbers.Integral) and epochs >= 0):
        raise ValueError(f"epochs must be an integer >= 0, got {epochs!r}")
    if lr_unit not in ("epoch", "step") or mode not in ("max", "min"):
        raise ValueError(f"need lr_unit in ('epoch', 'step') and mode in ('max', 'min'), got {lr_unit!r}, {mode!r}")
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs a checkpoint_dir")
    clip_by_global_norm({}, clip)  # validates clip now rather than at the first step
    if max_loss_factor is not None and not (isinstance(max_loss_factor, numbers.Real) and max_loss_factor > 1
                                            and math.isfinite(max_loss_factor)):
        raise ValueError(f"max_loss_factor must be a finite number > 1 or None, got {max_loss_factor!r}")
    opt = optimizer if isinstance(optimizer, Optimizer) else Optimizer(optimizer)
    schedule = lr if callable(lr) else constant(lr)
    settings = jsonable({"optimizer": opt.name, "hyper": opt.hyper, "clip": clip, "lr_unit": lr_unit, "seed": seed,
                         "select_metric": select_metric, "mode": mode, "config": config})
    rng = np.random.default_rng(seed)
    run = {"epoch": 0, "step": 0, "rng_state": None, "settings": settings,
           "best": {"epoch": None, "value": None, "metrics": None},
           "history": {"steps": {"loss": [], "grad_norm": [], "lr": [], "time": []}, "epochs": []}}
    opt_state, best_params = opt.init(params), params
    if resume and os.path.exists(checkpoint_files(os.path.join(checkpoint_dir, "last"))[1]):
        params, opt_state, run, best_params = _restore(checkpoint_dir, params, settings)
        rng.bit_generator.state = run["rng_state"]
    steps = run["history"]["steps"]
    if log_grad_norms:
        steps.setdefault("leaf_grad_norms", {p: [] for p in tree_flatten(params)[0]})
    show = progress and tqdm is not None
    if progress:
        _write(f"training {num_params(params):,} parameters, epochs {run['epoch']}..{epochs - 1}")
    loss_and_grad = value_and_grad(loss_fn)

    for epoch in range(run["epoch"], epochs):
        batches = train_batches(epoch, rng)
        bar = tqdm(batches, total=len(batches) if hasattr(batches, "__len__") else None,
                   desc=f"epoch {epoch + 1}/{epochs}", leave=False) if show else None
        epoch_start, epoch_losses, n_seen = time.perf_counter(), [], 0
        try:
            for batch in batches if bar is None else bar:
                t0 = time.perf_counter()
                lr_now = schedule(epoch if lr_unit == "epoch" else run["step"])
                loss, grads = loss_and_grad(params, batch)
                loss = float(loss)
                if log_grad_norms:
                    for path, g in tree_flatten(grads)[0].items():
                        steps["leaf_grad_norms"][path].append(global_norm(g))
                grads, grad_norm = clip_by_global_norm(grads, clip)
                for what, value in (("loss", loss), ("gradient norm", grad_norm)):
                    if not math.isfinite(value):
                        raise TrainingDiverged(what, value, epoch, run["step"])
                first_loss = steps["loss"][0] if steps["loss"] else loss  # L_0, also after a resume
                limit = None if max_loss_factor is None else max_loss_factor * max(first_loss, 1.0)
                if limit is not None and loss > limit:
                    raise TrainingDiverged("loss", loss, epoch, run["step"], limit=limit)
                params, opt_state = opt.step(params, grads, opt_state, lr_now)
                record = {"epoch": epoch, "step": run["step"], "loss": loss, "grad_norm": grad_norm,
                          "lr": lr_now, "time": time.perf_counter() - t0}
                for key in ("loss", "grad_norm", "lr", "time"):
                    steps[key].append(record[key])
                epoch_losses.append(loss)
                run["step"] += 1
                n_seen += _batch_len(batch)
                if bar is not None:
                    rate = n_seen / (time.perf_counter() - epoch_start)
                    bar.set_postfix(loss=f"{loss:.4f}", ex_per_s=f"{rate:.0f}", refresh=False)
                if on_step is not None:
                    on_step(record)
        finally:
            if bar is not None:
                bar.close()
        if not epoch_losses:
            raise ValueError(f"train_batches({epoch}, rng) yielded no batches")
        train_time = time.perf_counter() - epoch_start

        metrics = _metrics(evaluate, params, select_metric)
        entry = {"epoch": epoch, "train_loss": float(np.mean(epoch_losses)), "time": train_time, **metrics}
        run["history"]["epochs"].append(entry)
        improved = evaluate is not None and _improves(metrics[select_metric], run["best"]["value"], mode)
        if improved:
            best_params = params
            run["best"] = {"epoch": epoch, "value": metrics[select_metric], "metrics": metrics}
        run["epoch"], run["rng_state"] = epoch + 1, rng.bit_generator.state
        if checkpoint_dir is not None:
            if improved:
                save_checkpoint(os.path.join(checkpoint_dir, "best"), params,
                                meta={"epoch": epoch, "step": run["step"], "metrics": metrics, "settings": settings})
            save_checkpoint(os.path.join(checkpoint_dir, "last"), params, opt_state, meta=run)
        if progress:
            summary = "  ".join(f"{k} {v:.4g}" for k, v in entry.items() if k != "epoch")
            _write(f"epoch {epoch + 1}/{epochs}  {summary}" + ("  *" if improved else ""))

    if evaluate is None:
        best_params = params
    best = run["best"]
    return FitResult(params, opt_state, best_params, best["epoch"], best["metrics"], run["history"])
