"""Checkers for tutorial 03: which gate a column belongs to, and one joint TT-LSTM step built by hand."""
import numpy as np

from ttrnn_np import cells, ttmatrix

from ._verdict import forbidden, require, require_close, verdict


def gate_of_column(student):
    """student(j, out_modes, H) → (digits (j_0, …), gate g, unit u) of column j of the stacked matrices."""
    def body():
        cases = [(700, (8, 8, 16), 256), (0, (8, 8, 16), 256), (1023, (8, 8, 16), 256), (511, (4, 4, 8, 8), 256),
                 (2000, (6, 8, 8, 8), 768), (300, (12, 8, 8), 256)]
        for j, modes, H in cases:
            expected = (tuple(int(v) for v in np.unravel_index(j, modes)), j // H, j % H)
            given = student(j, modes, H)
            require(isinstance(given, tuple) and len(given) == 3, f"a tuple (digits, gate, unit) expected, got {given!r}")
            digits, gate, unit = given
            given = (tuple(int(v) for v in digits), int(gate), int(unit))
            require(given == expected, f"column {j} with modes {modes}, H = {H}: {expected} expected, got {given}")
        return "6 columns, 3 and 4 cores, LSTM and GRU sizes"
    return verdict("the gate of a column", "digits: C order, j = (j_0·n_1 + j_1)·n_2 + j_2; gate j div H, unit "
                   "j mod H", body)


def lstm_step(student):
    """student(config, params, x, h, c) → (h', c') of a joint TT-LSTM from the TT product and the gate equations."""
    def body():
        rng = np.random.default_rng(31)
        for I, H, d, R in ((6, 8, 2, 3), (28, 16, 3, 2), (12, 32, 2, 4)):
            config = cells.CellConfig("lstm", "joint", I, H, n_cores=d, rank=R, forget_bias=1.0)
            params = cells.init_cell(config, rng)  # {"W_x": [cores], "W_h": [cores], "b": (4H,)}
            x = rng.standard_normal((3, I))  # (B, I)
            h, c = 0.5 * rng.standard_normal((2, 3, H))  # (B, H) each
            expected = cells.step(config, params, x, (h, c))  # (B, H) each
            advice = "build the step from ttmatmul.matmul and the gate equations, not from the library's cell"
            with forbidden(cells, ["step", "lstm_forward", "project", "dense_weights"], advice), \
                    forbidden(ttmatrix, ["full"], advice):
                given = student(config, params, x.copy(), h.copy(), c.copy())
            require(isinstance(given, tuple) and len(given) == 2, f"a pair (h, c) expected, got {type(given).__name__}")
            what = f"I = {I}, H = {H}, d = {d}, R = {R}"
            require_close(given[1], expected[1], f"{what}: c_t")
            require_close(given[0], expected[0], f"{what}: h_t")
        return "3 joint cells with 2 and 3 cores"
    return verdict("the joint TT-LSTM step", "A = matmul(x, W_x block) + matmul(h, W_h block) + b is (B, 4H); its "
                   "column blocks are [i | f | g | o]: σ, σ, tanh, σ; then c' = f·c + i·g and h' = o·tanh(c')", body)
