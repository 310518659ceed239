"""auto_shape follows the authors' prime-factor rule (docs/method.md §9); rank specs are normalised and
over-large ranks warned about."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ttrnn_np.shapes import (RankWarning, ShapeWarning, auto_shape, check_ranks, effective_ranks, entropy,
                             factorizations, max_ranks, rank_tuple)

# the paper's table of modes (docs/method.md §9), whole
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


def _prime_list(n):
    """n's prime factors with multiplicity, by trial division over every integer."""
    out = []
    for p in range(2, n + 1):
        while n % p == 0:
            out.append(p)
            n //= p
    return out


def _partition_products(n, d):
    """The authors' candidates by brute force: drop each of n's prime factors (padded with 1s to d) into each
    of d blocks in every way; keep the outcomes with no empty block, as sorted tuples of block products."""
    items = _prime_list(n)
    items += [1] * (d - len(items))
    states = {((1, 0),) * d}  # per block: (product, number of items), blocks sorted
    for item in items:
        states = {tuple(sorted(state[:i] + ((state[i][0] * item, state[i][1] + 1),) + state[i + 1:]))
                  for state in states for i in range(d)}
    return {tuple(sorted(p for p, _ in state)) for state in states if all(count > 0 for _, count in state)}


def _brute_force_auto_shape(n, d):
    """Max entropy over the partition products, ties to the lexicographically smallest tuple."""
    candidates = _partition_products(n, d)
    top = max(entropy(f) for f in candidates)
    return min(f for f in candidates if entropy(f) > top - 1e-12)


def test_auto_shape_matches_brute_force_on_a_grid():
    """Every n ≤ 2048 and d = 2…5 against the partition brute force (the lists of candidates too)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShapeWarning)
        for n in range(1, 2049):
            for d in (2, 3, 4, 5):
                assert auto_shape(n, d) == _brute_force_auto_shape(n, d), (n, d)
                if n % 97 == 0 or n < 200:
                    assert factorizations(n, d) == sorted(_partition_products(n, d)), (n, d)


@pytest.mark.parametrize("n, d, modes", [(44, 3, (2, 2, 11)), (44, 4, (1, 2, 2, 11)), (12, 4, (1, 2, 2, 3)),
                                         (60, 3, (3, 4, 5)), (7, 3, (1, 1, 7)), (6, 1, (6,))])
def test_auto_shape_examples(n, d, modes):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShapeWarning)
        assert auto_shape(n, d) == modes


def test_a_one_only_pads_too_few_prime_factors():
    # 44 = 2·2·11 has three prime factors: at d = 3 each gets its own mode, and (1, 4, 11) — more balanced by
    # entropy — is not a partition of {2, 2, 11} into three blocks
    assert entropy((1, 4, 11)) > entropy((2, 2, 11))
    assert factorizations(44, 3) == [(2, 2, 11)]
    assert factorizations(12, 2) == [(2, 6), (3, 4)]
    assert factorizations(10, 3) == [(1, 2, 5)]
    assert factorizations(7, 1) == [(7,)]


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
    # I=28 at d=4 is (1,2,2,7); with 4H = 1024 → (4,4,8,8) the first bond holds at most 1·4 = 4
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
