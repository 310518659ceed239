"""Tests for ttrnn_np.losses: log-softmax and cross-entropy against naive formulas, stability, gradients."""
import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from hypothesis import given, settings
from hypothesis import strategies as st

from ttrnn_np.losses import accuracy, log_softmax, softmax_cross_entropy

SETTINGS = settings(max_examples=40, deadline=None)


def naive_log_softmax(z):
    return np.log(np.exp(z) / np.sum(np.exp(z), axis=-1, keepdims=True))  # same shape as z


def naive_cross_entropy(z, y):
    p = np.exp(z) / np.sum(np.exp(z), axis=-1, keepdims=True)  # (B, K)
    return -np.mean([np.log(p[b, y[b]]) for b in range(len(y))])


cases = st.tuples(st.integers(1, 6), st.integers(1, 5), st.integers(0, 2**16))


def random_case(B, K, seed, scale=3.0):
    rng = np.random.default_rng(seed)
    return rng.normal(scale=scale, size=(B, K)), rng.integers(0, K, size=B)  # (B, K), (B,)


@SETTINGS
@given(cases)
def test_matches_naive_formulas_on_moderate_values(case):
    z, y = random_case(*case)
    np.testing.assert_allclose(log_softmax(z), naive_log_softmax(z), rtol=1e-12, atol=1e-12)
    assert softmax_cross_entropy(z, y) == pytest.approx(naive_cross_entropy(z, y), rel=1e-12)


@SETTINGS
@given(cases, st.floats(-50, 50))
def test_invariant_to_a_constant_per_row(case, c):
    z, y = random_case(*case)
    shift = c * np.arange(1, len(z) + 1)[:, None]  # (B, 1): a different constant per row
    np.testing.assert_allclose(log_softmax(z + shift), log_softmax(z), atol=1e-12)
    assert softmax_cross_entropy(z + shift, y) == pytest.approx(softmax_cross_entropy(z, y), abs=1e-12)


def test_stable_for_huge_logits():
    z = np.array([[1e4, 0.0, -1e4], [1e4, 1e4 - 1.0, 1e4 - 2.0], [-1e4, -1e4, -1e4]])  # (3, 3)
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # exp underflow to 0 is fine
        log_p = log_softmax(z)
        loss = softmax_cross_entropy(z, np.array([1, 0, 2]))
        g = grad(softmax_cross_entropy)(z, np.array([1, 0, 2]))
    assert np.all(np.isfinite(log_p)) and np.isfinite(loss) and np.all(np.isfinite(g))
    np.testing.assert_allclose(log_p[0], [0.0, -1e4, -2e4])
    np.testing.assert_allclose(log_p[1], naive_log_softmax(np.array([2.0, 1.0, 0.0])))
    np.testing.assert_allclose(log_p[2], np.full(3, -np.log(3)))
    assert loss == pytest.approx((1e4 - naive_log_softmax(np.array([2.0, 1.0, 0.0]))[0] + np.log(3)) / 3)


@SETTINGS
@given(cases)
def test_gradient_matches_formula_and_finite_differences(case):
    z, y = random_case(*case)
    B, K = z.shape
    g = grad(softmax_cross_entropy)(z, y)  # (B, K)
    p = np.exp(naive_log_softmax(z))  # (B, K)
    np.testing.assert_allclose(g, (p - np.eye(K)[y]) / B, atol=1e-12)
    h = 1e-6
    fd = np.zeros_like(z)  # (B, K)
    for b in range(B):
        for k in range(K):
            e = np.zeros_like(z)  # (B, K)
            e[b, k] = h
            fd[b, k] = (softmax_cross_entropy(z + e, y) - softmax_cross_entropy(z - e, y)) / (2 * h)
    np.testing.assert_allclose(g, fd, atol=1e-8)


def test_leading_axes_are_flattened():
    rng = np.random.default_rng(1)
    z, y = rng.normal(size=(2, 3, 4)), rng.integers(0, 4, size=(2, 3))  # (2, 3, K), (2, 3)
    assert softmax_cross_entropy(z, y) == pytest.approx(naive_cross_entropy(z.reshape(6, 4), y.ravel()))
    assert accuracy(z, y) == pytest.approx(np.mean(z.reshape(6, 4).argmax(1) == y.ravel()))


def test_differentiable_through_a_model():
    rng = np.random.default_rng(2)
    X, y, W = rng.normal(size=(5, 3)), rng.integers(0, 2, size=5), rng.normal(size=(3, 2))
    g = grad(lambda W: softmax_cross_entropy(anp.tanh(X @ W), y))(W)
    p = np.exp(naive_log_softmax(np.tanh(X @ W)))  # (5, 2)
    expected = X.T @ ((p - np.eye(2)[y]) / 5 * (1 - np.tanh(X @ W) ** 2))  # (3, 2) chain rule by hand
    np.testing.assert_allclose(g, expected, atol=1e-12)


def test_accuracy_counts_argmax_hits():
    z = np.array([[2.0, 1.0], [0.0, 3.0], [5.0, -1.0], [0.1, 0.2]])  # (4, 2)
    assert accuracy(z, np.array([0, 1, 1, 0])) == 0.5
    assert accuracy(z, np.array([0, 1, 0, 1])) == 1.0
    assert isinstance(accuracy(z, np.array([0, 1, 0, 1])), float)


@pytest.mark.parametrize("fn", [softmax_cross_entropy, accuracy])
def test_bad_labels(fn):
    z = np.zeros((3, 4))  # (B, K)
    with pytest.raises(TypeError, match="labels must be integers, got dtype float64"):
        fn(z, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"labels shape \(2,\) must equal .* \(3,\) \(logits shape \(3, 4\)\)"):
        fn(z, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\) for 4 classes, got values in \[-1, 3\]"):
        fn(z, np.array([0, -1, 3]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\) .* \[0, 4\]"):
        fn(z, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"need at least one example, got logits of shape \(0, 4\)"):
        fn(np.zeros((0, 4)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match="logits must have a class axis"):
        fn(np.float64(1.0), np.array(0))
