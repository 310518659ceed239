"""Optimizers, gradient clipping and learning-rate schedules as pure functions over parameter pytrees.

An optimizer is a pair ``init(params) -> state`` and ``step(params, grads, state, lr, ...) -> (params,
state)``.  The state is an explicit pytree the caller carries from one step to the next (and saves in
checkpoints), so nothing restarts between calls (``autograd.misc.optimizers.adam`` restarts its moments
on every call).  Updates act leafwise: θ is a parameter leaf, g its gradient, η the learning rate, t the
step count (1, 2, ...); every state tree has the shapes and dtypes of ``params``.  Weight decay λ is an
L2 penalty added to the gradient, g ← g + λθ, as in ``torch.optim``.

Global-norm clipping with threshold c:  ĝ = g · min(1, c / ‖g‖),  ‖g‖ = sqrt(Σ_leaves Σ_entries g²).

Schedules map a 0-based step or epoch index t to a learning rate η(t).
"""
import inspect
import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from .pytree import global_norm, tree_map, tree_zeros_like

__all__ = ["Optimizer", "adam_init", "adam_step", "sgd_init", "sgd_step", "clip_by_global_norm", "constant",
           "step_decay", "cosine"]


def _check_lr(lr):
    if not (isinstance(lr, numbers.Real) and math.isfinite(lr) and lr >= 0):
        raise ValueError(f"learning rate must be a finite number >= 0, got {lr!r}")


def adam_init(params):
    """Adam state: step count ``t`` = 0 and zero moments ``m``, ``v`` shaped like ``params``."""
    return {"t": 0, "m": tree_zeros_like(params), "v": tree_zeros_like(params)}


def adam_step(params, grads, state, lr, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0):
    """One bias-corrected Adam step (Kingma & Ba 2015); returns ``(params, state)``.

        m_t = β1 m_{t-1} + (1 - β1) g          v_t = β2 v_{t-1} + (1 - β2) g²
        m̂_t = m_t / (1 - β1^t)                 v̂_t = v_t / (1 - β2^t)
        θ_t = θ_{t-1} - η m̂_t / (sqrt(v̂_t) + ε)
    """
    _check_lr(lr)
    if not (0 <= b1 < 1 and 0 <= b2 < 1 and eps > 0):
        raise ValueError(f"Adam needs 0 <= b1, b2 < 1 and eps > 0, got b1={b1}, b2={b2}, eps={eps}")
    if weight_decay:
        grads = tree_map(lambda g, p: g + weight_decay * p, grads, params)  # tree like params
    t = int(state["t"]) + 1
    m = tree_map(lambda m, g: b1 * m + (1 - b1) * g, state["m"], grads)  # tree like params
    v = tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, state["v"], grads)  # tree like params
    c1, c2 = 1 - b1**t, 1 - b2**t
    params = tree_map(lambda p, m, v: p - lr * (m / c1) / (np.sqrt(v / c2) + eps), params, m, v)  # tree like params
    return params, {"t": t, "m": m, "v": v}


def sgd_init(params):
    """SGD state: zero velocity ``u`` shaped like ``params``."""
    return {"u": tree_zeros_like(params)}


def sgd_step(params, grads, state, lr, momentum=0.9, nesterov=False, weight_decay=0.0):
    """One SGD step with heavy-ball or Nesterov momentum μ; returns ``(params, state)``.

        u_t = μ u_{t-1} + g
        θ_t = θ_{t-1} - η u_t                  (heavy ball; μ = 0 is plain SGD)
        θ_t = θ_{t-1} - η (g + μ u_t)          (Nesterov)
    """
    _check_lr(lr)
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must lie in [0, 1), got {momentum}")
    if nesterov and momentum == 0:
        raise ValueError("Nesterov momentum needs momentum > 0, got momentum=0")
    if weight_decay:
        grads = tree_map(lambda g, p: g + weight_decay * p, grads, params)  # tree like params
    u = tree_map(lambda u, g: momentum * u + g, state["u"], grads)  # tree like params
    if nesterov:
        params = tree_map(lambda p, g, u: p - lr * (g + momentum * u), params, grads, u)  # tree like params
    else:
        params = tree_map(lambda p, u: p - lr * u, params, u)  # tree like params
    return params, {"u": u}


_OPTIMIZERS = {"adam": (adam_init, adam_step), "sgd": (sgd_init, sgd_step)}


@dataclass(frozen=True)
class Optimizer:
    """An optimizer by name with fixed hyperparameters, e.g. ``Optimizer("sgd", {"momentum": 0.5})``.

    ``init(params) -> state`` and ``step(params, grads, state, lr) -> (params, state)``.
    """

    name: str
    hyper: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.name not in _OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.name!r}; expected one of {sorted(_OPTIMIZERS)}")
        allowed = list(inspect.signature(_OPTIMIZERS[self.name][1]).parameters)[4:]
        unknown = sorted(set(self.hyper) - set(allowed))
        if unknown:
            raise TypeError(f"{self.name} has no hyperparameter(s) {unknown}; expected some of {allowed}")

    def init(self, params):
        return _OPTIMIZERS[self.name][0](params)

    def step(self, params, grads, state, lr):
        return _OPTIMIZERS[self.name][1](params, grads, state, lr, **self.hyper)


def clip_by_global_norm(grads, max_norm):
    """Scale ``grads`` by min(1, max_norm / ‖grads‖); return ``(clipped, pre_clip_norm)``.

    ``max_norm`` None or inf disables clipping; the pre-clip norm is always reported.  A non-finite
    norm leaves the gradients unchanged so the caller can see the divergence.
    """
    if max_norm is not None and not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, inf or None, got {max_norm!r}")
    norm = global_norm(grads)
    if max_norm is None or not math.isfinite(norm) or norm <= max_norm:
        return grads, norm
    scale = max_norm / norm
    return tree_map(lambda g: g * scale, grads), norm  # tree like grads


def _check_index(t):
    if not (isinstance(t, numbers.Integral) and t >= 0):
        raise ValueError(f"schedules take a step or epoch index >= 0, got {t!r}")


def constant(lr):
    """η(t) = lr."""
    _check_lr(lr)

    def schedule(t):
        _check_index(t)
        return float(lr)

    return schedule


def step_decay(lr0, step_size, gamma=0.1):
    """η(t) = lr0 · gamma^floor(t / step_size).

    The paper's MNIST schedule (×0.1 every 10 epochs) is ``step_decay(1e-2, 10, 0.1)`` called per epoch.
    """
    _check_lr(lr0)
    if not (isinstance(step_size, numbers.Integral) and step_size > 0 and gamma > 0):
        raise ValueError(f"step_decay needs an integer step_size > 0 and gamma > 0, "
                         f"got {step_size!r}, {gamma!r}")

    def schedule(t):
        _check_index(t)
        return float(lr0 * gamma ** (t // step_size))

    return schedule


def cosine(lr0, total, warmup=0, lr_min=0.0):
    """Linear warm-up then cosine decay from lr0 to lr_min over ``total`` steps (lr_min afterwards).

    η(t) = lr0 · (t + 1) / warmup                                 for t < warmup,
    η(t) = lr_min + (lr0 - lr_min) · (1 + cos(π p)) / 2,  p = min(1, (t - warmup) / (total - warmup)).
    """
    _check_lr(lr0)
    integers = isinstance(total, numbers.Integral) and isinstance(warmup, numbers.Integral)
    if not (integers and 0 <= warmup < total):
        raise ValueError(f"cosine needs integers 0 <= warmup < total, got warmup={warmup!r}, total={total!r}")
    if not 0 <= lr_min <= lr0:
        raise ValueError(f"cosine needs 0 <= lr_min <= lr0, got lr_min={lr_min!r}, lr0={lr0!r}")

    def schedule(t):
        _check_index(t)
        if t < warmup:
            return float(lr0 * (t + 1) / warmup)
        p = min(1.0, (t - warmup) / (total - warmup))
        return float(lr_min + (lr0 - lr_min) * (1 + math.cos(math.pi * p)) / 2)

    return schedule
