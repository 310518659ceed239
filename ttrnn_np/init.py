"""Random TT-matrices whose *full* matrix has exactly the variance asked for.

Index letters: m/n row/column modes, r ranks (r_0 = r_d = 1), d number of cores.

If every core entry is iid N(0, σ_core²), an entry of the full matrix,

    W[i, j] = Σ_{α_1 … α_{d-1}} G_0[1, i_0, j_0, α_1] G_1[α_1, i_1, j_1, α_2] ⋯ G_{d-1}[α_{d-1}, i_{d-1}, j_{d-1}, 1],

is a sum of ∏_{k=1}^{d-1} r_k products of d independent zero-mean entries, so

    Var(W_ij) = (∏_{k=1}^{d-1} r_k) · σ_core^{2d}     ⇒     σ_core = (σ_full² / ∏_k r_k)^{1/(2d)}.

Glorot asks for σ_full² = 2/(M+N), He for 2/M (docs/method.md §4).  Forgetting the ∏ r_k factor (as TensorLy-Torch
does) undershoots σ_full by √(∏ r_k).  The entries of W are not Gaussian (they are sums of products), but their
variance is exact; ``tests/test_init.py`` checks it empirically across modes and ranks.
"""
import math
import numbers

import numpy as np

from .shapes import check_ranks

__all__ = ["core_std", "normal", "glorot", "he"]


def core_std(full_std, rank):
    """σ_core for a TT-matrix with ranks ``rank`` (full tuple) whose full matrix should have std ``full_std``."""
    d = len(rank) - 1
    return (full_std ** 2 / math.prod(rank)) ** (1 / (2 * d))


def normal(row_modes, col_modes, rank, std, rng, dtype=np.float64):
    """A random TT-matrix with iid N(0, σ_core²) core entries such that Var(full(W)_ij) = std²."""
    if not (std >= 0 and math.isfinite(std)):
        raise ValueError(f"std must be a finite number ≥ 0, got {std!r}")
    if len(row_modes) != len(col_modes):
        raise ValueError(f"row modes {tuple(row_modes)} and column modes {tuple(col_modes)} must have the same "
                         "length (one pair per core)")
    if not all(isinstance(m, numbers.Integral) and m >= 1 for m in (*row_modes, *col_modes)):
        raise ValueError(f"modes must be positive integers, got row modes {tuple(row_modes)} and column modes "
                         f"{tuple(col_modes)} (a mode 0 would make an empty core)")
    r = check_ranks(rank, row_modes, col_modes, stacklevel=3)
    sigma = core_std(std, r)
    return [(sigma * rng.standard_normal((r[k], m, n, r[k + 1]))).astype(dtype)  # (r_k, m_k, n_k, r_k+1)
            for k, (m, n) in enumerate(zip(row_modes, col_modes))]


def glorot(row_modes, col_modes, rank, rng, dtype=np.float64):
    """Glorot/Xavier: Var(W_ij) = 2 / (M + N) for the full M×N matrix."""
    M, N = math.prod(row_modes), math.prod(col_modes)
    return normal(row_modes, col_modes, rank, math.sqrt(2.0 / (M + N)), rng, dtype)


def he(row_modes, col_modes, rank, rng, dtype=np.float64):
    """He/Kaiming (fan-in): Var(W_ij) = 2 / M for the full M×N matrix."""
    return normal(row_modes, col_modes, rank, math.sqrt(2.0 / math.prod(row_modes)), rng, dtype)
