"""Tests for ttrnn_np.optim: Adam and SGD against hand computations, clipping, schedules, bad input."""
import math

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from hypothesis import given, settings
from hypothesis import strategies as st

from ttrnn_np.optim import (Optimizer, adam_init, adam_step, clip_by_global_norm, constant, cosine, sgd_init,
                            sgd_step, step_decay)
from ttrnn_np.pytree import global_norm, tree_leaves, tree_map

SETTINGS = settings(max_examples=40, deadline=None)


def random_tree(seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return {"W": [rng.normal(size=(2, 3)).astype(dtype), rng.normal(size=(3,)).astype(dtype)],
            "b": (rng.normal(size=(1, 2, 2)).astype(dtype),)}


def test_adam_first_two_steps_by_hand():
    # θ0 = 1, g1 = 0.5, g2 = -0.2, η = 0.1, β1 = 0.9, β2 = 0.999, ε = 1e-8.
    # step 1: m = 0.05, v = 0.00025, m̂ = 0.5, v̂ = 0.25, θ1 = 1 - 0.1 * 0.5 / (0.5 + 1e-8) = 0.900000002
    # step 2: m = 0.025, v = 0.00028975, m̂ = 0.025 / 0.19 = 0.1315789474, v̂ = 0.00028975 / 0.001999 = 0.1449474737,
    #         θ2 = θ1 - 0.1 * 0.1315789474 / (0.3807196787 + 1e-8) = 0.8654394181
    params = {"theta": np.array([1.0])}
    state = adam_init(params)
    params, state = adam_step(params, {"theta": np.array([0.5])}, state, lr=0.1)
    assert params["theta"][0] == pytest.approx(0.900000002, abs=1e-12)
    assert state["t"] == 1
    assert (state["m"]["theta"][0], state["v"]["theta"][0]) == pytest.approx((0.05, 0.00025))
    params, state = adam_step(params, {"theta": np.array([-0.2])}, state, lr=0.1)
    assert params["theta"][0] == pytest.approx(0.8654394181, abs=1e-10)
    assert state["t"] == 2
    assert (state["m"]["theta"][0], state["v"]["theta"][0]) == pytest.approx((0.025, 0.00028975))


def test_adam_state_carries_across_calls():
    params, g1, g2 = random_tree(0), random_tree(1), random_tree(2)
    carried, state = adam_step(params, g1, adam_init(params), lr=0.01)
    carried, state = adam_step(carried, g2, state, lr=0.01)
    restarted, _ = adam_step(params, g1, adam_init(params), lr=0.01)
    restarted, _ = adam_step(restarted, g2, adam_init(params), lr=0.01)
    assert state["t"] == 2
    assert not np.allclose(carried["W"][0], restarted["W"][0])
    # a restart's first step moves every entry by lr·sign(g) (up to ε): the carried one does not
    signs = np.sign(g1["W"][0]) + np.sign(g2["W"][0])  # (2, 3)
    np.testing.assert_allclose(restarted["W"][0] - params["W"][0], -0.01 * signs, atol=1e-8)


def test_adam_converges_on_a_quadratic():
    rng = np.random.default_rng(3)
    a, c = rng.uniform(0.1, 10.0, size=5), rng.normal(size=5)  # (5,), (5,): curvatures and minimiser

    def f(p):
        return 0.5 * anp.sum(a * (p["x"][0] - c) ** 2) + anp.sum(p["x"][1] ** 2)

    params = {"x": [np.zeros(5), np.ones(2)]}
    state = adam_init(params)
    for _ in range(2000):
        params, state = adam_step(params, grad(f)(params), state, lr=0.02)
    np.testing.assert_allclose(params["x"][0], c, atol=1e-3)
    np.testing.assert_allclose(params["x"][1], 0.0, atol=1e-3)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_against_a_hand_loop(nesterov):
    params = random_tree(4)
    grads = [random_tree(10 + i) for i in range(4)]
    state = sgd_init(params)
    p = params
    for g in grads:
        p, state = sgd_step(p, g, state, lr=0.1, momentum=0.8, nesterov=nesterov)
    theta, u = params["W"][0].copy(), np.zeros((2, 3))  # (2, 3), (2, 3)
    for g in grads:
        u = 0.8 * u + g["W"][0]
        theta = theta - 0.1 * ((g["W"][0] + 0.8 * u) if nesterov else u)
    np.testing.assert_allclose(p["W"][0], theta, rtol=1e-14)
    np.testing.assert_allclose(state["u"]["W"][0], u, rtol=1e-14)


def test_plain_sgd_and_weight_decay():
    params, g = random_tree(5), random_tree(6)
    p, _ = sgd_step(params, g, sgd_init(params), lr=0.5, momentum=0.0)
    np.testing.assert_allclose(p["b"][0], params["b"][0] - 0.5 * g["b"][0])
    decayed = tree_map(lambda g, p: g + 0.01 * p, g, params)
    for step, init in ((sgd_step, sgd_init), (adam_step, adam_init)):
        with_wd, _ = step(params, g, init(params), lr=0.1, weight_decay=0.01)
        by_hand, _ = step(params, decayed, init(params), lr=0.1)
        for x, y in zip(tree_leaves(with_wd), tree_leaves(by_hand)):
            np.testing.assert_allclose(x, y, rtol=1e-14)


@pytest.mark.parametrize("init, step", [(adam_init, adam_step), (sgd_init, sgd_step)])
def test_steps_keep_float32(init, step):
    params, g = random_tree(7, np.float32), random_tree(8, np.float32)
    p, state = step(params, g, init(params), lr=0.1)
    assert all(x.dtype == np.float32 for x in tree_leaves(p) + tree_leaves(state) if np.ndim(x))


def test_optimizer_by_name():
    params, g = random_tree(9), random_tree(10)
    opt = Optimizer("sgd", {"momentum": 0.5, "nesterov": True})
    p, _ = opt.step(params, g, opt.init(params), 0.1)
    q, _ = sgd_step(params, g, sgd_init(params), 0.1, momentum=0.5, nesterov=True)
    np.testing.assert_array_equal(p["W"][1], q["W"][1])
    p, _ = Optimizer("adam").step(params, g, Optimizer("adam").init(params), 0.1)
    q, _ = adam_step(params, g, adam_init(params), 0.1)
    np.testing.assert_array_equal(p["W"][1], q["W"][1])
    with pytest.raises(ValueError, match=r"unknown optimizer 'adamw'; expected one of \['adam', 'sgd'\]"):
        Optimizer("adamw")
    with pytest.raises(TypeError, match=r"adam has no hyperparameter\(s\) \['momentum'\]; expected some of \['b1'"):
        Optimizer("adam", {"momentum": 0.9})


def test_bad_hyperparameters():
    params = random_tree(0)
    with pytest.raises(ValueError, match="learning rate must be a finite number >= 0, got nan"):
        adam_step(params, params, adam_init(params), lr=float("nan"))
    with pytest.raises(ValueError, match="learning rate must be a finite number >= 0, got -0.1"):
        sgd_step(params, params, sgd_init(params), lr=-0.1)
    with pytest.raises(ValueError, match="Adam needs 0 <= b1, b2 < 1 and eps > 0, got b1=1.0"):
        adam_step(params, params, adam_init(params), lr=0.1, b1=1.0)
    with pytest.raises(ValueError, match=r"momentum must lie in \[0, 1\), got 1.5"):
        sgd_step(params, params, sgd_init(params), lr=0.1, momentum=1.5)
    with pytest.raises(ValueError, match="Nesterov momentum needs momentum > 0"):
        sgd_step(params, params, sgd_init(params), lr=0.1, momentum=0.0, nesterov=True)


@SETTINGS
@given(st.integers(0, 2**16), st.floats(0.01, 100.0), st.floats(0.01, 100.0))
def test_clipping(seed, scale, max_norm):
    grads = tree_map(lambda g: g * scale, random_tree(seed))
    norm = global_norm(grads)
    clipped, reported = clip_by_global_norm(grads, max_norm)
    assert reported == norm
    if norm <= max_norm:
        assert clipped is grads
    else:
        assert global_norm(clipped) == pytest.approx(max_norm, rel=1e-12)
        for c, g in zip(tree_leaves(clipped), tree_leaves(grads)):
            np.testing.assert_allclose(c, g * (max_norm / norm), rtol=1e-14)
    for off in (None, math.inf):
        same, reported = clip_by_global_norm(grads, off)
        assert same is grads and reported == norm


def test_clipping_reports_non_finite_norms_and_rejects_bad_thresholds():
    grads = {"a": np.array([1.0, np.nan]), "b": np.ones(2)}
    same, norm = clip_by_global_norm(grads, 1.0)
    assert same is grads and math.isnan(norm)
    assert clip_by_global_norm({"a": np.array([np.inf])}, 1.0)[1] == math.inf
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="max_norm must be > 0, inf or None, got"):
            clip_by_global_norm(grads, bad)


def test_schedules_at_key_steps():
    assert [constant(0.3)(t) for t in (0, 7, 10**6)] == [0.3, 0.3, 0.3]
    mnist = step_decay(1e-2, 10, 0.1)  # the paper's MNIST schedule, per epoch
    assert [mnist(t) for t in (0, 9, 10, 19, 20)] == pytest.approx([1e-2, 1e-2, 1e-3, 1e-3, 1e-4], rel=1e-12)
    cos = cosine(1.0, total=110, warmup=10, lr_min=0.1)
    assert [cos(t) for t in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])
    assert cos(10) == pytest.approx(1.0)
    assert cos(60) == pytest.approx(0.55)  # half-way: lr_min + (lr0 - lr_min) / 2
    assert cos(110) == pytest.approx(0.1) and cos(500) == pytest.approx(0.1)
    no_warmup = cosine(2.0, total=4)
    assert [no_warmup(t) for t in range(5)] == pytest.approx([2.0, 1 + 2**-0.5, 1.0, 1 - 2**-0.5, 0.0])


def test_bad_schedules():
    with pytest.raises(ValueError, match="step_decay needs an integer step_size > 0 and gamma > 0, got 0"):
        step_decay(0.1, 0)
    with pytest.raises(ValueError, match="cosine needs integers 0 <= warmup < total, got warmup=5, total=5"):
        cosine(0.1, 5, warmup=5)
    with pytest.raises(ValueError, match="cosine needs 0 <= lr_min <= lr0, got lr_min=0.2, lr0=0.1"):
        cosine(0.1, 5, lr_min=0.2)
    with pytest.raises(ValueError, match="learning rate must be a finite number >= 0, got inf"):
        constant(float("inf"))
    with pytest.raises(ValueError, match="schedules take a step or epoch index >= 0, got -1"):
        step_decay(0.1, 10)(-1)
    with pytest.raises(ValueError, match="schedules take a step or epoch index >= 0, got 1.5"):
        constant(0.1)(1.5)
