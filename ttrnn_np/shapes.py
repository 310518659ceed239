"""Choosing tensor-train modes: factorize a dimension n into d factors (``auto_shape``).

A TT-matrix needs its row dimension M and column dimension N written as products of d *modes*,
M = m_0·m_1⋯m_{d-1} and N = n_0·n_1⋯n_{d-1}.  Balanced modes give the smallest cores and the cheapest
products, so we pick the factorization whose factors are "most equal", measured by the entropy of the
factors' shares:

    H(f) = −Σ_i p_i ln p_i,   p_i = f_i / Σ_j f_j.

Rule (the authors' rule, docs/method.md §9).  Write n as its multiset of prime factors, padded with 1s up to
d entries when n has fewer than d prime factors; partition that multiset into exactly d non-empty blocks;
multiply out each block and sort ascending.  Among the tuples this gives, keep the largest entropy.

What the partitions can give, and how ``factorizations`` lists it:

* n has at least d prime factors (counted with multiplicity): every ascending d-tuple of factors ≥ 2 whose
  product is n (each factor collects the primes of one block), and nothing with a 1 in it;
* n has fewer than d prime factors (or exactly d): the d padded entries fill the d blocks one each, so the only
  tuple is the prime factors themselves, padded with 1s — e.g. 10 at d = 3 is (1, 2, 5).

Ties in entropy go to the lexicographically smallest tuple; the authors' code takes whichever tuple its hash
set yields first, so our choice is deterministic where theirs may not be.  A rule that also allowed 1s beside
other splits (every ascending tuple with product n) can differ: 44 at d = 3 is (2, 2, 11) here, while
(1, 4, 11) has a larger entropy.  Row and column dimensions are factorized independently; row mode k pairs with
column mode k.
"""
import functools
import math
import numbers
import warnings

__all__ = ["ShapeWarning", "RankWarning", "auto_shape", "factorizations", "entropy", "rank_tuple",
           "max_ranks", "effective_ranks", "check_ranks"]


class ShapeWarning(UserWarning):
    """A dimension factorizes badly (prime, or 1): its TT cores will be unbalanced or wasteful."""


class RankWarning(UserWarning):
    """A requested TT rank is larger than the bond can use: the extra parameters are redundant."""


def _prime_factors(n):
    """The prime factors of n ≥ 1 in ascending order, with multiplicity (empty for n = 1)."""
    primes, p = [], 2
    while p * p <= n:
        while n % p == 0:
            primes.append(p)
            n //= p
        p += 1
    return primes + ([n] if n > 1 else [])


def _ascending_splits(n, slots, smallest):
    """Every ascending ``slots``-tuple of integers ≥ ``smallest`` with product n, in lexicographic order."""
    if slots == 1:
        return [(n,)] if n >= smallest else []
    tuples = []
    f = smallest
    while f ** slots <= n:  # the remaining factors are all ≥ f
        if n % f == 0:
            tuples += [(f,) + rest for rest in _ascending_splits(n // f, slots - 1, f)]
        f += 1
    return tuples


@functools.lru_cache(maxsize=None)
def _factorizations(n, d):
    primes = _prime_factors(n)
    if len(primes) <= d:
        return ((1,) * (d - len(primes)) + tuple(primes),)
    return tuple(_ascending_splits(n, d, 2))


def factorizations(n, d):
    """The candidate modes of ``auto_shape``: the ascending d-tuples that the partitions of n's prime factors
    (padded with 1s to d) into d blocks give, in lexicographic order.

    >>> factorizations(12, 2), factorizations(10, 3), factorizations(16, 3)
    ([(2, 6), (3, 4)], [(1, 2, 5)], [(2, 2, 4)])
    """
    return list(_factorizations(*_check_n_d(n, d)))


def entropy(factors):
    """H(f) = −Σ p_i ln p_i with p_i = f_i/Σf: largest when all factors are equal."""
    total = sum(factors)
    return -sum(f / total * math.log(f / total) for f in factors)


@functools.lru_cache(maxsize=None)
def _most_balanced(n, d):
    # the candidates are in lexicographic order and max keeps the first of equal keys: the tie-break.
    # Entropies are rounded so that equal values computed in a different order compare equal.
    return max(_factorizations(n, d), key=lambda f: round(entropy(f), 12))


def auto_shape(n, d, warn=True):
    """The most balanced grouping of n's prime factors into d ascending modes (see the module docstring).

    >>> auto_shape(256, 3), auto_shape(768, 4), auto_shape(28, 2), auto_shape(44, 3)
    ((4, 8, 8), (4, 4, 6, 8), (4, 7), (2, 2, 11))

    With ``warn=True`` a :class:`ShapeWarning` is issued when n > 1 is prime (all of n lands in one core) or
    n = 1 (an all-ones mode tuple: a TT-"vector", which costs more than the dense product).
    """
    n, d = _check_n_d(n, d)
    best = _most_balanced(n, d)
    if warn and d > 1:
        if n == 1:
            warnings.warn(f"auto_shape(1, {d}) gives all-ones modes: a TT over a size-1 dimension is a "
                          "TT-vector whose product costs more than the dense one", ShapeWarning, stacklevel=2)
        elif len(_prime_factors(n)) == 1:
            warnings.warn(f"auto_shape({n}, {d}): {n} is prime, so the modes are {best} and one core holds the "
                          "whole dimension; consider a nearby composite size", ShapeWarning, stacklevel=2)
    return best


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
        given = rank
        try:
            rank = list(rank)
        except TypeError:
            rank = None
        if rank is None or not all(isinstance(r, numbers.Integral) and not isinstance(r, bool) for r in rank):
            raise TypeError(f"rank must be an integer or a list of integers, got {given!r}")
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
