"""Tutorial 09: the best rank-r factors of a matrix, the k-th unfolding of a TT-matrix, a low-rank LSTM's size."""
import math

import numpy as np


def truncated_svd(W, r):
    """(U (M, r), V (r, N)) with U V the best rank-r approximation of W: the leading r singular triplets, the
    singular values folded into U."""
    U, s, Vt = np.linalg.svd(W, full_matrices=False)  # (M, K), (K,), (K, N) with K = min(M, N)
    return U[:, :r] * s[:r], Vt[:r]  # (M, r), (r, N)


def unfolding(W, row_modes, col_modes, k):
    """The k-th unfolding of W (M, N) seen as a TT-matrix: rows (i_0, j_0, …, i_{k−1}, j_{k−1}), columns the rest."""
    m, n = tuple(row_modes), tuple(col_modes)
    d = len(m)
    A = np.reshape(W, m + n)  # (m_0, …, m_{d−1}, n_0, …, n_{d−1})
    A = A.transpose([axis for l in range(d) for axis in (l, d + l)])  # (m_0, n_0, m_1, n_1, …)
    return A.reshape(math.prod(m[:k]) * math.prod(n[:k]), -1)  # (∏_{l<k} m_l n_l, ∏_{l≥k} m_l n_l)


def lowrank_lstm_params(I, H, r):
    """Parameters of a low-rank LSTM cell: U_x V_x (I → 4H), U_h V_h (H → 4H), one bias of 4H."""
    return r * (I + 4 * H) + r * (H + 4 * H) + 4 * H
