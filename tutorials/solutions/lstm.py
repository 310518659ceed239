"""Tutorial 03: the gate of a column, and one joint TT-LSTM step from the TT product and the gate equations."""
import numpy as np

from ttrnn_np import ttmatmul


def gate_of_column(j, out_modes, H):
    """(digits of j in C order, gate j div H, unit j mod H)."""
    digits, rest = [], j
    for n_k in reversed(out_modes):  # the last digit varies fastest
        rest, digit = divmod(rest, n_k)
        digits.insert(0, digit)
    return tuple(digits), j // H, j % H


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def lstm_step(config, params, x, h, c):
    """(h', c') of a joint TT-LSTM: A = x·W_x + h·W_h + b, gate blocks [i | f | g | o]."""
    (W_x,), (W_h,) = params["W_x"], params["W_h"]  # one TT block each (joint layout)
    A = ttmatmul.matmul(x, W_x) + ttmatmul.matmul(h, W_h) + params["b"]  # (B, 4H)
    H = config.hidden_size
    i, f = sigmoid(A[:, :H]), sigmoid(A[:, H:2 * H])  # (B, H) each
    g, o = np.tanh(A[:, 2 * H:3 * H]), sigmoid(A[:, 3 * H:])  # (B, H) each
    c_next = f * c + i * g  # (B, H)
    return o * np.tanh(c_next), c_next  # (B, H) each
