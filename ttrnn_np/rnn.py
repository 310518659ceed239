"""Recurrent networks: unroll a cell over time, stack layers, put a head on top; truncated BPTT.

Index letters: b batch, t time (T steps), I input size, H hidden size, G gates, ℓ layer (L layers).
Inputs are batch-first, X (B, T, I); inside, sequences run time-major, rows ordered (t, b).

Each layer starts from its own zero state (h_0, c_0) = 0 unless a state is given (the authors' code shares
one state object between layers); layer ℓ > 0 reads layer ℓ−1's sequence h_1 … h_T, and the head reads the
last layer's h_T.

Two unrolls, held equal by the tests:

* ``unroll`` — the fast path, used for training: the input projections of all T steps in one product, then the
  whole recurrence as one autograd primitive with hand-written BPTT (``layer.run``):

      Ax = [x_1; …; x_T] W_x + b          (T·B, G·H)    one product (one TT product for joint), traced
      h_1 … h_T = layer.run(Ax, W_h, state)           one primitive: the loop and BPTT in plain NumPy

  so autograd records a handful of nodes per layer whatever T is.
* ``unroll_reference`` — the readable path: ``cells.step`` at every step, differentiated by autograd as written.
  It also takes ``perturb`` (diagnostics): arrays added to h_t (and c_t) as soon as they are made, so that
  ∂L/∂perturb[t] = ∂L/∂h_t.

``forward`` runs a whole model by either path.  Truncated BPTT (``truncated_bptt``): the windows before the last
run forward only and hand their state on as plain arrays, so no gradient crosses into them (docs/method.md §7).
"""
import dataclasses
import functools
import warnings

import autograd.numpy as np
import numpy as onp
from autograd.tracer import getval

from . import cells, layer
from .heads import HeadConfig, apply_head, init_head

__all__ = ["ModelConfig", "init_model", "unroll", "unroll_reference", "forward", "truncated_bptt", "upgrade_params"]


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


def _unroll_time_major(cell, params, X, T, state=None):
    """The fast unroll of one layer over X (T·B, I), time-major: (h_1 … h_T (T, B, H), final state)."""
    Ax = cells.project(X, params["W_x"]) + params["b"]  # (T·B, G·H)
    Ax = np.reshape(Ax, (T, np.shape(X)[0] // T, -1))  # (T, B, G·H)
    state = cells.zero_state(cell, np.shape(Ax)[1], np.result_type(Ax)) if state is None else state
    return layer.run(cell, Ax, params["W_h"], state)


def unroll(cell, params, X, state=None):
    """One layer over X (B, T, I) by the fast path: (h sequence (B, T, H), final state)."""
    B, T, _ = np.shape(X)
    X = np.reshape(np.transpose(X, (1, 0, 2)), (T * B, -1))  # (T·B, I)
    hs, state = _unroll_time_major(cell, params, X, T, state)  # (T, B, H)
    return np.transpose(hs, (1, 0, 2)), state  # (B, T, H)


def unroll_reference(cell, params, X, state=None, perturb=None):
    """One layer over X (B, T, I), one ``cells.step`` per time step: (h sequence (B, T, H), final state).

    ``perturb`` ({"h": [T arrays (B, H)], "c": …}, diagnostics only) is added to h_t (and c_t) as soon as they are
    made, so that ∂L/∂perturb["h"][t] = ∂L/∂h_t.
    """
    B, T, _ = np.shape(X)
    state = cells.zero_state(cell, B, np.result_type(params["b"])) if state is None else state
    hs = []
    for t in range(T):
        state = cells.step(cell, params, X[:, t, :], state)  # (B, H) each
        if perturb is not None:
            state = tuple(s + perturb[name][t] for s, name in zip(state, ("h", "c")))  # (B, H) each
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
    if state is not None:
        B, H, parts = np.shape(X)[0], config.cell.hidden_size, 2 if config.cell.kind == "lstm" else 1
        for ell, layer_state in enumerate(state):
            shapes = [np.shape(s) for s in layer_state]
            if len(shapes) != parts or any(s != (B, H) for s in shapes):
                raise ValueError(f"state[{ell}] must be {parts} array(s) of shape (B, H) = ({B}, {H}) "
                                 f"({'(h, c)' if parts == 2 else '(h,)'} for X with B = {B}), got shapes {shapes}")
    if len(params["layers"]) != L or (config.head is not None) != ("head" in params):
        raise ValueError(f"params do not match the config: {len(params['layers'])} layers and "
                         f"{'a' if 'head' in params else 'no'} head, expected {L} layers and "
                         f"{'a' if config.head is not None else 'no'} head")


def forward(config, params, X, state=None, return_state=False, perturb=None, reference=False):
    """Model output for X (B, T, I): logits or embeddings (B, K), or h_T (B, H) without a head.

    ``state``: one tuple per layer ((h, c) LSTM, (h,) GRU, each (B, H)) to start from instead of zeros.
    ``return_state=True`` also returns the final state of every layer.  X is cast to the parameters' dtype.
    ``reference=True`` (or a ``perturb``, one entry per layer) unrolls every layer by ``unroll_reference``.
    Shapes are checked (X, state); values are not: a NaN or inf in X, a state or the parameters propagates into
    the output as in NumPy (see ``ttmatmul.matmul``); ``training.fit`` stops on a non-finite loss.
    """
    _check_input(config, params, X, state, perturb)
    B, T, I = np.shape(X)
    dtype = np.result_type(params["layers"][0]["b"])
    if np.result_type(X) != dtype:
        X = X.astype(dtype)  # (B, T, I)
    reference = reference or perturb is not None
    if not reference:
        X = np.reshape(np.transpose(X, (1, 0, 2)), (T * B, I))  # (T·B, I), time-major
    final = []
    for ell, (cell, layer_params) in enumerate(zip(config.layers, params["layers"])):
        layer_state = None if state is None else state[ell]
        if reference:
            X, layer_state = unroll_reference(cell, layer_params, X, layer_state,
                                              None if perturb is None else perturb[ell])  # (B, T, H)
            h_T = X[:, -1, :]  # (B, H)
        else:
            hs, layer_state = _unroll_time_major(cell, layer_params, X, T, layer_state)  # (T, B, H)
            X, h_T = np.reshape(hs, (T * B, -1)), hs[-1]  # (T·B, H), (B, H)
        final.append(layer_state)
    out = h_T if config.head is None else apply_head(config.head, params["head"], h_T)  # (B, K)
    return (out, final) if return_state else out


def _detach(state):
    """The state as plain arrays, cut from any autograd trace."""
    return [tuple(getval(s) for s in layer_state) for layer_state in state]


def truncated_bptt(config, params, X, window, state=None, return_state=False):
    """The model output for X (B, T, I) with the gradient truncated to the last window of ``window`` steps.

    The windows before the last (the last holds the remaining 1 … ``window`` steps) run forward only on plain
    arrays and hand their state on, so autograd sees only the last window.  With window ≥ T this is
    ``forward``.  Use it inside a loss: ``value_and_grad(lambda p: loss(truncated_bptt(config, p, X, K), y))``.
    """
    window = cells.check_positive_int("window", window)
    T = np.shape(X)[1]
    start = (T - 1) // window * window  # the last window is X[:, start:]
    if start > 0:
        _, state = forward(config, getval(params), X[:, :start, :], state, return_state=True)
        state = _detach(state)
    return forward(config, params, X[:, start:, :], state, return_state=return_state)


def _as_blocks(W):
    """One weight in the current format: a 2-D array becomes one block of one core, one core list one block."""
    if isinstance(W, onp.ndarray):
        return [[W.reshape(1, *W.shape, 1)]]  # [[(1, M, N, 1)]]
    return [list(W)] if isinstance(W[0], onp.ndarray) else [list(block) for block in W]


def upgrade_params(tree):
    """A parameter tree (or a tree holding such trees, e.g. Adam's moments) saved before TT-matrix blocks,
    in the current format; a current tree comes back unchanged.

    Before, a cell stored a dense W_x / W_h as a matrix (M, N), a joint one as a list of cores and a naive one
    as a list of core lists, and a dense head W as a matrix (H, K).  Now every cell weight is a list of blocks
    (``cells``) and a head's W a list of cores; a matrix is one core (1, M, N, 1).  Checkpoints of older runs
    go through this on loading.
    """
    if isinstance(tree, dict):
        tree = {key: upgrade_params(value) for key, value in tree.items()}
        if {"W_x", "W_h", "b"} <= set(tree):
            tree.update(W_x=_as_blocks(tree["W_x"]), W_h=_as_blocks(tree["W_h"]))
        elif {"W", "b"} <= set(tree) and isinstance(tree["W"], onp.ndarray):
            tree["W"] = [tree["W"].reshape(1, *tree["W"].shape, 1)]  # [(1, H, K, 1)]
        return tree
    if isinstance(tree, (list, tuple)) and tree and all(isinstance(t, dict) for t in tree):
        return type(tree)(upgrade_params(t) for t in tree)
    return tree
