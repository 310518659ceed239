"""Tests for ttrnn_np.tt: every TT operation against the dense computation, plus the eps guarantees."""
import itertools
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ttrnn_np import tt
from ttrnn_np.pytree import num_params

SETTINGS = settings(max_examples=50, deadline=None)


def random_tt(rng, modes, inner_ranks):
    """Gaussian cores with modes n_k and ranks (1, *inner_ranks, 1)."""
    r = (1, *inner_ranks, 1)
    return [rng.standard_normal((r[k], n, r[k + 1])) for k, n in enumerate(modes)]


def minimal_ranks(modes, inner_ranks):
    """Clip ranks to r_k ≤ r_{k-1}·n_{k-1} and r_k ≤ n_k·r_{k+1}.

    A generic (Gaussian) TT with ranks clipped this way needs all of them: they are its unfoldings' ranks.
    """
    r = [1, *inner_ranks, 1]
    for k in range(1, len(modes)):
        r[k] = min(r[k], r[k - 1] * modes[k - 1])
    for k in range(len(modes) - 1, 0, -1):
        r[k] = min(r[k], modes[k] * r[k + 1])
    return tuple(r)


def rel_err(X, Y):
    return np.linalg.norm(X - Y) / max(np.linalg.norm(Y), 1e-300)


@st.composite
def tt_cases(draw, max_rank=3, min_d=1):
    """(rng, modes, inner ranks) with d = min_d..5, modes 1..4, ranks 1..max_rank."""
    d = draw(st.integers(min_d, 5))
    modes = tuple(draw(st.lists(st.integers(1, 4), min_size=d, max_size=d)))
    inner = tuple(draw(st.lists(st.integers(1, max_rank), min_size=d - 1, max_size=d - 1)))
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1))), modes, inner


def smooth_tensor(n, d):
    """A[i_0, …, i_{d-1}] = 1 / (1 + i_0 + … + i_{d-1}): fast-decaying unfolding spectra."""
    grids = np.meshgrid(*[np.arange(n, dtype=float)] * d, indexing="ij")  # d × (n, …, n)
    return 1.0 / (1.0 + sum(grids))  # (n, …, n)


# --- the definition and the size story ----------------------------------------------------------------------

def test_full_equals_product_of_slices():
    rng = np.random.default_rng(0)
    cores = random_tt(rng, (2, 3, 2), (2, 3))
    A = tt.full(cores)
    assert A.shape == (2, 3, 2)
    for index in itertools.product(range(2), range(3), range(2)):
        slices = [G[:, i, :] for G, i in zip(cores, index)]  # (r_k, r_k+1) each
        assert A[index] == pytest.approx(np.linalg.multi_dot(slices)[0, 0], rel=1e-13)


def test_size_story_on_a_fixed_example():
    cores = random_tt(np.random.default_rng(1), (4, 4, 4, 4), (3, 4, 3))
    assert tt.ranks(cores) == (1, 3, 4, 3, 1)
    assert tt.modes(cores) == (4, 4, 4, 4)
    assert num_params(cores) == 12 + 48 + 48 + 12
    assert tt.compression(cores) == pytest.approx(256 / 120)
    assert tt.describe(cores) == "TT tensor 4×4×4×4, ranks 1-3-4-3-1, 120 params (2.13× compression)"


# --- TT-SVD --------------------------------------------------------------------------------------------------

@SETTINGS
@given(tt_cases())
def test_tt_svd_recovers_a_low_rank_tt_and_its_ranks(case):
    rng, modes, inner = case
    A = tt.full(random_tt(rng, modes, inner))
    cores = tt.tt_svd(A, eps=1e-10)
    assert rel_err(tt.full(cores), A) <= 1e-10
    assert tt.ranks(cores) == minimal_ranks(modes, inner)
    assert all(r <= R for r, R in zip(tt.ranks(cores), (1, *inner, 1)))


@SETTINGS
@given(tt_cases(), st.sampled_from([1e-8, 1e-4, 1e-2, 0.1, 0.3, 0.7]))
def test_tt_svd_meets_the_eps_bound_on_random_tensors(case, eps):
    rng, modes, _ = case
    A = rng.standard_normal(modes)
    cores = tt.tt_svd(A, eps=eps)
    assert np.linalg.norm(tt.full(cores) - A) <= eps * np.linalg.norm(A) * (1 + 1e-12) + 1e-13 * np.linalg.norm(A)
    for k, r in enumerate(tt.ranks(cores)[1:-1], start=1):
        assert r <= min(math.prod(modes[:k]), math.prod(modes[k:]))


@SETTINGS
@given(tt_cases(min_d=2), st.sampled_from([1e-3, 1e-2, 0.1, 0.5]))
def test_tt_svd_first_rank_is_the_smallest_within_delta(case, eps):
    rng, modes, _ = case
    A = rng.standard_normal(modes)
    delta = eps * np.linalg.norm(A) / math.sqrt(len(modes) - 1)
    s = np.linalg.svd(A.reshape(modes[0], -1), compute_uv=False)
    tails = [np.linalg.norm(s[r:]) for r in range(1, len(s) + 1)]  # error of keeping rank r = 1, 2, …
    expected = 1 + next(i for i, tail in enumerate(tails) if tail <= delta)
    assert tt.ranks(tt.tt_svd(A, eps=eps))[1] == expected


def test_tt_svd_uses_fewer_params_for_larger_eps():
    A = smooth_tensor(8, 4)
    params = [num_params(tt.tt_svd(A, eps=eps)) for eps in (1e-12, 1e-8, 1e-4, 1e-2, 0.3)]
    assert params == sorted(params, reverse=True)
    assert len(set(params)) == len(params)


def test_tt_svd_max_rank_caps_each_bond_and_voids_the_guarantee():
    rng = np.random.default_rng(2)
    A = rng.standard_normal((3, 4, 4, 3))
    assert tt.ranks(tt.tt_svd(A, max_rank=2)) == (1, 2, 2, 2, 1)
    assert tt.ranks(tt.tt_svd(A, max_rank=[2, 5, 2])) == (1, 2, 5, 2, 1)
    assert tt.ranks(tt.tt_svd(A, max_rank=100)) == tt.ranks(tt.tt_svd(A))
    assert rel_err(tt.full(tt.tt_svd(A, eps=1e-12, max_rank=1)), A) > 0.5


def test_tt_svd_of_a_vector_and_of_float32_and_int_data():
    v = np.arange(1.0, 6.0)
    cores = tt.tt_svd(v)
    assert [G.shape for G in cores] == [(1, 5, 1)]
    np.testing.assert_array_equal(tt.full(cores), v)
    A32 = smooth_tensor(6, 3).astype(np.float32)
    cores32 = tt.tt_svd(A32, eps=1e-3)
    assert all(G.dtype == np.float32 for G in cores32)
    assert rel_err(tt.full(cores32), A32) <= 1e-3 + 1e-6
    ints = np.arange(24).reshape(2, 3, 4)
    np.testing.assert_allclose(tt.full(tt.tt_svd(ints)), ints, atol=1e-12)


# --- orthogonalization and rounding --------------------------------------------------------------------------

@SETTINGS
@given(tt_cases(max_rank=4))
def test_orthogonalization_keeps_the_tensor_and_makes_cores_orthogonal(case):
    rng, modes, inner = case
    cores = random_tt(rng, modes, inner)
    A = tt.full(cores)
    left, right = tt.left_orthogonalize(cores), tt.right_orthogonalize(cores)
    assert rel_err(tt.full(left), A) <= 1e-12 and rel_err(tt.full(right), A) <= 1e-12
    for G in left[:-1]:
        L = G.reshape(-1, G.shape[2])  # (r_k·n_k, r_k+1)
        np.testing.assert_allclose(L.T @ L, np.eye(G.shape[2]), atol=1e-12)
    for G in right[1:]:
        R = G.reshape(G.shape[0], -1)  # (r_k, n_k·r_k+1)
        np.testing.assert_allclose(R @ R.T, np.eye(G.shape[0]), atol=1e-12)
    assert np.linalg.norm(left[-1]) == pytest.approx(np.linalg.norm(A), rel=1e-12)
    assert np.linalg.norm(right[0]) == pytest.approx(np.linalg.norm(A), rel=1e-12)
    assert all(a <= b for a, b in zip(tt.ranks(left), tt.ranks(cores)))


@SETTINGS
@given(tt_cases(max_rank=4), st.sampled_from([1e-10, 1e-3, 1e-1, 0.5]))
def test_rounding_never_increases_ranks_and_meets_its_bound(case, eps):
    rng, modes, inner = case
    cores = random_tt(rng, modes, inner)
    A = tt.full(cores)
    rounded = tt.tt_round(cores, eps=eps)
    assert all(a <= b for a, b in zip(tt.ranks(rounded), tt.ranks(cores)))
    assert np.linalg.norm(tt.full(rounded) - A) <= eps * np.linalg.norm(A) * (1 + 1e-12) + 1e-12 * np.linalg.norm(A)


@SETTINGS
@given(tt_cases(max_rank=4))
def test_rounding_at_tiny_eps_finds_the_minimal_ranks(case):
    rng, modes, inner = case
    cores = random_tt(rng, modes, inner)
    doubled = tt.add(cores, cores)
    rounded = tt.tt_round(doubled, eps=1e-10)
    assert tt.ranks(rounded) == minimal_ranks(modes, inner)
    assert rel_err(tt.full(rounded), 2 * tt.full(cores)) <= 1e-10


def test_rounding_with_max_rank():
    cores = random_tt(np.random.default_rng(3), (3, 3, 3, 3), (3, 3, 3))
    assert tt.ranks(tt.tt_round(cores, max_rank=2)) == (1, 2, 2, 2, 1)
    assert tt.ranks(tt.tt_round(cores, max_rank=[3, 1, 3])) == (1, 3, 1, 3, 1)


# --- arithmetic without densifying ---------------------------------------------------------------------------

@st.composite
def tt_pairs(draw):
    rng, modes, inner_a = draw(tt_cases())
    inner_b = tuple(draw(st.lists(st.integers(1, 3), min_size=len(inner_a), max_size=len(inner_a))))
    return random_tt(rng, modes, inner_a), random_tt(rng, modes, inner_b)


@SETTINGS
@given(tt_pairs(), st.floats(-3, 3), st.floats(-3, 3))
def test_add_and_scale_are_linear(pair, alpha, beta):
    a, b = pair
    A, B = tt.full(a), tt.full(b)
    np.testing.assert_allclose(tt.full(tt.add(a, b)), A + B, atol=1e-12)
    np.testing.assert_allclose(tt.full(tt.scale(a, alpha)), alpha * A, atol=1e-12)
    combo = tt.add(tt.scale(a, alpha), tt.scale(b, beta))
    np.testing.assert_allclose(tt.full(combo), alpha * A + beta * B, atol=1e-11)
    if len(a) > 1:
        assert tt.ranks(tt.add(a, b))[1:-1] == tuple(p + q for p, q in zip(tt.ranks(a)[1:-1], tt.ranks(b)[1:-1]))


@SETTINGS
@given(tt_pairs())
def test_hadamard_is_the_elementwise_product(pair):
    a, b = pair
    product = tt.hadamard(a, b)
    np.testing.assert_allclose(tt.full(product), tt.full(a) * tt.full(b), atol=1e-11)
    assert tt.ranks(product) == tuple(p * q for p, q in zip(tt.ranks(a), tt.ranks(b)))


@SETTINGS
@given(tt_pairs())
def test_dot_and_norm_agree_with_dense(pair):
    a, b = pair
    A, B = tt.full(a), tt.full(b)
    assert tt.dot(a, b) == pytest.approx(np.sum(A * B), rel=1e-10, abs=1e-10)
    assert tt.norm(a) == pytest.approx(np.linalg.norm(A), rel=1e-12)


def test_norm_stays_accurate_when_cores_cancel():
    a = random_tt(np.random.default_rng(4), (4, 4, 4), (3, 3))
    b = tt.add(a, tt.scale(tt.right_orthogonalize(a), -(1 - 1e-6)))
    assert tt.norm(b) == pytest.approx(1e-6 * np.linalg.norm(tt.full(a)), rel=1e-6)


def test_float32_cores_stay_float32():
    a = [G.astype(np.float32) for G in random_tt(np.random.default_rng(5), (3, 3, 3), (2, 2))]
    results = [tt.full(a), *tt.add(a, a), *tt.scale(a, 2.0), *tt.hadamard(a, a), *tt.tt_round(a, 1e-3),
               *tt.left_orthogonalize(a), tt.dot(a, a), tt.norm(a)]
    assert all(np.asarray(x).dtype == np.float32 for x in results)


# --- bad inputs ----------------------------------------------------------------------------------------------

GOOD = [np.ones((1, 2, 3)), np.ones((3, 2, 1))]


@pytest.mark.parametrize("cores, error, match", [
    (np.ones((1, 2, 1)), TypeError, "list of 3-D cores"),
    ([], ValueError, "at least one core"),
    ([np.ones((2, 2))], ValueError, r"core 0 must be 3-D .* shape \(2, 2\)"),
    ([np.ones((1, 0, 1))], ValueError, "core 0 is empty"),
    ([np.ones((2, 2, 1))], ValueError, r"boundary ranks must be 1.*r_0 = 2"),
    ([np.ones((1, 2, 3)), np.ones((3, 2, 2))], ValueError, r"boundary ranks must be 1.*r_d = 2"),
    ([np.ones((1, 2, 3)), np.ones((2, 2, 1))], ValueError,
     r"cores 0 and 1 do not chain: shapes \(1, 2, 3\) and \(2, 2, 1\)"),
    ([np.ones((1, 2, 3)), np.full((3, 2, 1), np.nan)], ValueError, "core 1 .* NaN or inf"),
    ([np.full((1, 2, 1), np.inf)], ValueError, "core 0 .* NaN or inf"),
    ([np.ones((1, 2, 1), dtype=complex)], TypeError, "real numbers, got dtype complex128"),
])
def test_validate_cores_rejects(cores, error, match):
    with pytest.raises(error, match=match):
        tt.validate_cores(cores)


@pytest.mark.parametrize("op", [
    tt.full, tt.ranks, tt.modes, tt.compression, tt.describe, tt.left_orthogonalize,
    tt.right_orthogonalize, tt.tt_round, tt.norm, lambda c: tt.scale(c, 2.0),
    lambda c: tt.add(c, GOOD), lambda c: tt.hadamard(GOOD, c), lambda c: tt.dot(c, GOOD),
])
def test_every_function_validates_its_cores(op):
    with pytest.raises(ValueError, match="do not chain"):
        op([np.ones((1, 2, 3)), np.ones((2, 2, 1))])


@pytest.mark.parametrize("A, kwargs, error, match", [
    (np.ones((2, 2)), {"eps": -0.1}, ValueError, "must be ≥ 0, got -0.1"),
    (np.ones((2, 2)), {"eps": float("nan")}, ValueError, "must be ≥ 0, got nan"),
    (np.ones((2, 2)), {"eps": "small"}, TypeError, "eps must be a real number"),
    (np.ones((2, 2, 2)), {"max_rank": 0}, ValueError, "max_rank must be ≥ 1"),
    (np.ones((2, 2, 2)), {"max_rank": [2, 0]}, ValueError, "max_rank must be ≥ 1"),
    (np.ones((2, 2, 2)), {"max_rank": [2]}, ValueError, r"d-1 = 2 entries .* got 1"),
    (np.ones((2, 2, 2)), {"max_rank": 2.5}, TypeError, "max_rank must be None, an int"),
    (np.ones((2, 2, 2)), {"max_rank": [2, 2.5]}, TypeError, "entries must be integers"),
    (np.array([[1.0, np.nan]]), {}, ValueError, "contains NaN or inf"),
    (np.array([[1.0, np.inf]]), {}, ValueError, "contains NaN or inf"),
    (np.array(3.0), {}, ValueError, r"at least one mode .* shape \(\)"),
    (np.ones((2, 0, 3)), {}, ValueError, r"one entry, got shape \(2, 0, 3\)"),
    (np.ones((2, 2), dtype=complex), {}, TypeError, "real array, got dtype complex128"),
])
def test_tt_svd_rejects(A, kwargs, error, match):
    with pytest.raises(error, match=match):
        tt.tt_svd(A, **kwargs)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"eps": -1.0}, ValueError, "must be ≥ 0"),
    ({"max_rank": 0}, ValueError, "max_rank must be ≥ 1"),
    ({"max_rank": [1, 2]}, ValueError, r"d-1 = 1 entries .* got 2"),
])
def test_tt_round_rejects(kwargs, error, match):
    with pytest.raises(error, match=match):
        tt.tt_round(GOOD, **kwargs)


@pytest.mark.parametrize("op", [tt.add, tt.hadamard, tt.dot])
@pytest.mark.parametrize("other", [
    [np.ones((1, 3, 3)), np.ones((3, 2, 1))],
    [np.ones((1, 2, 1))],
])
def test_binary_ops_name_both_shapes_when_modes_differ(op, other):
    with pytest.raises(ValueError, match=re.escape(f"same modes, got (2, 2) and {tt.modes(other)}")):
        op(GOOD, other)


@pytest.mark.parametrize("alpha, error, match", [
    (float("inf"), ValueError, "alpha must be finite, got inf"),
    ("2", TypeError, "alpha must be a real number, got str"),
    (np.ones(2), TypeError, "alpha must be a real number, got ndarray"),
])
def test_scale_rejects(alpha, error, match):
    with pytest.raises(error, match=match):
        tt.scale(GOOD, alpha)
