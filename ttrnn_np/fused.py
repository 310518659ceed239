"""The point-wise half of an LSTM/GRU step as one autograd primitive with a hand-derived VJP.

Index letters: b batch, H hidden size, G gates; Ax = x W_x + b and Ah = h W_h are the (B, G·H) pre-activations
(see ``cells``).  autograd records every NumPy call on a traced array; the ~15 slices and element-wise ops of
``cells.step`` cost tape time at every step.  Here they are one primitive each way, and the backward pass is
written out from the forward equations.

LSTM forward:  A = Ax + Ah,  i = σ(A_i), f = σ(A_f), g = tanh(A_g), o = σ(A_o),
               c' = f c + i g,   τ = tanh(c'),   h' = o τ.
LSTM backward, given ∂L/∂h' = h̄ and the direct ∂L/∂c' = c̄ (from the next step):
               c̄' = c̄ + h̄ o (1 − τ²)
               Ā_i = c̄' g i (1 − i),  Ā_f = c̄' c f (1 − f),  Ā_g = c̄' i (1 − g²),  Ā_o = h̄ τ o (1 − o)
               Āx = Āh = [Ā_i | Ā_f | Ā_g | Ā_o],   c̄ (to the previous step) = c̄' f.
GRU forward:   r = σ(Ax_r + Ah_r),  z = σ(Ax_z + Ah_z),  n = tanh(Ax_n + r Ah_n),  h' = n + z (h − n).
GRU backward, given h̄:
               n̄ = h̄ (1 − z) (1 − n²),  z̄ = h̄ (h − n) z (1 − z),  r̄ = n̄ Ah_n r (1 − r)
               Āx = [r̄ | z̄ | n̄],   Āh = [r̄ | z̄ | n̄ r],   h̄ (direct, to the previous step) = h̄ z.
The VJP maker recomputes the gate activations from the inputs (autograd calls it while recording the forward
pass), which keeps the primitives' outputs exactly (h', c') and h'.  ``tests/test_cells.py`` checks both
primitives against autograd through the equations.
"""
import numpy as np
from autograd.extend import defvjp_argnums, primitive

__all__ = ["lstm_pointwise", "gru_pointwise"]


def _sigmoid(x):
    return 0.5 * (np.tanh(0.5 * x) + 1.0)  # σ(x) without overflow


def _lstm_gates(Ax, Ah):
    A = Ax + Ah  # (B, 4H)
    H = A.shape[1] // 4
    return (_sigmoid(A[:, :H]), _sigmoid(A[:, H:2 * H]),  # i, f (B, H)
            np.tanh(A[:, 2 * H:3 * H]), _sigmoid(A[:, 3 * H:]))  # g, o (B, H)


@primitive
def lstm_pointwise(Ax, Ah, c):
    """(h', c') from the (B, 4H) pre-activations Ax, Ah and the cell state c (B, H)."""
    i, f, g, o = _lstm_gates(Ax, Ah)
    c_new = f * c + i * g  # (B, H)
    return o * np.tanh(c_new), c_new


def _lstm_vjp(argnums, ans, args, kwargs):
    Ax, Ah, c = args
    i, f, g, o = _lstm_gates(Ax, Ah)
    tau = np.tanh(ans[1])  # (B, H)

    def vjp(g_out):
        h_bar, c_bar = g_out
        c_bar = c_bar + h_bar * o * (1 - tau * tau)  # (B, H)
        A_bar = np.concatenate([c_bar * g * i * (1 - i), c_bar * c * f * (1 - f),
                                c_bar * i * (1 - g * g), h_bar * tau * o * (1 - o)], axis=1)  # (B, 4H)
        grads = {0: A_bar, 1: A_bar, 2: c_bar * f}
        return tuple(grads[k] for k in argnums)
    return vjp


defvjp_argnums(lstm_pointwise, _lstm_vjp)


def _gru_gates(Ax, Ah):
    H = Ax.shape[1] // 3
    r = _sigmoid(Ax[:, :H] + Ah[:, :H])  # (B, H)
    z = _sigmoid(Ax[:, H:2 * H] + Ah[:, H:2 * H])  # (B, H)
    n = np.tanh(Ax[:, 2 * H:] + r * Ah[:, 2 * H:])  # (B, H)
    return r, z, n


@primitive
def gru_pointwise(Ax, Ah, h):
    """h' from the (B, 3H) pre-activations Ax (bias included), Ah and the state h (B, H)."""
    r, z, n = _gru_gates(Ax, Ah)
    return n + z * (h - n)  # (B, H)


def _gru_vjp(argnums, ans, args, kwargs):
    Ax, Ah, h = args
    r, z, n = _gru_gates(Ax, Ah)
    H = h.shape[1]

    def vjp(h_bar):
        n_bar = h_bar * (1 - z) * (1 - n * n)  # (B, H)
        z_bar = h_bar * (h - n) * z * (1 - z)  # (B, H)
        r_bar = n_bar * Ah[:, 2 * H:] * r * (1 - r)  # (B, H)
        grads = {0: np.concatenate([r_bar, z_bar, n_bar], axis=1),  # (B, 3H)
                 1: np.concatenate([r_bar, z_bar, n_bar * r], axis=1),  # (B, 3H)
                 2: h_bar * z}  # (B, H)
        return tuple(grads[k] for k in argnums)
    return vjp


defvjp_argnums(gru_pointwise, _gru_vjp)
