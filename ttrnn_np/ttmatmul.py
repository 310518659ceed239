"""The product Y = X·W of a dense batch X (B, M) with a TT-matrix W (M, N), without ever forming W.

Index letters: b batch, m/n row/column modes, r ranks, k core index, d number of cores.
M_{<k} = ∏_{l<k} m_l, M_{>k} = ∏_{l>k} m_l, and likewise N_{<k}, N_{>k}.

Two contraction orders give the same Y (PAPER.md §2):

* **left-to-right** sweeps the cores k = 0, 1, …, d−1.  Before step k the carry Z holds, for every sample,
  the column modes already produced and the row modes still to be consumed:

      Z[(m_{>k}, b, n_{<k}), (r_k, m_k)]   --  · G_k[(r_k, m_k), (n_k, r_{k+1})]  -->  (m_{>k}, b, n_{≤k}, r_{k+1})

  then m_{k+1} moves from the front to the back with one 2-D transpose so that (r_{k+1}, m_{k+1}) are adjacent.
  FLOPs per sample: Σ_k 2 r_k r_{k+1} (∏_{l≤k} n_l)(∏_{l≥k} m_l).

* **right-to-left** sweeps k = d−1, …, 0 with the mirror-image carry

      Z[(n_{>k}, b, m_{<k}), (m_k, r_{k+1})] · G_k[(m_k, r_{k+1}), (r_k, n_k)]  -->  (n_{>k}, b, m_{<k}, r_k, n_k)

  then n_k moves to the front.  FLOPs per sample: Σ_k 2 r_k r_{k+1} (∏_{l≤k} m_l)(∏_{l≥k} n_l).

Each step is one BLAS matrix product plus reshapes, so autograd differentiates it as is.  ``matmul`` picks the
cheaper order from the cost model; ``matmul_reference`` is the slow, obviously-correct path X · full(W).
"""
import autograd.numpy as np

from . import cost
from .ttmatrix import full, row_modes, col_modes, ranks, shape, validate

__all__ = ["matmul", "matmul_left_to_right", "matmul_right_to_left", "matmul_reference"]


def matmul_reference(X, cores):
    """X · full(W): forms the dense matrix.  Readable and slow; the fast paths are tested against it."""
    return np.dot(X, full(cores))  # (B, N)


def matmul_left_to_right(X, cores):
    """X · W contracting core 0 first (see module docstring)."""
    m, n, r = row_modes(cores), col_modes(cores), ranks(cores)
    B = np.shape(X)[0]
    Z = X.reshape(B, m[0], -1)  # (B, m0, M_{>0})
    Z = np.transpose(Z, (2, 0, 1)).reshape(-1, m[0])  # (M_{>0}·B, r0·m0)
    for k, G in enumerate(cores):
        Z = np.dot(Z, G.reshape(r[k] * m[k], n[k] * r[k + 1]))  # (M_{>k}·B·N_{<k}, n_k·r_{k+1})
        if k + 1 < len(cores):
            Z = Z.reshape(m[k + 1], -1).T  # (M_{>k+1}·B·N_{≤k}·r_{k+1}, m_{k+1})
            Z = Z.reshape(-1, r[k + 1] * m[k + 1])  # (M_{>k+1}·B·N_{≤k}, r_{k+1}·m_{k+1})
    return Z.reshape(B, -1)  # (B, N)


def matmul_right_to_left(X, cores):
    """X · W contracting core d−1 first (see module docstring)."""
    m, n, r = row_modes(cores), col_modes(cores), ranks(cores)
    B = np.shape(X)[0]
    Z = X.reshape(-1, m[-1])  # (B·M_{<d-1}, m_{d-1}·r_d)
    for k in reversed(range(len(cores))):
        G = np.transpose(cores[k], (1, 3, 0, 2))  # (m_k, r_{k+1}, r_k, n_k)
        Z = np.dot(Z, G.reshape(m[k] * r[k + 1], r[k] * n[k]))  # (N_{>k}·B·M_{<k}, r_k·n_k)
        Z = Z.reshape(-1, n[k]).T  # (n_k, N_{>k}·B·M_{<k}·r_k)
        if k > 0:
            Z = Z.reshape(-1, m[k - 1] * r[k])  # (N_{≥k}·B·M_{<k-1}, m_{k-1}·r_k)
    return Z.reshape(-1, B).T  # (B, N)


def matmul(X, cores, order="auto"):
    """Y = X · W for X (B, M) and a TT-matrix W (M, N), never forming W.

    ``order`` is "auto" (the cheaper direction by FLOP count), "ltr" or "rtl".
    """
    validate(cores)
    M, N = shape(cores)
    if np.ndim(X) != 2 or np.shape(X)[1] != M:
        raise ValueError(f"X must have shape (B, {M}) to multiply a {M}×{N} TT-matrix, got {np.shape(X)}")
    if order == "auto":
        flops = cost.matmul_flops(row_modes(cores), col_modes(cores), ranks(cores))
        order = "ltr" if flops["ltr"] <= flops["rtl"] else "rtl"
    if order == "ltr":
        return matmul_left_to_right(X, cores)
    if order == "rtl":
        return matmul_right_to_left(X, cores)
    raise ValueError(f"order must be 'auto', 'ltr' or 'rtl', got {order!r}")
