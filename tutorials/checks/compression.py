"""Checkers for tutorial 09: the best rank-r factors of a matrix, the k-th unfolding, a low-rank LSTM's size."""
import numbers

import numpy as np

from ttrnn_np import cells, compress, init, sizes, ttmatrix

from ._verdict import forbidden, require, require_close, verdict


def truncated_svd(student):
    """student(W, r) → (U (M, r), V (r, N)) with ‖W − U V‖_F = √(Σ_{α>r} σ_α²), the smallest any rank r allows."""
    def body():
        rng = np.random.default_rng(91)
        low = rng.standard_normal((12, 2)) @ rng.standard_normal((2, 40))  # (12, 40), rank 2
        cases = [(rng.standard_normal((6, 20)), 2, "a Gaussian 6×20"),
                 (rng.standard_normal((8, 32)) @ np.diag(0.8 ** np.arange(32)), 3, "an 8×32 stacked-gate shape"),
                 (low, 2, "a 12×40 matrix of rank 2"), (rng.standard_normal((5, 7)), 5, "a 5×7 at full rank")]
        for W, r, what in cases:
            U, V = student(W.copy(), r)
            U, V = np.asarray(U), np.asarray(V)
            require(U.shape == (W.shape[0], r) and V.shape == (r, W.shape[1]),
                    f"{what}, r = {r}: U {(W.shape[0], r)} and V {(r, W.shape[1])} expected, got U {U.shape} "
                    f"and V {V.shape}")
            sigma = np.linalg.svd(W, compute_uv=False)  # (min(M, N),)
            tail = float(np.sqrt(np.sum(sigma[r:] ** 2)))
            error = float(np.linalg.norm(W - U @ V))
            require(np.isclose(error, tail, rtol=1e-8, atol=1e-10 * sigma[0]),
                    f"{what}, r = {r}: ‖W − U V‖_F = √(Σ_(α>r) σ_α²) = {tail:.6g} expected (Eckart–Young), "
                    f"got {error:.6g}")
        return "4 matrices, among them one of exact rank 2 and one at full rank"
    return verdict("the best rank-r factors", "take np.linalg.svd(W, full_matrices=False), keep the leading r "
                   "columns of U, the leading r singular values and the leading r rows of Vᵀ, and fold the "
                   "singular values into one factor", body)


def unfolding(student):
    """student(W, row_modes, col_modes, k) → the k-th unfolding, whose singular values are
    compress.unfolding_spectra's entry k − 1."""
    def body():
        rng = np.random.default_rng(92)
        shapes = [((4, 7), (16, 16), 3, 1), ((2, 2, 7), (4, 8, 8), 2, 1), ((2, 2, 7), (4, 8, 8), 2, 2),
                  ((4, 4, 4), (4, 8, 8), 3, 2), ((2, 3, 2, 2), (2, 2, 3, 2), 2, 3)]
        for m, n, R, k in shapes:
            W = ttmatrix.full(init.normal(m, n, R, std=1.0, rng=rng))  # (M, N) of TT ranks ≤ R
            expected = compress.unfolding_spectra(W, m, n)[k - 1]  # (min(rows, cols),)
            rows = int(np.prod(m[:k]) * np.prod(n[:k]))
            with forbidden(compress, ["unfolding_spectra"], "build the unfolding from W's reshapes yourself"):
                A = np.asarray(student(W.copy(), m, n, k))
            require(A.shape == (rows, W.size // rows), f"modes {m}×{n}, k = {k}: shape "
                    f"{(rows, W.size // rows)} = (∏_(l<k) m_l n_l, ∏_(l≥k) m_l n_l) expected, got {A.shape}")
            require_close(np.linalg.svd(A, compute_uv=False), expected,
                          f"modes {m}×{n}, k = {k}: the singular values of your unfolding", rtol=1e-8, atol=1e-8)
        return "5 TT-matrices of 2, 3 and 4 cores, every bond: the singular values match unfolding_spectra"
    return verdict("the k-th unfolding", "reshape W to (m_0, …, m_{d−1}, n_0, …, n_{d−1}), transpose to "
                   "(m_0, n_0, m_1, n_1, …) and reshape to (∏_(l<k) m_l n_l, −1); without the transpose the "
                   "rows mix row and column digits the TT cores do not group", body)


def lowrank_lstm_params(student):
    """student(I, H, r) → the parameters of a low-rank LSTM cell, as sizes.model_sizes counts them."""
    def body():
        for I, H, r in ((28, 64, 5), (28, 256, 2), (1, 128, 16), (40, 7, 3), (3, 1, 1)):
            expected = sizes.model_sizes(cells.CellConfig("lstm", "lowrank", I, H, rank=r))["total"]
            with forbidden(sizes, ["model_sizes", "cell_sizes"], "count the factors and the bias yourself"):
                given = student(I, H, r)
            require(isinstance(given, numbers.Integral), f"I = {I}, H = {H}, r = {r}: an integer expected, got "
                    f"{given!r}")
            require(given == expected, f"I = {I}, H = {H}, r = {r}: {expected:,} expected, got {given:,}")
        return "5 cells, against sizes.model_sizes"
    return verdict("the low-rank LSTM's size", "W_x = U_x V_x with U_x (I, r) and V_x (r, 4H); W_h = U_h V_h with "
                   "U_h (H, r) and V_h (r, 4H); and one bias of 4H", body)
