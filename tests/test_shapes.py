"""auto_shape reproduces docs/method.md §9's table; rank specs are normalised and over-large ranks warned about."""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ttrnn_np.shapes import (RankWarning, ShapeWarning, auto_shape, check_ranks, effective_ranks, entropy,
                             factorizations, max_ranks, rank_tuple)

# docs/method.md §9, the whole table
PAPER_TABLE = {
    1: [(1, 1), (1, 1, 1), (1, 1, 1, 1), (1, 1, 1, 1, 1)],
    10: [(2, 5), (1, 2, 5), (1, 1, 2, 5), (1, 1, 1, 2, 5)],
    28: [(4, 7), (2, 2, 7), (1, 2, 2, 7), (1, 1, 2, 2, 7)],
    40: [(5, 8), (2, 4, 5), (2, 2, 2, 5), (1, 2, 2, 2, 5)],
    256: [(16, 16), (4, 8, 8), (4, 4, 4, 4), (2, 2, 4, 4, 4)],
    512: [(16, 32), (8, 8, 8), (4, 4, 4, 8), (2, 4, 4, 4, 4)],
    768: [(24, 32), (8, 8, 12), (4, 4, 6, 8), (3, 4, 4, 4, 4)],
    1024: [(32, 32), (8, 8, 16), (4, 4, 8, 8), (4, 4, 4, 4, 4)],
    3072: [(48, 64), (12, 16, 16), (6, 8, 8, 8), (4, 4, 4, 6, 8)],
}


@pytest.mark.parametrize("n", sorted(PAPER_TABLE))
def test_auto_shape_reproduces_paper_table(n):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShapeWarning)
        assert [auto_shape(n, d) for d in (2, 3, 4, 5)] == PAPER_TABLE[n]


def test_factorizations_lists_every_sorted_tuple():
    assert factorizations(12, 2) == [(1, 12), (2, 6), (3, 4)]
    assert factorizations(8, 3) == [(1, 1, 8), (1, 2, 4), (2, 2, 2)]
    assert factorizations(7, 1) == [(7,)]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 3000), d=st.integers(1, 5))
def test_auto_shape_is_a_sorted_max_entropy_factorization(n, d):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShapeWarning)
        best = auto_shape(n, d)
    assert len(best) == d and math.prod(best) == n and list(best) == sorted(best)
    brute = [f for f in _brute_force(n, d)]
    top = max(entropy(f) for f in brute)
    assert entropy(best) == pytest.approx(top, abs=1e-12)
    ties = sorted(f for f in brute if abs(entropy(f) - top) < 1e-12)
    assert best == ties[0]  # lexicographic tie-break


def _brute_force(n, d):
    """Every sorted d-tuple with product n: all ordered tuples of divisors, then sorted."""
    if d == 1:
        return {(n,)}
    return {tuple(sorted((k,) + rest)) for k in range(1, n + 1) if n % k == 0 for rest in _brute_force(n // k, d - 1)}


def test_prime_and_one_warn():
    with pytest.warns(ShapeWarning, match="prime"):
        assert auto_shape(13, 3) == (1, 1, 13)
    with pytest.warns(ShapeWarning, match="all-ones"):
        auto_shape(1, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        auto_shape(256, 3)  # a good size: no warning


@pytest.mark.parametrize("n, d", [(0, 2), (-4, 2), (2.5, 2), (8, 0), (8, "3"), (True, 2)])
def test_auto_shape_rejects_bad_arguments(n, d):
    with pytest.raises(ValueError, match="positive integer"):
        auto_shape(n, d)


def test_rank_tuple_forms():
    assert rank_tuple(3, 4) == (1, 3, 3, 3, 1)
    assert rank_tuple([2, 5], 3) == (1, 2, 5, 1)
    assert rank_tuple([1, 2, 5, 1], 3) == (1, 2, 5, 1)
    assert rank_tuple(7, 1) == (1, 1)


@pytest.mark.parametrize("rank, match", [(0, "≥ 1"), ([2, 0], "≥ 1"), ([2, 2, 2], "inner ranks"),
                                         ([2, 3, 3, 1], "start and end with 1")])
def test_rank_tuple_rejects_bad_ranks(rank, match):
    with pytest.raises(ValueError, match=match):
        rank_tuple(rank, 3)


def test_max_ranks_and_warning_never_caps():
    # docs/method.md §3: I=28 at d=4 is (1,2,2,7); with 4H = 1024 → (4,4,8,8) the first bond holds at most 1·4 = 4
    assert max_ranks((1, 2, 2, 7), (4, 4, 8, 8)) == (1, 4, 32, 56, 1)
    with pytest.warns(RankWarning, match="bond 1: requested 8 > useful 4"):
        requested = check_ranks(8, (1, 2, 2, 7), (4, 4, 8, 8))
    assert requested == (1, 8, 8, 8, 1)  # kept as requested, not capped
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_ranks(4, (1, 2, 2, 7), (4, 4, 8, 8))


def test_effective_ranks_account_for_neighbouring_bonds():
    # (2,2,2,2)×(2,2,2,2): every core has m·n = 4; with r_1 = r_3 = 2 the middle bond holds at most 2·4 = 8
    assert effective_ranks([2, 100, 2], (2,) * 4, (2,) * 4) == (1, 2, 8, 2, 1)
    assert effective_ranks(10**6, (2, 3), (4, 5)) == max_ranks((2, 3), (4, 5))
    with pytest.warns(RankWarning, match="bond 2: requested 16 > useful 8"):
        check_ranks([2, 16, 2], (2,) * 4, (2,) * 4)


@settings(max_examples=40, deadline=None)
@given(m=st.lists(st.integers(1, 3), min_size=2, max_size=4), R=st.integers(1, 12), seed=st.integers(0, 99))
def test_effective_ranks_are_the_ranks_tt_svd_finds(m, R, seed):
    """A random TT-matrix with the requested ranks is generically of exactly the effective ranks."""
    from ttrnn_np import init, ttmatrix
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankWarning)
        cores = init.normal(m, m, R, 1.0, np.random.default_rng(seed))
    recovered = ttmatrix.ranks(ttmatrix.from_dense(ttmatrix.full(cores), m, m, eps=1e-10))
    assert recovered == effective_ranks(R, m, m)
