"""Per-step state gradient norms against a direct computation; gate matrices of every layout."""
import autograd
import autograd.numpy as anp
import numpy as np
import pytest

from ttrnn_np import cells, diagnostics, rnn, ttmatrix
from ttrnn_np.heads import HeadConfig, apply_head


def _setup(kind, layout, num_layers, T=4, seed=0):
    config = rnn.ModelConfig(cells.CellConfig(kind, layout, 4, 4, n_cores=2, rank=2), num_layers=num_layers,
                             head=HeadConfig("classify", 3))
    rng = np.random.default_rng(seed)
    params = rnn.init_model(config, rng)
    X, C = rng.standard_normal((2, T, 4)), rng.standard_normal((2, 3))
    return config, params, X, (lambda out: anp.sum(C * anp.tanh(out)))


def _direct_norms(config, params, X, loss_fn):
    """∂L/∂h_t (∂L/∂c_t) of every layer by restarting the readable model from each state.

    Layer ℓ's state s at step t is made a free variable: layer ℓ runs on from s over steps t+1…T−1, its new
    outputs replace steps t…T−1 of its h sequence, and the layers above rerun on that sequence.
    """
    T, kind = X.shape[1], config.cell.kind
    inputs, states = [X], []  # inputs[ℓ] (B, T, ·) feeds layer ℓ; states[ℓ][t] is layer ℓ's state after step t
    for cell, p in zip(config.layers, params["layers"]):
        state, per_step = None, []
        for t in range(T):
            state = cells.step(cell, p, inputs[-1][:, t], state or cells.zero_state(cell, X.shape[0], X.dtype))
            per_step.append(state)
        states.append(per_step)
        inputs.append(np.stack([s[0] for s in per_step], axis=1))

    def loss_from(layer, t, state):
        cell, p = config.layers[layer], params["layers"][layer]
        steps = [inputs[layer + 1][:, :t], state[0][:, None, :]]
        if t + 1 < T:
            steps.append(rnn.unroll_reference(cell, p, inputs[layer][:, t + 1:], state)[0])
        H_seq = anp.concatenate(steps, axis=1)  # (B, T, H)
        for upper, p_up in zip(config.layers[layer + 1:], params["layers"][layer + 1:]):
            H_seq, _ = rnn.unroll_reference(upper, p_up, H_seq)
        return loss_fn(apply_head(config.head, params["head"], H_seq[:, -1]))

    names = ("h", "c") if kind == "lstm" else ("h",)
    norms = {name: np.zeros((config.num_layers, T)) for name in names}
    for layer in range(config.num_layers):
        for t in range(T):
            for k, name in enumerate(names):
                g = autograd.grad(lambda s: loss_from(layer, t, s))(states[layer][t])[k]
                norms[name][layer, t] = np.linalg.norm(g)
    return norms


@pytest.mark.parametrize("kind, layout, num_layers", [("lstm", "joint", 1), ("lstm", "naive", 2),
                                                      ("gru", "joint_gate_core", 2), ("gru", "dense", 1)])
def test_state_grad_norms_equal_the_direct_derivatives(kind, layout, num_layers):
    config, params, X, loss_fn = _setup(kind, layout, num_layers)
    norms = diagnostics.state_grad_norms(config, params, X, loss_fn)
    expected = _direct_norms(config, params, X, loss_fn)
    assert set(norms) == set(expected)
    for name in norms:
        assert norms[name].shape == (num_layers, X.shape[1])
        np.testing.assert_allclose(norms[name], expected[name], rtol=1e-10)
    assert np.all(norms["h"] > 0)
    if kind == "lstm":  # the last cell state feeds nothing: neither the head nor the layer above reads c
        assert np.all(norms["c"][:, :-1] > 0) and np.all(norms["c"][:, -1] == 0)


def test_perturbation_leaves_the_forward_pass_unchanged():
    config, params, X, _ = _setup("lstm", "joint", 2)
    zeros = [{"h": [np.zeros((2, 4))] * 4, "c": [np.zeros((2, 4))] * 4}] * 2
    np.testing.assert_array_equal(rnn.forward(config, params, X, perturb=zeros), rnn.forward(config, params, X))


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("layout", cells.LAYOUTS)
def test_gate_matrices_are_column_blocks_of_the_full_weights(kind, layout):
    cell = cells.CellConfig(kind, layout, 6, 6, n_cores=2, rank=2)
    params = cells.init_cell(cell, np.random.default_rng(1))
    gates = diagnostics.gate_matrices(cell, params)
    assert tuple(gates) == cells.GATES[kind]
    x, h = np.random.default_rng(2).standard_normal((2, 3, 6))
    Ax, Ah = cells.project(x, params["W_x"]), cells.project(h, params["W_h"])  # (3, G·6) each
    for g, (W_x_g, W_h_g) in enumerate(gates.values()):
        assert W_x_g.shape == (6, 6) and W_h_g.shape == (6, 6)
        np.testing.assert_allclose(x @ W_x_g, Ax[:, 6 * g:6 * g + 6], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(h @ W_h_g, Ah[:, 6 * g:6 * g + 6], rtol=1e-12, atol=1e-14)
    if layout == "naive":
        np.testing.assert_allclose(gates[cells.GATES[kind][1]][1], ttmatrix.full(params["W_h"][1]))
