"""Recurrent networks: unroll a cell over time, stack layers, put a head on top; truncated BPTT.

Index letters: b batch, t time (T steps), I input size, H hidden size, G gates, ℓ layer (L layers).
Inputs are batch-first, X (B, T, I); inside, sequences run time-major, rows ordered (t, b).

Each layer starts from its own zero state (h_0, c_0) = 0 unless a state is given (the authors' code shares
one state object between layers); layer ℓ > 0 reads layer ℓ−1's sequence h_1 … h_T, and the head reads the
last layer's h_T.

Fast path (``run_layer``): the input projections of all T steps in one product, then the whole recurrence as
one autograd primitive with hand-written BPTT (``layer.run``):

    Ax = [x_1; …; x_T] W_x + b          (T·B, G·H)    one product (one TT product for joint), traced
    h_1 … h_T = layer.run(Ax, W_h, state)           one primitive: the loop and BPTT in plain NumPy

so autograd records a handful of nodes per layer whatever T is, and W̄_h is one product over all T·B rows.

Traced path (``run_layer_traced``, used for ``perturb``): one recurrent product and one fused point-wise
primitive per step (``fused.lstm_pointwise`` / ``fused.gru_pointwise``), which autograd records step by step —
5 primitives per LSTM step, 3 per GRU step.  The TT cores of W_h are unpacked into a plain list once.

Readable path (``unroll_reference``): ``cells.step`` at every step; the tests hold the two equal.

Truncated BPTT: the state leaves ``forward(..., return_state=True)`` and enters the next call as plain arrays,
so no gradient crosses that boundary.  ``truncated_bptt`` runs all but the last window of K steps forward only
and differentiates the loss through the last window.
"""
import dataclasses
import functools
import warnings

import autograd.numpy as np
from autograd import value_and_grad
from autograd.tracer import getval

from . import cells, fused, layer
from .heads import HeadConfig, apply_head, init_head

__all__ = ["ModelConfig", "init_model", "run_layer", "run_layer_traced", "unroll", "unroll_reference", "forward",
           "detach", "value_and_grad_with_state", "truncated_bptt"]


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """``num_layers`` cells like ``cell`` (layers ℓ > 0 take input size H) and an optional ``head``.

    With ``head=None`` the model outputs the last layer's h_T (B, H).
    """
    cell: cells.CellConfig
    num_layers: int = 1
    head: HeadConfig = HeadConfig()

    def __post_init__(self):
        if not isinstance(self.cell, cells.CellConfig):
            raise TypeError(f"cell must be a CellConfig, got {type(self.cell).__name__}")
        if self.head is not None and not isinstance(self.head, HeadConfig):
            raise TypeError(f"head must be a HeadConfig or None, got {type(self.head).__name__}")
        cells.check_positive_int("num_layers", self.num_layers)

    @functools.cached_property
    def layers(self):
        """One CellConfig per layer; layers ℓ > 0 read H inputs, factorized like the hidden size."""
        with warnings.catch_warnings():  # same column modes as layer 0, whose config already warned
            warnings.simplefilter("ignore", cells.GateAlignmentWarning)
            upper = dataclasses.replace(self.cell, input_size=self.cell.hidden_size,
                                        in_modes=self.cell.hidden_modes)
        return (self.cell,) + (upper,) * (self.num_layers - 1)


def init_model(config, rng, dtype=np.float64):
    """{"layers": [cell params per layer], "head": head params (absent without a head)}."""
    params = {"layers": [cells.init_cell(cell, rng, dtype) for cell in config.layers]}
    if config.head is not None:
        params["head"] = init_head(config.head, config.cell, rng, dtype)
    return params


def _unpacked(cell, W):
    """W_h with its core lists as plain Python lists: under autograd a traced list records one primitive
    per element access, which the step loop would repeat for every core at every step."""
    if cell.layout == "naive":
        return [list(cores) for cores in W]
    return W if cell.layout == "dense" else list(W)


def _projected(cell, params, X, T):
    """Ax = X W_x + b for X (T·B, I) time-major, as (T, B, G·H)."""
    Ax = cells.project(cell, params["W_x"], X) + params["b"]  # (T·B, G·H)
    return np.reshape(Ax, (T, np.shape(X)[0] // T, -1))  # (T, B, G·H)


def run_layer(cell, params, X, T, state=None, perturb=None):
    """Fast unroll of one layer over X (T·B, I), time-major: returns (h_1 … h_T (T, B, H), final state).

    The recurrence is one primitive (``layer.run``); with ``perturb`` (diagnostics) it runs the traced path.
    """
    if perturb is not None:
        return run_layer_traced(cell, params, X, T, state, perturb)
    Ax = _projected(cell, params, X, T)  # (T, B, G·H)
    state = cells.zero_state(cell, np.shape(Ax)[1], np.result_type(Ax)) if state is None else state
    return layer.run(cell, Ax, params["W_h"], state)


def run_layer_traced(cell, params, X, T, state=None, perturb=None):
    """Like ``run_layer``, with one product and one fused point-wise primitive per step, traced by autograd.

    ``perturb`` ({"h": [T arrays (B, H)], "c": …}, diagnostics only) is added to h_t (and c_t) as soon as they
    are made, so ∂L/∂perturb["h"][t] = ∂L/∂h_t; without it the loop records nothing extra.
    """
    lstm = cell.kind == "lstm"
    Ax = np.split(np.reshape(_projected(cell, params, X, T), (np.shape(X)[0], -1)), T)  # T × (B, G·H)
    W_h = _unpacked(cell, params["W_h"])
    state = cells.zero_state(cell, np.shape(Ax[0])[0], np.result_type(Ax[0])) if state is None else state
    h, c = state[0], (state[1] if lstm else None)  # (B, H), (B, H)
    hs = []
    for t in range(T):
        Ah = cells.project(cell, W_h, h)  # (B, G·H)
        if lstm:
            h, c = fused.lstm_pointwise(Ax[t], Ah, c)  # (B, H), (B, H)
        else:
            h = fused.gru_pointwise(Ax[t], Ah, h)  # (B, H)
        if perturb is not None:
            h = h + perturb["h"][t]  # (B, H)
            if lstm:
                c = c + perturb["c"][t]  # (B, H)
        hs.append(h)
    return np.stack(hs), ((h, c) if lstm else (h,))  # (T, B, H)


def unroll(cell, params, X, state=None):
    """One layer over X (B, T, I) by the fast path: (h sequence (B, T, H), final state)."""
    B, T, _ = np.shape(X)
    X = np.transpose(X, (1, 0, 2)).reshape(T * B, -1)  # (T·B, I)
    hs, state = run_layer(cell, params, X, T, state)  # (T, B, H)
    return np.transpose(hs, (1, 0, 2)), state  # (B, T, H)


def unroll_reference(cell, params, X, state=None):
    """One layer over X (B, T, I), one ``cells.step`` per time step: (h sequence (B, T, H), final state)."""
    B, T, _ = np.shape(X)
    state = cells.zero_state(cell, B, np.result_type(params["b"])) if state is None else state
    hs = []
    for t in range(T):
        state = cells.step(cell, params, X[:, t, :], state)  # (B, H) each
        hs.append(state[0])
    return np.stack(hs, axis=1), state  # (B, T, H)


def _check_input(config, params, X, state, perturb):
    if np.ndim(X) != 3 or np.shape(X)[2] != config.cell.input_size:
        raise ValueError(f"X must have shape (B, T, {config.cell.input_size}), got {np.shape(X)}")
    if np.shape(X)[1] == 0:
        raise ValueError(f"X must have at least one time step, got shape {np.shape(X)}")
    L = config.num_layers
    for name, value in (("state", state), ("perturb", perturb)):
        if value is not None and len(value) != L:
            raise ValueError(f"{name} must have one entry per layer ({L}), got {len(value)}")
    if len(params["layers"]) != L or (config.head is not None) != ("head" in params):
        raise ValueError(f"params do not match the config: {len(params['layers'])} layers and "
                         f"{'a' if 'head' in params else 'no'} head, expected {L} layers and "
                         f"{'a' if config.head is not None else 'no'} head")


def forward(config, params, X, state=None, return_state=False, perturb=None, traced=False):
    """Model output for X (B, T, I): logits or embeddings (B, K), or h_T (B, H) without a head.

    ``state``: one tuple per layer ((h, c) LSTM, (h,) GRU, each (B, H)) to start from instead of zeros.
    ``return_state=True`` also returns the final state of every layer.  X is cast to the parameters' dtype.
    ``traced=True`` unrolls every layer by the per-step traced path (``run_layer_traced``), for comparison.
    """
    _check_input(config, params, X, state, perturb)
    B, T, I = np.shape(X)
    dtype = np.result_type(params["layers"][0]["b"])
    if np.result_type(X) != dtype:
        X = X.astype(dtype)  # (B, T, I)
    X = np.transpose(X, (1, 0, 2)).reshape(T * B, I)  # (T·B, I)
    final = []
    unroll_layer = run_layer_traced if traced else run_layer
    for ell, (cell, layer_params) in enumerate(zip(config.layers, params["layers"])):
        hs, layer_state = unroll_layer(cell, layer_params, X, T, None if state is None else state[ell],
                                       None if perturb is None else perturb[ell])
        final.append(layer_state)
        if ell + 1 < config.num_layers:
            X = np.reshape(hs, (T * B, -1))  # (T·B, H)
    out = hs[-1] if config.head is None else apply_head(config.head, params["head"], hs[-1])  # (B, K)
    return (out, final) if return_state else out


def detach(state):
    """The state as plain arrays, cut from any autograd trace."""
    return [tuple(getval(s) for s in layer) for layer in state]


def value_and_grad_with_state(config, params, X, loss_fn, state=None):
    """(L, ∂L/∂params, final state as plain arrays) for L = loss_fn(forward(config, params, X, state)).

    For a loss on every window, loop this over the windows, passing each call's state to the next.
    """
    final = []

    def loss_of(p):
        out, new_state = forward(config, p, X, state, return_state=True)
        final.append(new_state)
        return loss_fn(out)

    loss, grads = value_and_grad(loss_of)(params)
    return loss, grads, detach(final[0])


def truncated_bptt(config, params, X, window, loss_fn, state=None):
    """Truncated BPTT for a loss on the final output: (L, ∂L/∂params, final state).

    The windows of ``window`` steps before the last are run forward only (no tape) and hand their state on as
    plain arrays; the gradient flows through the last window (the remaining 1 … window steps) alone.
    With window ≥ T this is full BPTT.
    """
    window = cells.check_positive_int("window", window)
    T = np.shape(X)[1]
    start = (T - 1) // window * window  # the last window is X[:, start:]
    if start > 0:
        _, state = forward(config, params, X[:, :start, :], state, return_state=True)
        state = detach(state)
    return value_and_grad_with_state(config, params, X[:, start:, :], loss_fn, state)
