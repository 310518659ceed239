"""The cost model of a TT-matrix: parameters, FLOPs of the product X·W, and the break-even rank.

Index letters: m/n row/column modes, r ranks (full tuple, r_0 = r_d = 1), k core index, d cores.

For one sample (one row of X), multiplying by a TT-matrix costs (docs/method.md §3), a multiply-add counted as 2 FLOPs,

    left-to-right:  Σ_k 2 r_k r_{k+1} (∏_{l≤k} n_l)(∏_{l≥k} m_l)
    right-to-left:  Σ_k 2 r_k r_{k+1} (∏_{l≤k} m_l)(∏_{l≥k} n_l)
    dense:          2 M N

and the TT-matrix stores Σ_k r_k m_k n_k r_{k+1} numbers against M·N dense.  Fewer FLOPs do not guarantee less
time: a chain of small products runs below the BLAS peak that one large GEMM reaches (see the benchmarks).
"""
import math

from .shapes import rank_tuple

__all__ = ["num_params", "matmul_flops", "break_even_rank"]


def num_params(row_modes, col_modes, rank):
    """The parameters a TT-matrix of these modes and ranks will have, Σ_k r_k m_k n_k r_{k+1} (predicted from the
    shapes; ``pytree.num_params`` counts the entries of cores that exist).  ``rank``: an int R, the inner ranks or
    the full tuple."""
    r = rank_tuple(rank, len(row_modes))
    return sum(r[k] * m * n * r[k + 1] for k, (m, n) in enumerate(zip(row_modes, col_modes)))


def matmul_flops(row_modes, col_modes, rank):
    """FLOPs per sample of X·W: {"ltr": …, "rtl": …, "best": min of the two, "dense": 2MN}."""
    m, n, r = tuple(row_modes), tuple(col_modes), rank_tuple(rank, len(row_modes))
    d = len(m)
    ltr = sum(2 * r[k] * r[k + 1] * math.prod(n[:k + 1]) * math.prod(m[k:]) for k in range(d))
    rtl = sum(2 * r[k] * r[k + 1] * math.prod(m[:k + 1]) * math.prod(n[k:]) for k in range(d))
    return {"ltr": ltr, "rtl": rtl, "best": min(ltr, rtl), "dense": 2 * math.prod(m) * math.prod(n)}


def break_even_rank(row_modes, col_modes, max_rank=1024):
    """The smallest uniform rank R at which the cheaper TT order needs at least the dense FLOPs.

    Below it the TT product does less arithmetic than the dense one.  Returns None when even ``max_rank``
    stays cheaper (or for a single core, whose rank is fixed at 1).
    """
    if len(row_modes) == 1:
        return None
    for R in range(1, max_rank + 1):
        flops = matmul_flops(row_modes, col_modes, R)
        if flops["best"] >= flops["dense"]:
            return R
    return None
