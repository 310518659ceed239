"""Recurrent cells (LSTM, GRU) in four weight layouts: dense, naive TT, joint TT, joint TT + gate core.

Index letters: b batch, I input size, H hidden size, G gates (4 LSTM, 3 GRU), d factor cores, R rank,
a(n) = auto_shape(n, d), j = g·H + u a column of the stacked gate matrices (gate g, hidden unit u).

One step maps the input x (B, I) and the state to the next state through the stacked pre-activations

    Ax = x W_x + b,   Ah = h W_h,   W_x (I, G·H), W_h (H, G·H), b (G·H,)

whose contiguous column blocks [0:H], [H:2H], … belong to the gates.

LSTM, blocks [i | f | g | o], state (h, c):
    i = σ(Ax_i + Ah_i),  f = σ(Ax_f + Ah_f),  g = tanh(Ax_g + Ah_g),  o = σ(Ax_o + Ah_o)
    c' = f ⊙ c + i ⊙ g,   h' = o ⊙ tanh(c')
GRU, blocks [r | z | n], state (h,):
    r = σ(Ax_r + Ah_r),  z = σ(Ax_z + Ah_z),  n = tanh(Ax_n + r ⊙ Ah_n)
    h' = (1 − z) ⊙ n + z ⊙ h
One bias per cell (PAPER.md §7.1): the GRU's b_n sits outside the reset product.  PyTorch's GRU has a second
bias inside, n = tanh(x W_in + b_in + r ⊙ (h W_hn + b_hn)); ours is that with b_hn = 0.

Layouts of W_x and W_h:
    dense            arrays (I, G·H) and (H, G·H)
    naive            G TT-matrices a(I)→a(H) and G TT-matrices a(H)→a(H), one per gate, side by side
    joint            one TT-matrix a(I)→a(G·H) and one a(H)→a(G·H) (the paper's "folded" layout)
    joint_gate_core  one TT-matrix [1]+a(I)→[G]+a(H) and one [1]+a(H)→[G]+a(H): d + 1 cores, core 0 of
                     shape (1, 1, G, R) carries the gate index, so j = g·H + u exactly.
In the joint layout with column modes (n_0, …, n_{d-1}) the gate g = j div H is a function of the leading
column digits (j_0, …, j_{p-1}) iff ∏_{k≥p} n_k divides H.  With p = 1 (iff G | n_0) the leading core alone
tells the gates apart; otherwise (e.g. 3072 at d = 4 → (6, 8, 8, 8)) one j_0 straddles two gates.  That
still works, but the sharing across gates is arbitrary: a ``GateAlignmentWarning`` says so.

Initialisation ("glorot", PAPER.md §7.2): the *full stacked* matrix has Var = 2/(fan_in + fan_out) with
fan_out = G·H: dense N(0, ·), joint and gate-core TT through ``init.glorot``; naive TT per gate with fan_out =
H (each gate is its own matrix).  Biases are 1e-3, plus ``forget_bias`` on the LSTM's [H:2H].  "reference"
mimics the authors' PyTorch dense cell: W_x ~ U(±1/√I), W_h and b ~ U(±1/√H); their TT layers are already
Glorot with 1e-3 biases, so for TT layouts "reference" equals "glorot".
"""
import dataclasses
import functools
import math
import numbers
import warnings

import autograd.numpy as np
import numpy as onp

from . import init as tt_init
from .shapes import auto_shape
from .ttmatmul import matmul
from .ttmatrix import full

__all__ = ["GATES", "LAYOUTS", "INITS", "BIAS_INIT", "GateAlignmentWarning", "CellConfig", "gate_digits",
           "check_positive_int", "check_dtype", "init_cell", "project", "dense_weights", "zero_state", "sigmoid",
           "step"]

GATES = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
LAYOUTS = ("dense", "naive", "joint", "joint_gate_core")
INITS = ("glorot", "reference")
BIAS_INIT = 1e-3


class GateAlignmentWarning(UserWarning):
    """Joint layout whose leading column mode does not separate the gates (G ∤ n_0)."""


def gate_digits(out_modes, hidden_size):
    """The number p of leading column digits that determine the gate g = j div H.

    The smallest p with ∏_{k≥p} n_k dividing H; p = 1 means the leading core alone tells the gates apart.

    >>> gate_digits((8, 8, 16), 256), gate_digits((6, 8, 8, 8), 768)
    (1, 2)
    """
    return next(p for p in range(1, len(out_modes) + 1) if hidden_size % math.prod(out_modes[p:]) == 0)


def check_positive_int(name, value):
    """``value`` as an int if it is a positive integer (not a bool); otherwise a ValueError naming ``name``."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _modes(name, modes, size, d):
    """Explicit modes checked against the size and d, or auto_shape(size, d)."""
    if modes is None:
        return auto_shape(size, d)
    if len(modes) != d:
        raise ValueError(f"{name}={modes} has {len(modes)} modes but n_cores={d}; give {d} modes or set "
                         f"n_cores={len(modes)}")
    if math.prod(modes) != size:
        raise ValueError(f"{name}={modes} multiply to {math.prod(modes)}, expected {size}")
    return modes


@dataclasses.dataclass(frozen=True)
class CellConfig:
    """Static description of one recurrent cell (never part of the differentiated pytree).

    kind "lstm" | "gru"; layout one of ``LAYOUTS``; n_cores = d factor cores (the gate core is extra);
    rank = R on every inner bond; forget_bias is added to the LSTM's forget block [H:2H]; init "glorot" |
    "reference".  Optional explicit modes (TT layouts): ``in_modes`` of I, ``hidden_modes`` of H and, for
    the joint layout, ``out_modes`` of G·H; each must have n_cores entries.
    """
    kind: str
    layout: str
    input_size: int
    hidden_size: int
    n_cores: int = 2
    rank: int = 2
    forget_bias: float = 0.0
    init: str = "glorot"
    in_modes: tuple = None
    hidden_modes: tuple = None
    out_modes: tuple = None

    def __post_init__(self):
        if self.kind not in GATES:
            raise ValueError(f"kind must be one of {tuple(GATES)}, got {self.kind!r}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {self.init!r}")
        for name in ("input_size", "hidden_size", "n_cores", "rank"):
            check_positive_int(name, getattr(self, name))
        if not (isinstance(self.forget_bias, numbers.Real) and math.isfinite(self.forget_bias)):
            raise ValueError(f"forget_bias must be a finite number, got {self.forget_bias!r}")
        if self.kind == "gru" and self.forget_bias != 0:
            raise ValueError(f"forget_bias applies to the LSTM only (a GRU has no forget gate), got "
                             f"{self.forget_bias!r}")
        for name in ("in_modes", "hidden_modes", "out_modes"):
            modes = getattr(self, name)
            if modes is not None:
                if self.layout == "dense":
                    raise ValueError(f"{name} applies to TT layouts only, got {name}={modes} with layout 'dense'")
                if name == "out_modes" and self.layout != "joint":
                    raise ValueError(f"out_modes (the modes of G·H) applies to the joint layout only, got "
                                     f"layout {self.layout!r}")
                if isinstance(modes, (numbers.Number, str)) or not hasattr(modes, "__iter__"):
                    raise TypeError(f"{name} must be a tuple of positive integers, got {modes!r}")
                object.__setattr__(self, name, tuple(check_positive_int(name, m) for m in modes))
        if self.layout != "dense":
            self.tt_shapes  # resolve and check the modes now, so a bad config fails where it is made
        if self.layout == "joint" and self.gate_digits > 1:
            warnings.warn(f"joint layout with column modes {self.tt_shapes['W_x'][1]}: {self.num_gates} gates do "
                          f"not divide the leading mode, so the gate index spans the leading {self.gate_digits} "
                          "column modes and one leading core slice straddles two gates",
                          GateAlignmentWarning, stacklevel=3)

    @property
    def num_gates(self):
        """G: 4 for the LSTM, 3 for the GRU."""
        return len(GATES[self.kind])

    @property
    def gate_names(self):
        return GATES[self.kind]

    @functools.cached_property
    def tt_shapes(self):
        """{"W_x": (row modes, column modes), "W_h": …} of each TT-matrix (one gate's, for naive); None for dense."""
        if self.layout == "dense":
            return None
        d, G, H = self.n_cores, self.num_gates, self.hidden_size
        a_I = _modes("in_modes", self.in_modes, self.input_size, d)
        a_H = _modes("hidden_modes", self.hidden_modes, H, d)
        if self.layout == "naive":
            return {"W_x": (a_I, a_H), "W_h": (a_H, a_H)}
        if self.layout == "joint":
            a_GH = _modes("out_modes", self.out_modes, G * H, d)
            return {"W_x": (a_I, a_GH), "W_h": (a_H, a_GH)}
        return {"W_x": ((1,) + a_I, (G,) + a_H), "W_h": ((1,) + a_H, (G,) + a_H)}

    @property
    def gate_digits(self):
        """Leading column digits that fix the gate (joint layout; 1 = aligned); None for other layouts."""
        return gate_digits(self.tt_shapes["W_x"][1], self.hidden_size) if self.layout == "joint" else None


def check_dtype(dtype):
    """The NumPy dtype for float32 or float64; anything else raises."""
    dtype = onp.dtype(dtype)
    if dtype not in (onp.float32, onp.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def _dense_weight(config, fan_in, rng, dtype):
    """A dense (fan_in, G·H) block: Glorot normal, or PyTorch's U(±1/√fan_in) for init="reference"."""
    shape = (fan_in, config.num_gates * config.hidden_size)
    if config.init == "reference":
        bound = 1.0 / math.sqrt(fan_in)
        return rng.uniform(-bound, bound, shape).astype(dtype)  # (fan_in, G·H)
    return (math.sqrt(2.0 / sum(shape)) * rng.standard_normal(shape)).astype(dtype)  # (fan_in, G·H)


def _tt_weight(config, name, rng, dtype):
    """One weight of a TT layout: a TT-matrix, or G of them (naive), Glorot over each matrix's full shape."""
    row_modes, col_modes = config.tt_shapes[name]
    if config.layout == "naive":
        return [tt_init.glorot(row_modes, col_modes, config.rank, rng, dtype) for _ in config.gate_names]
    return tt_init.glorot(row_modes, col_modes, config.rank, rng, dtype)


def init_cell(config, rng, dtype=onp.float64):
    """Parameters {"W_x", "W_h", "b"} of one cell: arrays (dense), TT cores (joint), per-gate core lists (naive)."""
    dtype = check_dtype(dtype)
    if not isinstance(rng, onp.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    H, G = config.hidden_size, config.num_gates
    if config.layout == "dense":
        W_x = _dense_weight(config, config.input_size, rng, dtype)  # (I, G·H)
        W_h = _dense_weight(config, H, rng, dtype)  # (H, G·H)
    else:
        W_x = _tt_weight(config, "W_x", rng, dtype)
        W_h = _tt_weight(config, "W_h", rng, dtype)
    if config.layout == "dense" and config.init == "reference":
        b = rng.uniform(-1.0 / math.sqrt(H), 1.0 / math.sqrt(H), G * H)  # (G·H,)
    else:
        b = onp.full(G * H, BIAS_INIT)  # (G·H,)
    if config.kind == "lstm":
        b[H:2 * H] += config.forget_bias
    return {"W_x": W_x, "W_h": W_h, "b": b.astype(dtype)}


def project(config, W, X):
    """X · W for one weight W of any layout, never forming a TT weight: X (B, M) → (B, G·H)."""
    if config.layout == "dense":
        return np.dot(X, W)  # (B, G·H)
    if config.layout == "naive":
        return np.concatenate([matmul(X, cores) for cores in W], axis=1)  # (B, G·H)
    return matmul(X, W)  # (B, G·H)


def _stacked(config, W):
    if config.layout == "dense":
        return W  # (M, G·H)
    if config.layout == "naive":
        return np.concatenate([full(cores) for cores in W], axis=1)  # (M, G·H)
    return full(W)  # (M, G·H)


def dense_weights(config, params):
    """The stacked dense matrices (W_x (I, G·H), W_h (H, G·H)) of any layout (differentiable)."""
    return _stacked(config, params["W_x"]), _stacked(config, params["W_h"])


def zero_state(config, batch_size, dtype):
    """The zero initial state: (h, c) for the LSTM, (h,) for the GRU, each (B, H)."""
    h = np.zeros((batch_size, config.hidden_size), dtype=dtype)  # (B, H)
    return (h, h) if config.kind == "lstm" else (h,)


def sigmoid(x):
    """σ(x) = 1/(1 + e^{−x}), written as (1 + tanh(x/2))/2 so that no exponential overflows."""
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


def step(config, params, x, state):
    """One time step, equation by equation (the readable path): x (B, I), state → next state."""
    H = config.hidden_size
    Ax = project(config, params["W_x"], x) + params["b"]  # (B, G·H)
    Ah = project(config, params["W_h"], state[0])  # (B, G·H)
    if config.kind == "lstm":
        h, c = state
        A = Ax + Ah  # (B, 4H)
        i = sigmoid(A[:, :H])  # (B, H)
        f = sigmoid(A[:, H:2 * H])  # (B, H)
        g = np.tanh(A[:, 2 * H:3 * H])  # (B, H)
        o = sigmoid(A[:, 3 * H:])  # (B, H)
        c = f * c + i * g  # (B, H)
        h = o * np.tanh(c)  # (B, H)
        return h, c
    (h,) = state
    r = sigmoid(Ax[:, :H] + Ah[:, :H])  # (B, H)
    z = sigmoid(Ax[:, H:2 * H] + Ah[:, H:2 * H])  # (B, H)
    n = np.tanh(Ax[:, 2 * H:] + r * Ah[:, 2 * H:])  # (B, H)
    h = (1 - z) * n + z * h  # (B, H)
    return (h,)
