"""The toy long-range tasks: shapes, the definitions checked element by element, seeding, bad inputs."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ttrnn_np.data import toy


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 6), T=st.integers(2, 12), seed=st.integers(0, 2**16))
def test_adding_problem_matches_its_definition(n, T, seed):
    X, y = toy.adding_problem(n, T, np.random.default_rng(seed))
    assert X.shape == (n, T, 2) and y.shape == (n,) and X.dtype == y.dtype == np.float64
    half = T // 2
    for b in range(n):
        v, m = X[b, :, 0], X[b, :, 1]
        assert set(np.unique(m)) <= {0.0, 1.0}
        marked = np.flatnonzero(m)
        assert len(marked) == 2 and marked[0] < half <= marked[1]
        assert np.all((0 <= v) & (v < 1))
        assert y[b] == v[marked[0]] + v[marked[1]]


def test_adding_problem_statistics():
    X, y = toy.adding_problem(20_000, 10, np.random.default_rng(0))
    assert abs(y.mean() - 1.0) < 0.01
    assert abs(y.var() - 1 / 6) < 0.01  # the MSE of always predicting 1
    first = np.argmax(X[:, :, 1], axis=1)  # (n,) the first marked step
    assert np.allclose(np.bincount(first, minlength=5) / len(first), 0.2, atol=0.02)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 6), T=st.integers(1, 10), K=st.integers(1, 5), seed=st.integers(0, 2**16), data=st.data())
def test_copy_task_matches_its_definition(n, T, K, seed, data):
    L = data.draw(st.integers(1, T))
    X, y = toy.copy_task(n, T, L, K, np.random.default_rng(seed))
    assert X.shape == (n, T, K + 1) and y.shape == (n, L) and X.dtype == np.float64
    assert np.issubdtype(y.dtype, np.integer) and y.min() >= 0 and y.max() < K
    assert np.all(X.sum(axis=2) == 1) and set(np.unique(X)) <= {0.0, 1.0}
    symbols = np.argmax(X, axis=2)  # (n, T)
    assert np.array_equal(symbols[:, :L], y)
    assert np.all(symbols[:, L:] == K)


def test_copy_task_symbols_are_uniform():
    _, y = toy.copy_task(30_000, 4, 2, 3, np.random.default_rng(1))
    assert np.allclose(np.bincount(y.ravel(), minlength=3) / y.size, 1 / 3, atol=0.01)


@pytest.mark.parametrize("make", [lambda rng: toy.adding_problem(5, 8, rng),
                                  lambda rng: toy.copy_task(5, 8, 3, 4, rng)])
def test_seeded(make):
    first, again, other = make(np.random.default_rng(7)), make(np.random.default_rng(7)), make(np.random.default_rng(8))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_dtype():
    X, y = toy.adding_problem(3, 4, np.random.default_rng(0), dtype=np.float32)
    assert X.dtype == y.dtype == np.float32
    assert toy.copy_task(3, 4, 2, 2, np.random.default_rng(0), dtype=np.float32)[0].dtype == np.float32


@pytest.mark.parametrize("call, error, match", [
    (lambda rng: toy.adding_problem(0, 5, rng), ValueError, r"n must be an integer >= 1, got 0"),
    (lambda rng: toy.adding_problem(4, 1, rng), ValueError, r"T must be an integer >= 2, got 1"),
    (lambda rng: toy.adding_problem(4, 5.0, rng), ValueError, r"T must be an integer >= 2, got 5.0"),
    (lambda rng: toy.adding_problem(True, 5, rng), ValueError, r"n must be an integer >= 1, got True"),
    (lambda rng: toy.adding_problem(4, 5, 3), TypeError, r"rng must be a numpy Generator.*got int"),
    (lambda rng: toy.copy_task(4, 0, 1, 2, rng), ValueError, r"T must be an integer >= 1, got 0"),
    (lambda rng: toy.copy_task(4, 5, 0, 2, rng), ValueError, r"length must be an integer >= 1, got 0"),
    (lambda rng: toy.copy_task(4, 5, 6, 2, rng), ValueError, r"length must be at most T = 5 .* got 6"),
    (lambda rng: toy.copy_task(4, 5, 2, 0, rng), ValueError, r"n_symbols must be an integer >= 1, got 0"),
    (lambda rng: toy.copy_task(4, 5, 2, 2, None), TypeError, r"rng must be a numpy Generator.*got NoneType"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call(np.random.default_rng(0))
