"""The TT initializers give the *full* matrix the requested variance, for any modes and ranks (docs/method.md §4)."""
import math

import numpy as np
import pytest

from ttrnn_np import init, ttmatrix
from ttrnn_np.shapes import rank_tuple


@pytest.mark.parametrize("fan_in, fan_out, d, R, expected", [
    (28, 1024, 2, 2, 0.1756), (28, 1024, 2, 4, 0.1477), (28, 1024, 3, 4, 0.2217), (28, 1024, 4, 2, 0.3524),
    (28, 1024, 4, 8, 0.2095), (256, 1024, 2, 2, 0.1672), (256, 1024, 2, 4, 0.1406), (256, 1024, 3, 2, 0.2704),
    (256, 1024, 4, 4, 0.2651), (768, 3072, 2, 2, 0.1270),
])
def test_core_std_reproduces_paper_examples(fan_in, fan_out, d, R, expected):
    assert init.core_std(math.sqrt(2 / (fan_in + fan_out)), rank_tuple(R, d)) == pytest.approx(expected, abs=5e-5)


@pytest.mark.parametrize("m, n, rank", [
    ((4, 7), (32, 32), 1), ((4, 7), (32, 32), 4), ((2, 2, 7), (8, 8, 16), 4), ((4, 4, 4, 4), (4, 4, 8, 8), 2),
    ((4, 4, 4, 4), (4, 4, 8, 8), 8), ((2, 3, 4), (4, 3, 2), [3, 5]),
])
def test_glorot_full_matrix_has_the_glorot_variance(m, n, rank):
    """Average the empirical variance of full(W) over independent draws; compare with 2/(M+N).

    The entries of one draw are correlated through the shared cores, so the tolerance comes from the spread of
    the per-draw variances (a 5-standard-error band), not from the number of entries.
    """
    rng = np.random.default_rng(0)
    M, N = math.prod(m), math.prod(n)
    per_draw = np.array([np.mean(ttmatrix.full(init.glorot(m, n, rank, rng)) ** 2) for _ in range(300)])
    target = 2 / (M + N)
    standard_error = per_draw.std(ddof=1) / math.sqrt(len(per_draw))
    assert abs(per_draw.mean() - target) < 5 * standard_error
    assert abs(per_draw.mean() / target - 1) < 0.2


def test_he_and_normal_variances():
    rng = np.random.default_rng(1)
    m, n = (2, 4, 4), (4, 4, 4)
    he = np.mean([np.mean(ttmatrix.full(init.he(m, n, 3, rng)) ** 2) for _ in range(300)])
    assert he == pytest.approx(2 / 32, rel=0.15)
    normal = np.mean([np.mean(ttmatrix.full(init.normal(m, n, 3, 0.1, rng)) ** 2) for _ in range(300)])
    assert normal == pytest.approx(0.01, rel=0.15)


def test_the_unscaled_rule_undershoots():
    """What goes wrong without the rank factor: σ_core = σ^{1/d} gives a full std √(∏r) too large/small."""
    naive_core_std = (0.1) ** (1 / 3)
    assert init.core_std(0.1, (1, 4, 4, 1)) == pytest.approx(naive_core_std / 16 ** (1 / 6))


def test_normal_rejects_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="finite number ≥ 0"):
        init.normal((2, 2), (2, 2), 2, -1.0, rng)
    with pytest.raises(ValueError, match="same length"):
        init.normal((2, 2), (4,), 2, 0.1, rng)


def test_bad_ranks_and_modes_are_named():
    rng = np.random.default_rng(0)
    with pytest.raises(TypeError, match="rank must be an integer or a list of integers, got 2.7"):
        init.glorot((4, 4), (4, 4), rank=2.7, rng=rng)
    with pytest.raises(TypeError, match=r"rank must be an integer or a list of integers, got \[2.5\]"):
        init.glorot((4, 4), (4, 4), rank=[2.5], rng=rng)
    with pytest.raises(ValueError, match=r"modes must be positive integers, got row modes \(4, 0\)"):
        init.glorot((4, 0), (4, 4), rank=2, rng=rng)
    assert [c.shape for c in init.glorot((4, 4), (4, 4), rank=np.int64(2), rng=rng)] == [(1, 4, 4, 2), (2, 4, 4, 1)]
