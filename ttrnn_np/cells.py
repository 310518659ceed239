"""Recurrent cells (LSTM, GRU): the gate equations, their backward, and the weights in five layouts.

Index letters: b batch, I input size, H hidden size, G gates (4 LSTM, 3 GRU), d factor cores, R rank,
a(n) = auto_shape(n, d), j = g·H + u a column of the stacked gate matrices (gate g, hidden unit u).

One step maps the input x (B, I) and the state to the next state through the stacked pre-activations

    Ax = x W_x + b,   Ah = h W_h,   W_x (I, G·H), W_h (H, G·H), b (G·H,)

whose contiguous column blocks [0:H], [H:2H], … belong to the gates (docs/method.md §6).

LSTM, blocks [i | f | g | o], state (h, c), A = Ax + Ah:
    i = σ(A_i),  f = σ(A_f),  g = tanh(A_g),  o = σ(A_o),   c' = f ⊙ c + i ⊙ g,   h' = o ⊙ tanh(c')
GRU, blocks [r | z | n], state (h,):
    r = σ(Ax_r + Ah_r),  z = σ(Ax_z + Ah_z),  n = tanh(Ax_n + r ⊙ Ah_n),   h' = (1 − z) ⊙ n + z ⊙ h
One bias per cell: the GRU's b_n sits outside the reset product.  PyTorch's GRU has a second bias inside,
n = tanh(x W_in + b_in + r ⊙ (h W_hn + b_hn)); ours is that with b_hn = 0.  The authors' code keeps two biases
per joint cell (docs/method.md §6, §11).

**One home for the gate equations.**  ``lstm_forward`` / ``gru_forward`` compute them and ``lstm_backward`` /
``gru_backward`` their vector-Jacobian products (the backward pass of one step, derived in docs/method.md §7).
The readable ``step`` calls the forward functions and autograd differentiates them as written; the fast layer
primitive (``layer.run``) calls the same forward functions on plain arrays and the backward functions for its
hand-written BPTT, and the tests hold the two equal.

**One weight representation.**  W_x and W_h are each a list of TT-matrix *blocks* placed side by side along
the columns (a block is a list of 4-D cores (r_k, m_k, n_k, r_{k+1}); ``project`` multiplies by all of them).
The layout is only the name that builds the blocks (``CellConfig.weight_shapes``, docs/method.md §5):
    dense            one block with one core (1, I, G·H, 1), i.e. the dense matrix
    naive            G blocks a(I)→a(H) (W_x) and a(H)→a(H) (W_h), one per gate
    joint            one block a(I)→a(G·H) and one a(H)→a(G·H) (the paper's "folded" layout)
    joint_gate_core  one block [1]+a(I)→[G]+a(H) and one [1]+a(H)→[G]+a(H): d + 1 cores, core 0 of shape
                     (1, 1, G, R) carries the gate index, so j = g·H + u exactly.
    lowrank          one block (I, 1)→(1, G·H) and one (H, 1)→(1, G·H): two cores, (1, M, 1, R) and
                     (R, 1, G·H, 1), so W[i, j] = Σ_α U[i, α] V[α, j]: W = U V with one rank R shared by the
                     stacked gates (the matrix analogue of the joint layout).  ``n_cores`` does not apply and
                     is ignored, as for the dense layout (it still sets the default d of a TT head).
In the joint layout with column modes (n_0, …, n_{d-1}) the gate g = j div H is a function of the leading
column digits (j_0, …, j_{p-1}) iff ∏_{k≥p} n_k divides H.  With p = 1 (iff G | n_0) the leading core alone
tells the gates apart; otherwise (e.g. 3072 at d = 4 → (6, 8, 8, 8)) one j_0 straddles two gates.  That
still works, but the sharing across gates is arbitrary: a ``GateAlignmentWarning`` says so.

Initialisation ("glorot", docs/method.md §4): every block gets Var = 2/(fan_in + fan_out) over its full
matrix: fan_out = G·H for the stacked layouts (dense, joint, gate core, lowrank), H for a naive block (each gate
is its own matrix); for lowrank Var((U V)_ij) = R σ_U² σ_V², so ``init.glorot`` draws σ_U = σ_V = (σ²/R)^¼.
Biases are 1e-3, plus ``forget_bias`` on the LSTM's [H:2H].  "reference" mimics the authors' PyTorch dense
cell: dense W_x ~ U(±1/√I), W_h and b ~ U(±1/√H); their TT layers are already Glorot with 1e-3 biases, so for
TT layouts (and lowrank) "reference" equals "glorot".
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

__all__ = ["GATES", "LAYOUTS", "INITS", "GateAlignmentWarning", "CellConfig", "gate_digits", "init_cell",
           "project", "dense_weights", "zero_state", "sigmoid", "lstm_forward", "lstm_backward", "gru_forward",
           "gru_backward", "step"]

GATES = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
LAYOUTS = ("dense", "naive", "joint", "joint_gate_core", "lowrank")
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

    kind "lstm" | "gru"; layout one of ``LAYOUTS``; n_cores = d factor cores (the gate core is extra; ignored
    by the dense and lowrank layouts, which have one and two cores whatever it says); rank = R on every inner
    bond (the rank of U V for lowrank); forget_bias is added to the LSTM's forget block [H:2H]; init "glorot" |
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
                if self.layout in ("dense", "lowrank"):
                    raise ValueError(f"{name} applies to the factorized TT layouts only (naive, joint, "
                                     f"joint_gate_core), got {name}={modes} with layout {self.layout!r}")
                if name == "out_modes" and self.layout != "joint":
                    raise ValueError(f"out_modes (the modes of G·H) applies to the joint layout only, got "
                                     f"layout {self.layout!r}")
                if isinstance(modes, (numbers.Number, str)) or not hasattr(modes, "__iter__"):
                    raise TypeError(f"{name} must be a tuple of positive integers, got {modes!r}")
                object.__setattr__(self, name, tuple(check_positive_int(name, m) for m in modes))
        self.weight_shapes  # resolve and check the modes now, so a bad config fails where it is made
        if self.layout == "joint" and self.gate_digits > 1:
            warnings.warn(f"joint layout with column modes {self.weight_shapes['W_x'][0][1]}: {self.num_gates} gates do "
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
    def weight_shapes(self):
        """{"W_x": [(row modes, column modes), …], "W_h": […]}: the TT-matrix blocks of each weight, side by side.

        The one place where the layout name decides the structure (module docstring).
        """
        d, G, H, I = self.n_cores, self.num_gates, self.hidden_size, self.input_size
        if self.layout == "dense":
            return {"W_x": [((I,), (G * H,))], "W_h": [((H,), (G * H,))]}
        if self.layout == "lowrank":  # U (1, M, 1, R), V (R, 1, G·H, 1)
            return {"W_x": [((I, 1), (1, G * H))], "W_h": [((H, 1), (1, G * H))]}
        a_I = _modes("in_modes", self.in_modes, I, d)
        a_H = _modes("hidden_modes", self.hidden_modes, H, d)
        if self.layout == "naive":
            return {"W_x": [(a_I, a_H)] * G, "W_h": [(a_H, a_H)] * G}
        if self.layout == "joint":
            a_GH = _modes("out_modes", self.out_modes, G * H, d)
            return {"W_x": [(a_I, a_GH)], "W_h": [(a_H, a_GH)]}
        return {"W_x": [((1,) + a_I, (G,) + a_H)], "W_h": [((1,) + a_H, (G,) + a_H)]}

    @property
    def gate_digits(self):
        """Leading column digits that fix the gate (joint layout; 1 = aligned); None for other layouts."""
        return gate_digits(self.weight_shapes["W_x"][0][1], self.hidden_size) if self.layout == "joint" else None


def check_dtype(dtype):
    """The NumPy dtype for float32 or float64; anything else raises."""
    dtype = onp.dtype(dtype)
    if dtype not in (onp.float32, onp.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def _init_block(config, row_modes, col_modes, rng, dtype):
    """One block's cores: Glorot over the block's full matrix, or PyTorch's U(±1/√fan_in) for a dense block with
    init="reference"."""
    if config.init == "reference" and len(row_modes) == 1:
        fan_in, fan_out = row_modes[0], col_modes[0]
        bound = 1.0 / math.sqrt(fan_in)
        return [rng.uniform(-bound, bound, (1, fan_in, fan_out, 1)).astype(dtype)]  # [(1, M, N, 1)]
    return tt_init.glorot(row_modes, col_modes, config.rank, rng, dtype)


def init_cell(config, rng, dtype=onp.float64):
    """Parameters {"W_x": blocks, "W_h": blocks, "b": (G·H,)} of one cell (a block is a list of TT cores)."""
    dtype = check_dtype(dtype)
    if not isinstance(rng, onp.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    H, G = config.hidden_size, config.num_gates
    params = {name: [_init_block(config, rows, cols, rng, dtype) for rows, cols in blocks]
              for name, blocks in config.weight_shapes.items()}
    if config.layout == "dense" and config.init == "reference":
        b = rng.uniform(-1.0 / math.sqrt(H), 1.0 / math.sqrt(H), G * H)  # (G·H,)
    else:
        b = onp.full(G * H, BIAS_INIT)  # (G·H,)
    if config.kind == "lstm":
        b[H:2 * H] += config.forget_bias
    params["b"] = b.astype(dtype)
    return params


def project(X, W):
    """X · W for a weight W stored as TT-matrix blocks side by side, never forming a TT block: (B, M) → (B, ΣN)."""
    Y = [matmul(X, block) for block in W]  # [(B, N_k)]
    return Y[0] if len(Y) == 1 else np.concatenate(Y, axis=1)  # (B, G·H)


def dense_weights(params):
    """The stacked dense matrices (W_x (I, G·H), W_h (H, G·H)) of a cell in any layout (differentiable)."""
    def stacked(W):
        return np.concatenate([full(block) for block in W], axis=1)  # (M, G·H)
    return stacked(params["W_x"]), stacked(params["W_h"])


def zero_state(config, batch_size, dtype):
    """The zero initial state: (h, c) for the LSTM, (h,) for the GRU, each (B, H)."""
    h = np.zeros((batch_size, config.hidden_size), dtype=dtype)  # (B, H)
    return (h, h) if config.kind == "lstm" else (h,)


def sigmoid(x):
    """σ(x) = 1/(1 + e^{−x}), written as (1 + tanh(x/2))/2 so that no exponential overflows."""
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


@functools.lru_cache(maxsize=64)
def _lstm_scales(H, dtype):
    """(s, s0) (4H,) each, with [σ | σ | tanh | σ](A) = s ⊙ tanh(s ⊙ A) + s0: s = s0 = ½ on the σ blocks
    (σ(x) = ½ tanh(x/2) + ½), s = 1 and s0 = 0 on g."""
    s = onp.repeat(onp.array([0.5, 0.5, 1.0, 0.5], dtype=dtype), H)  # (4H,)
    return s, onp.repeat(onp.array([0.5, 0.5, 0.0, 0.5], dtype=dtype), H)  # (4H,), (4H,)


def lstm_forward(A, c):
    """One LSTM update from the pre-activations A = Ax + Ah (B, 4H) and the cell state c (B, H).

    Returns (h', c', gates) with gates = [i | f | g | o] (B, 4H), which the backward pass reuses.  One tanh over
    the whole block makes all four activations (``_lstm_scales``).
    """
    H = np.shape(c)[1]
    s, s0 = _lstm_scales(H, onp.dtype(np.result_type(A)))
    gates = s * np.tanh(s * A) + s0  # (B, 4H)
    i, f, g, o = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]  # (B, H) each
    c = f * c + i * g  # (B, H)
    h = o * np.tanh(c)  # (B, H)
    return h, c, gates


def lstm_backward(gates, c_prev, c, h_bar, c_bar, out=None):
    """The VJP of ``lstm_forward``: (Ā (B, 4H), ∂L/∂c_prev (B, H)) from h̄ = ∂L/∂h' and c̄ = ∂L/∂c' (direct).

        c̄' = c̄ + h̄ o (1 − τ²),  τ = tanh(c')
        Ā = [c̄' g i(1−i) | c̄' c_prev f(1−f) | c̄' i (1−g²) | h̄ τ o(1−o)],   ∂L/∂c_prev = c̄' f

    Runs on plain arrays (it is a backward pass, never differentiated); ``out`` is an optional (B, 4H) array that
    receives Ā (the layer primitive's preallocated memory).
    """
    H = np.shape(c)[1]
    i, f, g, o = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]  # (B, H) each
    tau = onp.tanh(c)  # (B, H)
    c_bar = c_bar + h_bar * o * (1 - tau * tau)  # (B, H)
    A_bar = onp.concatenate([c_bar * g * i * (1 - i), c_bar * c_prev * f * (1 - f),
                             c_bar * i * (1 - g * g), h_bar * tau * o * (1 - o)], axis=1, out=out)  # (B, 4H)
    return A_bar, c_bar * f


def gru_forward(Ax, Ah, h):
    """One GRU update from Ax = x W_x + b and Ah = h W_h (B, 3H each) and the state h (B, H).

    Returns (h', gates) with gates = [r | z | n] (B, 3H), which the backward pass reuses.
    """
    H = np.shape(h)[1]
    r = sigmoid(Ax[:, :H] + Ah[:, :H])  # (B, H)
    z = sigmoid(Ax[:, H:2 * H] + Ah[:, H:2 * H])  # (B, H)
    n = np.tanh(Ax[:, 2 * H:] + r * Ah[:, 2 * H:])  # (B, H)
    h = (1 - z) * n + z * h  # (B, H)
    return h, np.concatenate([r, z, n], axis=1)  # (B, H), (B, 3H)


def gru_backward(gates, Ah_n, h_prev, h_bar):
    """The VJP of ``gru_forward``: (Āx (B, 3H), Āh (B, 3H), direct ∂L/∂h_prev (B, H)) from h̄ = ∂L/∂h'.

        n̄ = h̄ (1 − z)(1 − n²),  z̄ = h̄ (h_prev − n) z(1 − z),  r̄ = n̄ Ah_n r(1 − r)
        Āx = [r̄ | z̄ | n̄],   Āh = [r̄ | z̄ | n̄ ⊙ r],   ∂L/∂h_prev (not through Ah) = h̄ ⊙ z
    """
    H = np.shape(h_prev)[1]
    r, z, n = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:]  # (B, H) each
    n_bar = h_bar * (1 - z) * (1 - n * n)  # (B, H)
    z_bar = h_bar * (h_prev - n) * z * (1 - z)  # (B, H)
    r_bar = n_bar * Ah_n * r * (1 - r)  # (B, H)
    return (np.concatenate([r_bar, z_bar, n_bar], axis=1),  # (B, 3H)
            np.concatenate([r_bar, z_bar, n_bar * r], axis=1), h_bar * z)  # (B, 3H), (B, H)


def step(config, params, x, state):
    """One time step, equation by equation (the readable path): x (B, I), state → next state."""
    Ax = project(x, params["W_x"]) + params["b"]  # (B, G·H)
    Ah = project(state[0], params["W_h"])  # (B, G·H)
    if config.kind == "lstm":
        h, c, _ = lstm_forward(Ax + Ah, state[1])  # (B, H), (B, H)
        return h, c
    h, _ = gru_forward(Ax, Ah, state[0])  # (B, H)
    return (h,)
