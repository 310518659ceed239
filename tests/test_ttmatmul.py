"""X·W without forming W: the fast primitive, the readable sweep and X·full(W) agree in values, gradients and
FLOPs."""
import math

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ttrnn_np import cost, ttmatmul, ttmatrix

ORDERS = ("ltr", "rtl", "auto")


def _problem(m, n, rank, B=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    r = (1, *([rank] * (len(m) - 1)), 1)
    cores = [rng.standard_normal((r[k], m[k], n[k], r[k + 1])).astype(dtype) for k in range(len(m))]
    X = rng.standard_normal((B, math.prod(m))).astype(dtype)
    return X, cores


def _grads(product, X, cores, C, argnum=(0, 1)):
    """Gradients of L = Σ C ⊙ sin(X·W) (a non-trivial cotangent that never saturates) through ``product``."""
    return autograd.grad(lambda X_, c_: anp.sum(C * anp.sin(product(X_, c_))), argnum=argnum)(X, cores)


def _assert_close(actual, expected, tol):
    """Equal up to ``tol`` relative to the largest entry (float32 sums lose digits relative to that scale)."""
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * max(1.0, float(np.max(np.abs(expected)))))


modes = st.lists(st.integers(1, 4), min_size=1, max_size=4)


@settings(max_examples=50, deadline=None)
@given(m=modes, data=st.data(), rank=st.integers(1, 4), B=st.integers(1, 4),
       dtype=st.sampled_from([np.float64, np.float32]))
def test_every_path_equals_the_dense_product(m, data, rank, B, dtype):
    n = data.draw(st.lists(st.integers(1, 4), min_size=len(m), max_size=len(m)))
    X, cores = _problem(m, n, rank, B, dtype=dtype)
    expected = X.astype(np.float64) @ ttmatrix.full([G.astype(np.float64) for G in cores])
    tol = 1e-12 if dtype == np.float64 else 1e-4
    for order in ORDERS:
        for product in (ttmatmul.matmul, ttmatmul.matmul_sweep):
            Y = product(X, cores, order)
            assert Y.dtype == dtype and Y.shape == (B, math.prod(n))
            _assert_close(Y, expected, tol)


@settings(max_examples=40, deadline=None)
@given(m=modes, data=st.data(), rank=st.integers(1, 4), B=st.integers(1, 3),
       dtype=st.sampled_from([np.float64, np.float32]))
def test_the_vjp_equals_autograd_through_the_readable_sweep_and_the_dense_product(m, data, rank, B, dtype):
    n = data.draw(st.lists(st.integers(1, 4), min_size=len(m), max_size=len(m)))
    X, cores = _problem(m, n, rank, B, dtype=dtype)
    C = np.random.default_rng(1).standard_normal((B, math.prod(n))).astype(dtype)
    reference = _grads(ttmatmul.matmul_reference, X, cores, C)
    tol = 1e-10 if dtype == np.float64 else 2e-3
    for order in ORDERS:
        for product in (ttmatmul.matmul, ttmatmul.matmul_sweep):
            X_bar, core_bars = _grads(lambda X_, c_: product(X_, c_, order), X, cores, C)
            assert X_bar.dtype == dtype and all(g.dtype == dtype for g in core_bars)
            _assert_close(X_bar, reference[0], tol)
            for g, g_ref in zip(core_bars, reference[1]):
                _assert_close(g, g_ref, tol)


@pytest.mark.parametrize("order", ["ltr", "rtl"])
def test_the_vjp_matches_central_finite_differences(order):
    """Directional derivative along a random direction V: (L(θ+εV) − L(θ−εV)) / 2ε against ⟨∇L, V⟩."""
    X, cores = _problem((2, 3), (3, 2), 2, B=2)
    rng = np.random.default_rng(5)
    C = rng.standard_normal((2, 6))

    def loss(X_, cores_):
        return anp.sum(C * anp.tanh(ttmatmul.matmul(X_, cores_, order)))

    X_bar, core_bars = autograd.grad(loss, argnum=(0, 1))(X, cores)
    V_X = rng.standard_normal(X.shape)
    V_cores = [rng.standard_normal(G.shape) for G in cores]
    eps = 1e-6
    plus = loss(X + eps * V_X, [G + eps * V for G, V in zip(cores, V_cores)])
    minus = loss(X - eps * V_X, [G - eps * V for G, V in zip(cores, V_cores)])
    directional = np.sum(X_bar * V_X) + sum(np.sum(g * V) for g, V in zip(core_bars, V_cores))
    assert abs((plus - minus) / (2 * eps) - directional) < 1e-7 * max(1.0, abs(directional))


@pytest.mark.parametrize("order", ["ltr", "rtl"])
def test_differentiating_only_X_only_the_cores_or_only_one_core(order):
    X, cores = _problem((2, 3, 2), (2, 2, 3), 3)
    C = np.random.default_rng(1).standard_normal((3, 12))
    reference = _grads(ttmatmul.matmul_reference, X, cores, C)
    fast = lambda X_, c_: ttmatmul.matmul(X_, c_, order)  # noqa: E731
    _assert_close(_grads(fast, X, cores, C, argnum=0), reference[0], 1e-10)
    for g, g_ref in zip(_grads(fast, X, cores, C, argnum=1), reference[1]):
        _assert_close(g, g_ref, 1e-10)
    middle = autograd.grad(lambda G1: anp.sum(C * anp.sin(fast(X, [cores[0], G1, cores[2]]))))(cores[1])
    _assert_close(middle, reference[1][1], 1e-10)


@pytest.mark.parametrize("order", ["ltr", "rtl"])
def test_a_result_used_twice_and_cores_shared_by_two_products(order):
    """Cotangents from several uses add up: Y feeds two terms and a second product; W is used twice."""
    X, cores = _problem((2, 3), (3, 2), 2, B=4)
    X2 = np.random.default_rng(2).standard_normal((4, 6))

    def loss(product):
        def L(X_, c_):
            Y = product(X_, c_, order)  # (4, 6)
            return anp.sum(Y * Y) + anp.sum(anp.sin(Y)) + anp.sum(product(Y, c_, order) * product(X2, c_, order))
        return L

    fast = autograd.grad(loss(ttmatmul.matmul), argnum=(0, 1))(X, cores)
    slow = autograd.grad(loss(lambda X_, c_, _order: ttmatmul.matmul_reference(X_, c_)), argnum=(0, 1))(X, cores)
    _assert_close(fast[0], slow[0], 1e-10)
    for g, g_ref in zip(fast[1], slow[1]):
        _assert_close(g, g_ref, 1e-10)


@pytest.mark.parametrize("order", ["ltr", "rtl"])
def test_batches_swept_in_several_blocks_give_the_same_values_and_gradients(order, monkeypatch):
    """With a tiny cache budget the primitive sweeps B = 20 rows as blocks of 8, 8 and 4."""
    monkeypatch.setattr(ttmatmul, "CACHE_BYTES", 1)
    X, cores = _problem((2, 3, 2), (3, 2, 2), 3, B=20, dtype=np.float32)
    C = np.random.default_rng(3).standard_normal((20, 12)).astype(np.float32)
    _assert_close(ttmatmul.matmul(X, cores, order), X @ ttmatrix.full(cores), 1e-4)
    X_ref, cores_ref = _grads(ttmatmul.matmul_reference, X, cores, C)
    fast = lambda X_, c_: ttmatmul.matmul(X_, c_, order)  # noqa: E731
    X_bar, core_bars = _grads(fast, X, cores, C)
    only_X, only_cores = _grads(fast, X, cores, C, argnum=0), _grads(fast, X, cores, C, argnum=1)
    for g, g_ref in zip([X_bar, only_X, *core_bars, *only_cores], [X_ref, X_ref, *cores_ref, *cores_ref]):
        _assert_close(g, g_ref, 2e-3)


def test_the_jacobian_calls_the_vjp_many_times_with_the_same_saved_operands():
    X, cores = _problem((2, 2), (3, 1), 2, B=2)
    J_fast = autograd.jacobian(lambda X_: ttmatmul.matmul(X_, cores))(X)
    J_slow = autograd.jacobian(lambda X_: ttmatmul.matmul_reference(X_, cores))(X)
    _assert_close(J_fast, J_slow, 1e-12)


def test_dtypes_and_layout_of_values_and_gradients():
    """float32 stays float32; mixed inputs follow NumPy's promotion for Y, while each gradient has its input's
    dtype; Y and the gradients are C-contiguous."""
    X, cores = _problem((4, 7), (32, 32), 2, dtype=np.float32)
    for order in ("ltr", "rtl"):
        Y = ttmatmul.matmul(X, cores, order)
        assert Y.dtype == np.float32 and Y.flags["C_CONTIGUOUS"]
        _assert_close(Y, X @ ttmatrix.full(cores), 1e-4)
        X_bar, core_bars = autograd.grad(lambda X_, c_: anp.sum(ttmatmul.matmul(X_, c_, order) ** 2),
                                         argnum=(0, 1))(X, cores)
        assert X_bar.dtype == np.float32 and X_bar.flags["C_CONTIGUOUS"]
        assert all(g.dtype == np.float32 and g.flags["C_CONTIGUOUS"] for g in core_bars)
    cores64 = [G.astype(np.float64) for G in cores]
    assert ttmatmul.matmul(X, cores64).dtype == np.float64
    X_bar, core_bars = autograd.grad(lambda X_, c_: anp.sum(ttmatmul.matmul(X_, c_)), argnum=(0, 1))(X, cores64)
    assert X_bar.dtype == np.float32 and all(g.dtype == np.float64 for g in core_bars)


@pytest.fixture
def counted_flops(monkeypatch):
    """Record the FLOPs of every np.matmul the module performs (2 · output size · contracted length)."""
    counted = []
    real_matmul = ttmatmul.np.matmul

    def counting_matmul(a, b, **kwargs):
        out = real_matmul(a, b, **kwargs)
        counted.append(2 * int(np.size(out)) * int(np.shape(a)[-1]))
        return out

    monkeypatch.setattr(ttmatmul.np, "matmul", counting_matmul)
    return counted


@pytest.mark.parametrize("order", ["ltr", "rtl", "auto"])
def test_forward_and_vjp_do_exactly_the_flops_of_the_cost_model(order, counted_flops):
    """Forward = B·cost; the VJP costs one more forward for X̄ and one more for the cores (minus the product that
    would make X̄ when X is not differentiated)."""
    m, n, rank, B = (2, 3, 4), (4, 2, 5), 3, 5
    X, cores = _problem(m, n, rank, B)
    resolved = ttmatmul.cheaper_order(cores) if order == "auto" else order
    forward = B * cost.matmul_flops(m, n, rank)[resolved]
    # skipped product: left-to-right forward → core 0 (2 r_0 r_1 n_0 M); right-to-left → core 2 (2 r_2 r_3 n_2 M)
    skipped = B * 2 * rank * (n[0] if resolved == "ltr" else n[2]) * math.prod(m)
    expected = {"X": 2 * forward, "cores": 3 * forward - skipped, "both": 3 * forward}
    for which, argnum in (("X", 0), ("cores", 1), ("both", (0, 1))):
        counted_flops.clear()
        autograd.grad(lambda X_, c_: anp.sum(ttmatmul.matmul(X_, c_, order)), argnum=argnum)(X, cores)
        assert sum(counted_flops) == expected[which], which
    steps = []
    ttmatmul.matmul_sweep(X, cores, order, steps=steps)
    assert sum(step["flops"] for step in steps) == forward
    if order == "auto":
        assert forward == B * cost.matmul_flops(m, n, rank)["best"]


def test_auto_picks_the_cheaper_order():
    """W_x 28→1024 at d=4, R=8 is cheaper right-to-left; W_h 256→1024 left-to-right (docs/method.md §3)."""
    visited = []
    for m, n in [((1, 2, 2, 7), (4, 4, 8, 8)), ((4, 4, 4, 4), (4, 4, 8, 8))]:
        X, cores = _problem(m, n, 8, B=2)
        steps = []
        ttmatmul.matmul_sweep(X, cores, steps=steps)
        visited.append(([step["k"] for step in steps], ttmatmul.cheaper_order(cores)))
    assert visited == [([3, 2, 1, 0], "rtl"), ([0, 1, 2, 3], "ltr")]


def test_a_one_core_tt_matrix_is_a_dense_matrix():
    """(1, M, N, 1): every path gives X·W, and the gradient of the core is Xᵀ Ȳ in the core's shape."""
    rng = np.random.default_rng(7)
    X, W = rng.standard_normal((4, 5)), rng.standard_normal((5, 3))
    C = rng.standard_normal((4, 3))
    for product in (ttmatmul.matmul, ttmatmul.matmul_sweep, ttmatmul.matmul_reference):
        np.testing.assert_allclose(product(X, [W[None, :, :, None]]), X @ W, rtol=1e-13)
        (G_bar,) = autograd.grad(lambda c_: anp.sum(C * product(X, c_)))([W[None, :, :, None]])
        np.testing.assert_allclose(G_bar, (X.T @ C)[None, :, :, None], rtol=1e-13)


def test_bad_inputs_name_both_shapes():
    X, cores = _problem((2, 3), (2, 2), 2)
    for product in (ttmatmul.matmul, ttmatmul.matmul_sweep):
        with pytest.raises(ValueError, match=r"X must have shape \(B, 6\) to multiply a 6×4 TT-matrix, got \(3, 5\)"):
            product(X[:, :5], cores)
        with pytest.raises(ValueError, match=r"got \(18,\)"):
            product(X.reshape(-1), cores)
        with pytest.raises(ValueError, match="order must be"):
            product(X, cores, order="middle")
        with pytest.raises(ValueError, match=r"X has no rows \(shape \(0, 6\)\)"):
            product(X[:0], cores)
        with pytest.raises(ValueError, match="do not chain"):
            product(X, [cores[0], cores[1][:1]])
        with pytest.raises(ValueError, match="non-empty list of 4-D cores"):
            product(X, [])
        with pytest.raises(ValueError, match="core 1 must be 4-D"):
            product(X, [cores[0], cores[1][0]])


def test_non_finite_values_propagate_like_the_dense_product():
    """Documented behaviour (no check on the hot path): NaN and inf flow through as in X @ full(W)."""
    from ttrnn_np import init
    W = init.glorot((2, 3), (3, 2), rank=2, rng=np.random.default_rng(0))
    X = np.ones((2, 6))  # (B, M)
    X[0, 1] = np.nan
    X[1, 4] = np.inf
    Y = ttmatmul.matmul(X, W)  # (2, 6)
    dense = X @ ttmatrix.full(W)  # (2, 6)
    assert np.all(np.isnan(Y[0])) and np.all(np.isnan(dense[0]))
    assert not np.any(np.isfinite(Y[1])) and not np.any(np.isfinite(dense[1]))  # ±inf or NaN (inf − inf)
