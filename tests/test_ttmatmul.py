"""X·W without forming W: both contraction orders against X·full(W), values and gradients."""
import math

import autograd
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ttrnn_np import cost, ttmatmul, ttmatrix


def _problem(m, n, rank, B=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    r = (1, *([rank] * (len(m) - 1)), 1)
    cores = [rng.standard_normal((r[k], m[k], n[k], r[k + 1])).astype(dtype) for k in range(len(m))]
    X = rng.standard_normal((B, math.prod(m))).astype(dtype)
    return X, cores


modes = st.lists(st.integers(1, 4), min_size=1, max_size=4)


@settings(max_examples=60, deadline=None)
@given(m=modes, data=st.data(), rank=st.integers(1, 4), B=st.integers(1, 4))
def test_both_orders_equal_the_dense_product(m, data, rank, B):
    n = data.draw(st.lists(st.integers(1, 4), min_size=len(m), max_size=len(m)))
    X, cores = _problem(m, n, rank, B)
    expected = X @ ttmatrix.full(cores)
    for order in ("ltr", "rtl", "auto"):
        np.testing.assert_allclose(ttmatmul.matmul(X, cores, order), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("order", ["ltr", "rtl"])
def test_gradients_equal_the_dense_paths(order):
    X, cores = _problem((2, 3, 2), (2, 2, 3), 3)
    C = np.random.default_rng(1).standard_normal((3, 12))

    def loss(fn):
        return lambda X_, cores_: np.sum(C * np.tanh(fn(X_, cores_)))

    fast = autograd.grad(loss(lambda X_, c_: ttmatmul.matmul(X_, c_, order)), argnum=(0, 1))(X, cores)
    slow = autograd.grad(loss(ttmatmul.matmul_reference), argnum=(0, 1))(X, cores)
    np.testing.assert_allclose(fast[0], slow[0], rtol=1e-10, atol=1e-12)
    for g_fast, g_slow in zip(fast[1], slow[1]):
        np.testing.assert_allclose(g_fast, g_slow, rtol=1e-10, atol=1e-12)


def test_float32_stays_float32():
    X, cores = _problem((4, 7), (32, 32), 2, dtype=np.float32)
    for order in ("ltr", "rtl"):
        Y = ttmatmul.matmul(X, cores, order)
        assert Y.dtype == np.float32
        np.testing.assert_allclose(Y, X @ ttmatrix.full(cores), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("order", ["ltr", "rtl"])
def test_matrix_products_do_exactly_the_flops_of_the_cost_model(order, monkeypatch):
    """Count the FLOPs of every matrix product the implementation performs; compare with cost.matmul_flops."""
    m, n, rank, B = (2, 3, 4), (4, 2, 5), 3, 5
    X, cores = _problem(m, n, rank, B)
    counted = []
    real_dot = ttmatmul.np.dot

    def counting_dot(a, b):
        counted.append(2 * a.shape[0] * a.shape[1] * b.shape[1])
        return real_dot(a, b)

    monkeypatch.setattr(ttmatmul.np, "dot", counting_dot)
    ttmatmul.matmul(X, cores, order)
    assert sum(counted) == B * cost.matmul_flops(m, n, rank)[order]


def test_auto_picks_the_cheaper_order(monkeypatch):
    """W_x 28→1024 at d=4, R=8 is cheaper right-to-left; W_h 256→1024 left-to-right (PAPER.md §2 sizes)."""
    called = []
    monkeypatch.setattr(ttmatmul, "matmul_left_to_right", lambda X_, c_: called.append("ltr") or X_ @ ttmatrix.full(c_))
    monkeypatch.setattr(ttmatmul, "matmul_right_to_left", lambda X_, c_: called.append("rtl") or X_ @ ttmatrix.full(c_))
    for m, n in [((1, 2, 2, 7), (4, 4, 8, 8)), ((4, 4, 4, 4), (4, 4, 8, 8))]:
        X, cores = _problem(m, n, 8, B=2)
        ttmatmul.matmul(X, cores)
    assert called == ["rtl", "ltr"]


def test_bad_inputs_name_both_shapes():
    X, cores = _problem((2, 3), (2, 2), 2)
    with pytest.raises(ValueError, match=r"X must have shape \(B, 6\) to multiply a 6×4 TT-matrix, got \(3, 5\)"):
        ttmatmul.matmul(X[:, :5], cores)
    with pytest.raises(ValueError, match=r"got \(18,\)"):
        ttmatmul.matmul(X.reshape(-1), cores)
    with pytest.raises(ValueError, match="order must be"):
        ttmatmul.matmul(X, cores, order="middle")
