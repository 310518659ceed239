"""Choosing tensor-train modes: factorize a dimension n into d factors (``auto_shape``).

A TT-matrix needs its row dimension M and column dimension N written as products of d *modes*,
M = m_0·m_1⋯m_{d-1} and N = n_0·n_1⋯n_{d-1}.  Balanced modes give the smallest cores and the cheapest
products, so we pick the factorization whose factors are "most equal", measured by the entropy of the
factors' shares:

    H(f) = −Σ_i p_i ln p_i,   p_i = f_i / Σ_j f_j.

Rule (docs/method.md §9): enumerate every non-decreasing d-tuple of positive integers whose product is n (1s
allowed), keep the largest entropy, and break ties by the lexicographically smallest tuple.  The authors'
reference code breaks ties in hash-set order; ours is deterministic and reproduces the paper's table.
Row and column dimensions are factorized independently; row mode k pairs with column mode k.
"""
import math
import numbers
import warnings

__all__ = ["ShapeWarning", "RankWarning", "factorizations", "entropy", "auto_shape", "is_prime",
           "rank_tuple", "max_ranks", "effective_ranks", "check_ranks"]


class ShapeWarning(UserWarning):
    """A dimension factorizes badly (prime, or 1): its TT cores will be unbalanced or wasteful."""


class RankWarning(UserWarning):
    """A requested TT rank is larger than the bond can use: the extra parameters are redundant."""


def factorizations(n, d):
    """All non-decreasing d-tuples of positive integers whose product is n, in lexicographic order.

    >>> factorizations(12, 2)
    [(1, 12), (2, 6), (3, 4)]
    """
    n, d = _check_n_d(n, d)

    def extend(remaining, slots, smallest):
        if slots == 1:
            return [(remaining,)] if remaining >= smallest else []
        tuples = []
        for f in range(smallest, remaining + 1):
            if f ** slots > remaining:  # the remaining factors are all ≥ f
                break
            if remaining % f == 0:
                tuples += [(f,) + rest for rest in extend(remaining // f, slots - 1, f)]
        return tuples

    return extend(n, d, 1)


def entropy(factors):
    """H(f) = −Σ p_i ln p_i with p_i = f_i/Σf: largest when all factors are equal."""
    total = sum(factors)
    return -sum(f / total * math.log(f / total) for f in factors)


def auto_shape(n, d, warn=True):
    """The most balanced factorization of n into d ascending modes (max entropy, lexicographic tie-break).

    >>> auto_shape(256, 3), auto_shape(768, 4), auto_shape(28, 2)
    ((4, 8, 8), (4, 4, 6, 8), (4, 7))

    With ``warn=True`` a :class:`ShapeWarning` is issued when n > 1 is prime (all of n lands in one core) or
    n = 1 (an all-ones mode tuple: a TT-"vector", which costs more than the dense product).
    """
    candidates = factorizations(n, d)
    # max entropy; among equal entropies the lexicographically smallest tuple (candidates are sorted)
    best = max(candidates, key=lambda f: (round(entropy(f), 12), [-x for x in f]))
    if warn and d > 1:
        if n == 1:
            warnings.warn(f"auto_shape(1, {d}) gives all-ones modes: a TT over a size-1 dimension is a "
                          "TT-vector whose product costs more than the dense one", ShapeWarning, stacklevel=2)
        elif is_prime(n):
            warnings.warn(f"auto_shape({n}, {d}): {n} is prime, so the modes are {best} and one core holds the "
                          "whole dimension; consider a nearby composite size", ShapeWarning, stacklevel=2)
    return best


def is_prime(n):
    """True for a prime integer n ≥ 2."""
    return n >= 2 and all(n % p for p in range(2, math.isqrt(n) + 1))


def _check_n_d(n, d):
    if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not isinstance(d, numbers.Integral) or isinstance(d, bool) or d < 1:
        raise ValueError(f"d (number of cores) must be a positive integer, got {d!r}")
    return int(n), int(d)


def rank_tuple(rank, d):
    """Normalise a rank spec to the full tuple (1, r_1, …, r_{d-1}, 1).

    ``rank`` is an int R (every inner bond R), a list of the d−1 inner ranks, or the full list of d+1 ranks.
    """
    if isinstance(rank, numbers.Integral) and not isinstance(rank, bool):
        inner = [int(rank)] * (d - 1)
    else:
        rank = [int(r) for r in rank]
        if len(rank) == d + 1:
            if rank[0] != 1 or rank[-1] != 1:
                raise ValueError(f"a full rank list must start and end with 1, got {rank}")
            inner = rank[1:-1]
        elif len(rank) == d - 1:
            inner = rank
        else:
            raise ValueError(f"for {d} cores give one rank, {d - 1} inner ranks or {d + 1} ranks; got {rank}")
    if any(r < 1 for r in inner):
        raise ValueError(f"TT ranks must be ≥ 1, got {inner}")
    return (1, *inner, 1)


def max_ranks(row_modes, col_modes):
    """The largest useful rank of each bond: r_k ≤ min(∏_{l<k} m_l n_l, ∏_{l≥k} m_l n_l) (full tuple)."""
    sizes = [m * n for m, n in zip(row_modes, col_modes)]
    return (1, *(min(math.prod(sizes[:k]), math.prod(sizes[k:])) for k in range(1, len(sizes))), 1)


def effective_ranks(rank, row_modes, col_modes):
    """The ranks a TT-matrix with the requested ranks can actually use (full tuple).

    A bond can carry no more than its neighbours feed it: r_k ≤ r_{k-1}·m_{k-1}n_{k-1} (sweeping left to right)
    and r_k ≤ m_k n_k·r_{k+1} (sweeping right to left).  With unlimited requests this gives ``max_ranks``.
    """
    r = list(rank_tuple(rank, len(row_modes)))
    sizes = [m * n for m, n in zip(row_modes, col_modes)]
    for k in range(1, len(sizes)):
        r[k] = min(r[k], r[k - 1] * sizes[k - 1])
    for k in reversed(range(1, len(sizes))):
        r[k] = min(r[k], sizes[k] * r[k + 1])
    return tuple(r)


def check_ranks(rank, row_modes, col_modes, stacklevel=2):
    """Normalise ``rank`` and warn (``RankWarning``) for every bond above what it can use.

    Ranks are never capped silently: the requested ranks are kept (their extra parameters are redundant but
    harmless), and the warning names the bond, the requested rank and the effective one (``effective_ranks``).
    """
    requested = rank_tuple(rank, len(row_modes))
    effective = effective_ranks(requested, row_modes, col_modes)
    over = [(k, r, e) for k, (r, e) in enumerate(zip(requested, effective)) if r > e]
    if over:
        detail = ", ".join(f"bond {k}: requested {r} > useful {e}" for k, r, e in over)
        warnings.warn(f"TT-matrix {tuple(row_modes)}×{tuple(col_modes)}: {detail}; effective ranks are "
                      f"{effective}", RankWarning, stacklevel=stacklevel)
    return requested
