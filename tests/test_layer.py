"""The whole-layer primitive (``layer.run``, behind ``rnn.unroll``) against the readable ``rnn.unroll_reference``
(one ``cells.step`` per step, differentiated by autograd): values and gradients in every layout of both cells;
float32; bad inputs."""
import warnings

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from autograd.misc import flatten
from hypothesis import given, settings, strategies as st

from ttrnn_np import cells, layer, rnn

KINDS = ("lstm", "gru")
LAYOUTS = cells.LAYOUTS


def _cell(kind, layout, I=6, H=6, **kw):
    return cells.CellConfig(kind, layout, I, H, **{"n_cores": 2, "rank": 3, **kw})


def _random_state(cell, B, rng, dtype=np.float64):
    n = 2 if cell.kind == "lstm" else 1
    return tuple(rng.standard_normal((B, cell.hidden_size)).astype(dtype) for _ in range(n))


def _run(unroll, cell, params, X, state):
    """(h_1 … h_T (T, B, H), final state) from ``rnn.unroll`` or ``rnn.unroll_reference``, X (B, T, I)."""
    hs, final = unroll(cell, params, X, state)  # (B, T, H)
    return anp.transpose(hs, (1, 0, 2)), final


def _loss(unroll, cell, C, D):
    """A loss on every h_t and on every entry of the final state (so ∂L/∂c_T ≠ 0 too)."""
    def loss(params, X, state):
        hs, final = _run(unroll, cell, params, X, state)
        return anp.sum(C * anp.tanh(hs)) + sum(anp.sum(D * anp.sin(s)) for s in final)
    return loss


def _setup(kind, layout, rng, B=3, T=5, dtype=np.float64, **kw):
    cell = _cell(kind, layout, **kw)
    params = cells.init_cell(cell, rng, dtype)
    params = {**params, "b": rng.standard_normal(params["b"].shape).astype(dtype)}  # every gate matters
    X = rng.standard_normal((B, T, cell.input_size)).astype(dtype)
    return cell, params, X, _random_state(cell, B, rng, dtype)


# ---------------------------------------------------------------- every layout, both references

@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kind", KINDS)
def test_values_and_gradients_equal_the_reference(kind, layout):
    rng = np.random.default_rng(0)
    cell, params, X, state = _setup(kind, layout, rng)
    C, D = rng.standard_normal((5, 3, 6)), rng.standard_normal((3, 6))
    hs, final = _run(rnn.unroll, cell, params, X, state)
    grads = autograd.grad(_loss(rnn.unroll, cell, C, D), argnum=(0, 1, 2))(params, X, state)
    hs_ref, final_ref = _run(rnn.unroll_reference, cell, params, X, state)
    np.testing.assert_allclose(hs, hs_ref, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(flatten(final)[0], flatten(final_ref)[0], rtol=1e-13, atol=1e-14)
    grads_ref = autograd.grad(_loss(rnn.unroll_reference, cell, C, D), argnum=(0, 1, 2))(params, X, state)
    np.testing.assert_allclose(flatten(grads)[0], flatten(grads_ref)[0], rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_of_every_argument_are_not_trivially_zero(kind):
    """The comparison above would pass if every path returned zeros: here each part of the gradient is nonzero."""
    rng = np.random.default_rng(1)
    cell, params, X, state = _setup(kind, "joint", rng)
    C, D = rng.standard_normal((5, 3, 6)), rng.standard_normal((3, 6))
    g_params, g_X, g_state = autograd.grad(_loss(rnn.unroll, cell, C, D), argnum=(0, 1, 2))(params, X, state)
    for part in [g_params["b"], g_X, *g_params["W_h"][0], *g_params["W_x"][0], *g_state]:
        assert np.abs(part).max() > 1e-3


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(KINDS), layout=st.sampled_from(LAYOUTS), d=st.integers(1, 3), rank=st.integers(1, 3),
       I=st.integers(1, 6), H=st.sampled_from([2, 3, 4, 6]), T=st.integers(1, 4), B=st.integers(1, 3),
       seed=st.integers(0, 2 ** 16))
def test_primitive_equals_the_readable_step_property(kind, layout, d, rank, I, H, T, B, seed):
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny random shapes are often prime or over-ranked
        cell, params, X, state = _setup(kind, layout, rng, B=B, T=T, I=I, H=H, n_cores=d, rank=rank)
    C, D = rng.standard_normal((T, B, H)), rng.standard_normal((B, H))
    hs, _ = _run(rnn.unroll, cell, params, X, state)
    hs_ref, _ = _run(rnn.unroll_reference, cell, params, X, state)
    np.testing.assert_allclose(hs, hs_ref, rtol=1e-12, atol=1e-13)
    g = autograd.grad(_loss(rnn.unroll, cell, C, D), argnum=(0, 1, 2))(params, X, state)
    g_ref = autograd.grad(_loss(rnn.unroll_reference, cell, C, D), argnum=(0, 1, 2))(params, X, state)
    np.testing.assert_allclose(flatten(g)[0], flatten(g_ref)[0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_argument_alone_gets_the_same_gradient(layout):
    """The VJP for one differentiated argument at a time (Ax only, W_h only, h_0 only) equals the reference's."""
    rng = np.random.default_rng(2)
    cell, params, X, state = _setup("lstm", layout, rng)
    C, D = rng.standard_normal((5, 3, 6)), rng.standard_normal((3, 6))
    found = []
    for unroll in (rnn.unroll, rnn.unroll_reference):
        loss = _loss(unroll, cell, C, D)
        g_W_h = autograd.grad(lambda W: loss({**params, "W_h": W}, X, state))(params["W_h"])
        g_X = autograd.grad(lambda X_: loss(params, X_, state))(X)
        g_h0 = autograd.grad(lambda h: loss(params, X, (h, state[1])))(state[0])
        found.append((g_W_h, g_X, g_h0))
    for a, b in zip(*found):
        np.testing.assert_allclose(flatten(a)[0], flatten(b)[0], rtol=1e-12, atol=1e-13)


# ---------------------------------------------------------------- finite differences, dtype, zero state

@pytest.mark.parametrize("layout", ["dense", "joint"])
@pytest.mark.parametrize("kind", KINDS)
def test_finite_differences(kind, layout):
    rng = np.random.default_rng(3)
    cell, params, X, state = _setup(kind, layout, rng, B=2, T=3, I=4, H=4, n_cores=2, rank=2)
    C, D = rng.standard_normal((3, 2, 4)), rng.standard_normal((2, 4))
    loss = _loss(rnn.unroll, cell, C, D)
    args = (params, X, state)
    flat, unflatten = flatten(args)
    analytic = flatten(autograd.grad(lambda a: loss(*a))(args))[0]
    eps = 1e-6
    for _ in range(4):
        v = rng.standard_normal(flat.shape)
        numeric = (loss(*unflatten(flat + eps * v)) - loss(*unflatten(flat - eps * v))) / (2 * eps)
        assert np.dot(analytic, v) == pytest.approx(numeric, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kind", KINDS)
def test_float32_stays_float32(kind, layout):
    rng = np.random.default_rng(4)
    cell, params, X, state = _setup(kind, layout, rng, dtype=np.float32)
    C, D = rng.standard_normal((5, 3, 6)).astype(np.float32), rng.standard_normal((3, 6)).astype(np.float32)
    hs, final = _run(rnn.unroll, cell, params, X, state)
    grads = autograd.grad(_loss(rnn.unroll, cell, C, D), argnum=(0, 1, 2))(params, X, state)
    assert {np.asarray(a).dtype for a in [hs, *final, *_leaves(grads)]} == {np.dtype(np.float32)}
    p64 = {"W_x": _cast(params["W_x"]), "W_h": _cast(params["W_h"]), "b": params["b"].astype(np.float64)}
    hs64, _ = _run(rnn.unroll, cell, p64, X.astype(np.float64), tuple(s.astype(np.float64) for s in state))
    np.testing.assert_allclose(hs, hs64, rtol=1e-4, atol=1e-5)


def _leaves(tree):
    """Every array in a pytree of dicts, lists and tuples."""
    if isinstance(tree, dict):
        return [leaf for value in tree.values() for leaf in _leaves(value)]
    if isinstance(tree, (list, tuple)):
        return [leaf for value in tree for leaf in _leaves(value)]
    return [tree]


def _cast(W):
    if isinstance(W, list):
        return [_cast(w) for w in W]
    return W.astype(np.float64)


@pytest.mark.parametrize("kind", KINDS)
def test_default_zero_state_matches_explicit_zeros(kind):
    rng = np.random.default_rng(5)
    cell, params, X, _ = _setup(kind, "dense", rng)
    zeros = cells.zero_state(cell, 3, np.float64)
    np.testing.assert_array_equal(rnn.unroll(cell, params, X)[0], rnn.unroll(cell, params, X, zeros)[0])


def test_forward_records_one_node_whatever_T():
    """The layer is one primitive: its VJP maker runs once per forward pass, whatever T is."""
    rng = np.random.default_rng(6)
    counts = []
    for T in (2, 9):
        cell, params, X, state = _setup("lstm", "joint", rng, T=T)
        calls = []
        original = layer._layer_vjp

        def counting(*args, **kwargs):
            calls.append(1)
            return original(*args, **kwargs)
        layer.defvjp_argnums(layer._layer, counting)
        try:
            autograd.grad(lambda p: anp.sum(_run(rnn.unroll, cell, p, X, state)[0]))(params)
        finally:
            layer.defvjp_argnums(layer._layer, original)
        counts.append(len(calls))
    assert counts == [1, 1]


# ---------------------------------------------------------------- bad input

def test_bad_inputs_raise():
    rng = np.random.default_rng(7)
    cell = _cell("lstm", "dense")  # G·H = 24
    params = cells.init_cell(cell, rng)
    state = _random_state(cell, 2, rng)
    Ax = rng.standard_normal((3, 2, 24))  # (T, B, G·H)
    with pytest.raises(ValueError, match=r"Ax must have shape \(T, B, 24\)"):
        layer.run(cell, Ax[..., :20], params["W_h"], state)
    with pytest.raises(ValueError, match=r"Ax must have shape"):
        layer.run(cell, Ax[0], params["W_h"], state)
    with pytest.raises(ValueError, match=r"Ax must have shape .* T, B ≥ 1"):
        layer.run(cell, Ax[:0], params["W_h"], state)
    with pytest.raises(ValueError, match=r"state must be \(h_0, c_0\) with each of shape \(2, 6\)"):
        layer.run(cell, Ax, params["W_h"], state[:1])
    with pytest.raises(ValueError, match=r"state must be .* shape \(2, 6\), got shapes \[\(2, 6\), \(3, 6\)\]"):
        layer.run(cell, Ax, params["W_h"], (state[0], rng.standard_normal((3, 6))))
    with pytest.raises(ValueError, match=r"W_h must be 1 TT-matrix block\(s\) .* \[\(6, 24\)\], got \[\(6, 20\)\]"):
        layer.run(cell, Ax, [[params["W_h"][0][0][:, :, :20]]], state)
    joint = _cell("gru", "joint")
    with pytest.raises(ValueError, match=r"W_h must be .* got \[None\]"):
        layer.run(joint, rng.standard_normal((3, 2, 18)), [[rng.standard_normal((6, 18))]], state[:1])


def test_vjp_can_be_called_many_times_jacobian():
    """autograd.jacobian calls the layer's VJP once per output entry on the same saved activations."""
    rng = np.random.default_rng(8)
    cell, params, X, state = _setup("lstm", "joint", rng, B=2, T=3, I=4, H=4, n_cores=2, rank=2)
    jacobians = [autograd.jacobian(lambda h: unroll(cell, params, X, (h, state[1]))[0])(state[0])
                 for unroll in (rnn.unroll, rnn.unroll_reference)]
    np.testing.assert_allclose(jacobians[0], jacobians[1], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", KINDS)
def test_forward_reference_flag_gives_the_same_model_output(kind):
    rng = np.random.default_rng(9)
    config = rnn.ModelConfig(_cell(kind, "joint"), num_layers=2)
    params = rnn.init_model(config, rng)
    X = rng.standard_normal((3, 4, 6))
    np.testing.assert_allclose(rnn.forward(config, params, X), rnn.forward(config, params, X, reference=True),
                               rtol=1e-13, atol=1e-14)
