"""TT-matrices: a matrix W ∈ R^{M×N} stored as a chain of 4-D cores.

Index letters: m (row modes), n (column modes), r (ranks), d (number of cores).

With row modes M = m_0⋯m_{d-1} and column modes N = n_0⋯n_{d-1}, core k has shape (r_k, m_k, n_k, r_{k+1}),
r_0 = r_d = 1, and

    W[i, j] = G_0[:, i_0, j_0, :] · G_1[:, i_1, j_1, :] ⋯ G_{d-1}[:, i_{d-1}, j_{d-1}, :]

where the row index i = ((i_0·m_1 + i_1)·m_2 + …) and the column index j likewise are read in C order, mode 0
most significant (docs/method.md §3).  A TT-matrix *is* its list of cores; everything (modes, ranks, size) is read
off the core shapes.  The layer convention is y = x W + b with W of shape (in, out).

``full`` is differentiable by autograd (it is how tests build the dense twin of a TT cell); ``from_dense``
(TT-SVD) is not, and belongs outside ``grad``.
"""
import math

import autograd.numpy as np
import numpy as onp

from . import tt
from . import pytree

__all__ = ["row_modes", "col_modes", "ranks", "shape", "compression", "full", "from_dense", "describe"]


def validate(cores):
    """Check that ``cores`` is a valid TT-matrix; return it.  Raises ValueError naming the offending core."""
    if isinstance(cores, str) or not hasattr(cores, "__len__") or np.ndim(cores[0] if len(cores) else 0) == 0:
        raise ValueError(f"a TT-matrix is a non-empty list of 4-D cores (r, m, n, r'), got {type(cores).__name__}")
    for k, G in enumerate(cores):
        if np.ndim(G) != 4:
            raise ValueError(f"TT-matrix core {k} must be 4-D (r_k, m_k, n_k, r_k+1), got shape {np.shape(G)}")
    if np.shape(cores[0])[0] != 1 or np.shape(cores[-1])[3] != 1:
        raise ValueError(f"TT-matrix boundary ranks must be 1, got r_0={np.shape(cores[0])[0]} and "
                         f"r_d={np.shape(cores[-1])[3]}")
    for k in range(len(cores) - 1):
        left, right = np.shape(cores[k]), np.shape(cores[k + 1])
        if left[3] != right[0]:
            raise ValueError(f"TT-matrix cores {k} and {k + 1} do not chain: shapes {left} and {right} "
                             f"(need {left[3]} == {right[0]})")
    return cores


def row_modes(cores):
    """(m_0, …, m_{d-1})."""
    return tuple(int(np.shape(G)[1]) for G in cores)


def col_modes(cores):
    """(n_0, …, n_{d-1})."""
    return tuple(int(np.shape(G)[2]) for G in cores)


def ranks(cores):
    """(r_0 = 1, r_1, …, r_{d-1}, r_d = 1)."""
    return tuple(int(np.shape(G)[0]) for G in cores) + (int(np.shape(cores[-1])[3]),)


def shape(cores):
    """(M, N) = (∏ m_k, ∏ n_k)."""
    return math.prod(row_modes(cores)), math.prod(col_modes(cores))


def compression(cores):
    """Dense size M·N divided by the TT parameter count."""
    M, N = shape(cores)
    return M * N / pytree.num_params(cores)


def full(cores):
    """The dense (M, N) matrix: chain the cores, then un-interleave row and column modes.

    The partial product P carries the modes seen so far as (m_0, n_0, …, m_k, n_k) in its rows and the open
    rank r_{k+1} in its last axis.
    """
    validate(cores)
    d = len(cores)
    P = cores[0].reshape(-1, np.shape(cores[0])[3])  # (m0·n0, r1)
    for G in cores[1:]:
        r_k = np.shape(G)[0]
        P = np.dot(P, G.reshape(r_k, -1))  # (m0·n0⋯, m_k·n_k·r_{k+1})
        P = P.reshape(-1, np.shape(G)[3])  # (m0·n0⋯m_k·n_k, r_{k+1})
    m, n = row_modes(cores), col_modes(cores)
    W = P.reshape([size for pair in zip(m, n) for size in pair])  # (m0, n0, m1, n1, …)
    W = np.transpose(W, list(range(0, 2 * d, 2)) + list(range(1, 2 * d, 2)))  # (m0, …, m_{d-1}, n0, …, n_{d-1})
    return W.reshape(math.prod(m), math.prod(n))  # (M, N)


def from_dense(W, row_modes, col_modes, eps=1e-12, max_rank=None):
    """TT-SVD of a dense matrix: the TT-matrix closest to W with ‖W − full‖_F ≤ eps·‖W‖_F (see ``tt.tt_svd``).

    The matrix is reshaped to (m_0, …, m_{d-1}, n_0, …, n_{d-1}), its modes interleaved to
    (m_0, n_0, m_1, n_1, …), merged pairwise into a d-way tensor with modes m_k·n_k, and decomposed.
    """
    W = onp.asarray(W)
    m, n = tuple(row_modes), tuple(col_modes)
    if W.ndim != 2:
        raise ValueError(f"from_dense expects a 2-D matrix, got an array of shape {W.shape}")
    if len(m) != len(n):
        raise ValueError(f"row modes {m} and column modes {n} must have the same length (one pair per core)")
    if W.shape != (math.prod(m), math.prod(n)):
        raise ValueError(f"matrix of shape {W.shape} does not match modes {m}×{n} "
                         f"(products {math.prod(m)}×{math.prod(n)})")
    d = len(m)
    A = W.reshape(m + n)  # (m0, …, m_{d-1}, n0, …, n_{d-1})
    A = A.transpose([axis for k in range(d) for axis in (k, d + k)])  # (m0, n0, m1, n1, …)
    A = A.reshape([m[k] * n[k] for k in range(d)])  # (m0·n0, …, m_{d-1}·n_{d-1})
    cores3 = tt.tt_svd(A, eps=eps, max_rank=max_rank)
    return [G.reshape(G.shape[0], m[k], n[k], G.shape[2]) for k, G in enumerate(cores3)]  # (r_k, m_k, n_k, r_k+1)


def describe(cores):
    """A one-line summary: shape, modes, ranks, parameters and compression."""
    validate(cores)
    (M, N), m, n = shape(cores), row_modes(cores), col_modes(cores)
    return (f"TT-matrix {M}×{N} = ({'×'.join(map(str, m))})×({'×'.join(map(str, n))}), "
            f"ranks {'-'.join(map(str, ranks(cores)))}, {pytree.num_params(cores):,} params "
            f"({compression(cores):.1f}× compression)")
