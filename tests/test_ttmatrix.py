"""TT-matrices against the dense matrix: the index convention, full(), from_dense() and its eps bound."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ttrnn_np import init, ttmatrix
from ttrnn_np.pytree import num_params


def _random_cores(m, n, rank, seed=0):
    r = (1, *([rank] * (len(m) - 1)), 1)
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((r[k], m[k], n[k], r[k + 1])) for k in range(len(m))]


def test_full_follows_the_index_convention_entry_by_entry():
    """W[i, j] = G_0[:, i_0, j_0, :] ⋯ G_{d-1}[:, i_{d-1}, j_{d-1}, :] with C-order digits (docs/method.md §3)."""
    m, n = (2, 3, 2), (3, 1, 4)
    cores = _random_cores(m, n, 3)
    W = ttmatrix.full(cores)
    assert W.shape == (12, 12)
    for i in range(12):
        for j in range(12):
            i_digits, j_digits = np.unravel_index(i, m), np.unravel_index(j, n)
            product = np.eye(1)
            for G, a, b in zip(cores, i_digits, j_digits):
                product = product @ G[:, a, b, :]
            assert W[i, j] == pytest.approx(product[0, 0], abs=1e-12)


def test_paper_gate_core_example_row_11_column_5():
    """docs/method.md §5: in a (3×2×2×2)×(1×2×2×2) 1-based row 11 ≃ (2,1,2,1), column 5 ≃ (1,2,1,1)."""
    assert tuple(int(x) + 1 for x in np.unravel_index(11 - 1, (3, 2, 2, 2))) == (2, 1, 2, 1)
    assert tuple(int(x) + 1 for x in np.unravel_index(5 - 1, (1, 2, 2, 2))) == (1, 2, 1, 1)
    cores = _random_cores((3, 2, 2, 2), (1, 2, 2, 2), 2)
    expected = cores[0][:, 1, 0, :] @ cores[1][:, 0, 1, :] @ cores[2][:, 1, 0, :] @ cores[3][:, 0, 0, :]
    assert ttmatrix.full(cores)[10, 4] == pytest.approx(expected[0, 0], abs=1e-12)


def test_modes_ranks_shape_params_describe():
    cores = _random_cores((4, 7), (32, 32), 2)
    assert ttmatrix.row_modes(cores) == (4, 7) and ttmatrix.col_modes(cores) == (32, 32)
    assert ttmatrix.ranks(cores) == (1, 2, 1) and ttmatrix.shape(cores) == (28, 1024)
    assert num_params(cores) == 4 * 32 * 2 + 2 * 7 * 32
    assert ttmatrix.compression(cores) == pytest.approx(28 * 1024 / 704)
    assert ttmatrix.describe(cores) == "TT-matrix 28×1024 = (4×7)×(32×32), ranks 1-2-1, 704 params (40.7× compression)"


def test_from_dense_recovers_a_tt_matrix_exactly():
    cores = _random_cores((2, 3, 4), (3, 2, 2), 2, seed=1)
    W = ttmatrix.full(cores)
    back = ttmatrix.from_dense(W, (2, 3, 4), (3, 2, 2), eps=1e-10)
    assert ttmatrix.ranks(back) == (1, 2, 2, 1)
    np.testing.assert_allclose(ttmatrix.full(back), W, atol=1e-10)


@settings(max_examples=40, deadline=None)
@given(m=st.lists(st.integers(1, 4), min_size=1, max_size=4), data=st.data(),
       eps=st.sampled_from([1e-1, 3e-1, 1e-2]))
def test_from_dense_meets_its_eps_bound(m, data, eps):
    n = data.draw(st.lists(st.integers(1, 4), min_size=len(m), max_size=len(m)))
    W = np.random.default_rng(len(m)).standard_normal((math.prod(m), math.prod(n)))
    approx = ttmatrix.full(ttmatrix.from_dense(W, m, n, eps=eps))
    assert np.linalg.norm(W - approx) <= eps * np.linalg.norm(W) * (1 + 1e-9)


def test_from_dense_max_rank_limits_ranks():
    W = np.random.default_rng(0).standard_normal((16, 16))
    cores = ttmatrix.from_dense(W, (4, 4), (4, 4), max_rank=3)
    assert ttmatrix.ranks(cores) == (1, 3, 1)


@pytest.mark.parametrize("W, m, n, match", [
    (np.zeros((6, 4)), (2, 3), (2, 3), r"\(6, 4\) does not match modes \(2, 3\)×\(2, 3\)"),
    (np.zeros((6, 4)), (2, 3), (4,), "same length"),
    (np.zeros(24), (2, 3), (2, 2), "2-D matrix"),
])
def test_from_dense_rejects_mismatched_modes(W, m, n, match):
    with pytest.raises(ValueError, match=match):
        ttmatrix.from_dense(W, m, n)


def test_from_dense_rejects_nan():
    W = np.ones((4, 4))
    W[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN|finite"):
        ttmatrix.from_dense(W, (2, 2), (2, 2))


@pytest.mark.parametrize("cores, match", [
    ([], "non-empty list"),
    ([np.zeros((1, 2, 2))], "must be 4-D"),
    ([np.zeros((2, 2, 2, 1))], "boundary ranks must be 1"),
    ([np.zeros((1, 2, 2, 3)), np.zeros((2, 2, 2, 1))], r"cores 0 and 1 do not chain: shapes \(1, 2, 2, 3\) and \(2, 2, 2, 1\)"),
])
def test_validate_names_the_problem(cores, match):
    with pytest.raises(ValueError, match=match):
        ttmatrix.validate(cores)


def test_full_of_glorot_init_is_float32_when_asked():
    cores = init.glorot((2, 2), (2, 2), 2, np.random.default_rng(0), dtype=np.float32)
    assert ttmatrix.full(cores).dtype == np.float32
