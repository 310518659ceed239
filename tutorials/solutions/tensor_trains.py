"""Tutorial 01: TT-SVD, rounding, and the sum tensor's cores."""
import numpy as np


def truncation_rank(s, delta):
    """The smallest r ≥ 1 whose dropped singular values s[r:] have norm ≤ delta."""
    dropped = np.sqrt(np.cumsum(s[::-1] ** 2)[::-1])  # (q,) dropped[r] = ‖s[r:]‖
    return next((r for r in range(1, len(s)) if dropped[r] <= delta), len(s))


def tt_svd(A, eps):
    """TT cores (r_k, n_k, r_{k+1}) of A with ‖A − full‖_F ≤ eps·‖A‖_F."""
    shape, d = A.shape, A.ndim
    delta = eps * np.linalg.norm(A) / np.sqrt(max(d - 1, 1))
    cores, C = [], A.reshape(1, -1)  # (r_0, n_0⋯n_{d−1})
    for n_k in shape[:-1]:
        r_k = C.shape[0]
        U, s, Vt = np.linalg.svd(C.reshape(r_k * n_k, -1), full_matrices=False)  # (r_k·n_k, q), (q,), (q, rest)
        r = truncation_rank(s, delta)
        cores.append(U[:, :r].reshape(r_k, n_k, r))  # (r_k, n_k, r_{k+1})
        C = s[:r, None] * Vt[:r]  # (r_{k+1}, n_{k+1}⋯n_{d−1})
    cores.append(C.reshape(C.shape[0], shape[-1], 1))  # (r_{d−1}, n_{d−1}, 1)
    return cores


def tt_round(cores, eps):
    """Recompress a TT to relative accuracy eps without forming the full tensor."""
    cores = [np.array(G, dtype=float) for G in cores]
    d = len(cores)
    for k in range(d - 1, 0, -1):  # right-orthogonalize: QR of each core's transposed right unfolding
        r_k, n_k, r_next = cores[k].shape
        Q, Rt = np.linalg.qr(cores[k].reshape(r_k, n_k * r_next).T)  # (n_k·r_next, q), (q, r_k)
        cores[k] = Q.T.reshape(-1, n_k, r_next)  # (q, n_k, r_{k+1})
        cores[k - 1] = np.tensordot(cores[k - 1], Rt.T, axes=(2, 0))  # (r_{k−1}, n_{k−1}, q)
    delta = eps * np.linalg.norm(cores[0]) / np.sqrt(max(d - 1, 1))  # the norm now sits in core 0
    for k in range(d - 1):
        r_k, n_k, r_next = cores[k].shape
        U, s, Vt = np.linalg.svd(cores[k].reshape(r_k * n_k, r_next), full_matrices=False)  # (r_k·n_k, q), (q,), (q, r)
        r = truncation_rank(s, delta)
        cores[k] = U[:, :r].reshape(r_k, n_k, r)  # (r_k, n_k, r)
        cores[k + 1] = np.tensordot(s[:r, None] * Vt[:r], cores[k + 1], axes=(1, 0))  # (r, n_{k+1}, r_{k+2})
    return cores


def sum_tensor_cores(n, d):
    """Rank-2 TT cores of S[i_0, …, i_{d−1}] = i_0 + … + i_{d−1}."""
    i = np.arange(n, dtype=float)  # (n,)
    ones, zeros = np.ones(n), np.zeros(n)  # (n,) each
    first = np.stack([i, ones], axis=-1)[None]  # (1, n, 2): (i, 1)
    middle = np.stack([np.stack([ones, zeros], -1), np.stack([i, ones], -1)], axis=0)  # (2, n, 2): [[1, 0], [i, 1]]
    last = np.stack([ones, i], axis=0)[..., None]  # (2, n, 1): (1, i)ᵀ
    return [first] + [middle] * (d - 2) + [last]
