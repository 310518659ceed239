"""Model assembly: layers with their own states, heads, the forward pass, truncated BPTT; bad inputs."""
import dataclasses
import warnings

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from autograd.misc import flatten
from hypothesis import given, settings, strategies as st

from ttrnn_np import cells, rnn, ttmatrix
from ttrnn_np.heads import HeadConfig, apply_head
from ttrnn_np.pytree import tree_flatten


def _model(kind="lstm", layout="joint", num_layers=1, head=HeadConfig("classify", 3), I=4, H=4, **kw):
    return rnn.ModelConfig(cells.CellConfig(kind, layout, I, H, **kw), num_layers=num_layers, head=head)


def _manual_forward(config, params, X, state=None):
    """Layer by layer with the readable step, each layer from its own state (zeros unless given)."""
    H_seq, final = X, []
    for layer, (cell, p) in enumerate(zip(config.layers, params["layers"])):
        H_seq, s = rnn.unroll_reference(cell, p, H_seq, None if state is None else state[layer])
        final.append(s)
    return H_seq[:, -1, :], final


def _xent(logits, labels):
    logits = logits - anp.max(logits, axis=1, keepdims=True)
    log_p = logits - anp.log(anp.sum(anp.exp(logits), axis=1, keepdims=True))
    return -anp.mean(log_p[np.arange(len(labels)), labels])


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("layout", cells.LAYOUTS)
def test_stacked_layers_each_start_from_their_own_zero_state(kind, layout):
    config = _model(kind, layout, num_layers=3, head=None)
    params = rnn.init_model(config, np.random.default_rng(0))
    X = np.random.default_rng(1).standard_normal((2, 5, 4))
    h_T, final = rnn.forward(config, params, X, return_state=True)
    h_manual, final_manual = _manual_forward(config, params, X)
    np.testing.assert_allclose(h_T, h_manual, rtol=1e-12)
    np.testing.assert_allclose(flatten(final)[0], flatten(final_manual)[0], rtol=1e-12)


def test_a_given_state_is_used_per_layer():
    config = _model("lstm", "joint", num_layers=2, head=None)
    params = rnn.init_model(config, np.random.default_rng(2))
    rng = np.random.default_rng(3)
    X = rng.standard_normal((2, 4, 4))
    state = [tuple(rng.standard_normal((2, 4)) for _ in range(2)) for _ in range(2)]
    np.testing.assert_allclose(rnn.forward(config, params, X, state), _manual_forward(config, params, X, state)[0],
                               rtol=1e-12)
    swapped = [state[1], state[0]]
    assert not np.allclose(rnn.forward(config, params, X, swapped), rnn.forward(config, params, X, state))


def test_upper_layers_read_h_factorized_like_the_hidden_size():
    config = rnn.ModelConfig(cells.CellConfig("lstm", "joint", 28, 256, n_cores=3, in_modes=(2, 2, 7)),
                             num_layers=2)
    assert config.layers[1].input_size == 256 and config.layers[1].weight_shapes["W_x"][0][0] == (4, 8, 8)


@pytest.mark.parametrize("kind", ["classify", "embed"])
@pytest.mark.parametrize("head_layout", ["dense", "tt"])
def test_heads_match_their_dense_formula(kind, head_layout):
    config = _model("gru", "joint", head=HeadConfig(kind, 6, head_layout), H=6, n_cores=2, rank=2)
    params = rnn.init_model(config, np.random.default_rng(4))
    params["head"]["b"] = np.random.default_rng(5).standard_normal(6)  # some logits negative, some positive
    X = np.random.default_rng(6).standard_normal((5, 3, 4))
    out = rnn.forward(config, params, X)
    h_T, _ = _manual_forward(config, params, X)
    W = ttmatrix.full(params["head"]["W"])
    assert len(params["head"]["W"]) == (1 if head_layout == "dense" else 2)  # a dense head is one core
    y = h_T @ W + params["head"]["b"]
    if kind == "classify":
        np.testing.assert_allclose(out, y, rtol=1e-12)
    else:
        e = np.maximum(y, 0)
        np.testing.assert_allclose(out, e / np.linalg.norm(e, axis=1, keepdims=True), rtol=1e-12)
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-12)


def test_tt_head_takes_the_cells_cores_and_rank():
    config = _model("lstm", "joint", head=HeadConfig("classify", 10, "tt"), I=28, H=256, n_cores=3, rank=4)
    W = rnn.init_model(config, np.random.default_rng(7))["head"]["W"]
    assert ttmatrix.row_modes(W) == (4, 8, 8) and ttmatrix.col_modes(W) == (1, 2, 5)
    assert ttmatrix.ranks(W) == (1, 4, 4, 1)


def test_embedding_of_an_all_negative_output_is_zero_with_finite_gradient():
    head = HeadConfig("embed", 3)
    params = {"W": [np.zeros((1, 4, 3, 1))], "b": -np.ones(3)}
    h = np.ones((2, 4))
    np.testing.assert_array_equal(apply_head(head, params, h), 0.0)
    g = autograd.grad(lambda p: anp.sum(apply_head(head, p, h)))(params)
    assert np.all(np.isfinite(flatten(g)[0]))


@settings(max_examples=25, deadline=None)
@given(kind=st.sampled_from(["lstm", "gru"]), layout=st.sampled_from(cells.LAYOUTS), L=st.integers(1, 3),
       d=st.integers(1, 3), rank=st.integers(1, 3), H=st.sampled_from([2, 4, 6]), T=st.integers(1, 4),
       seed=st.integers(0, 2 ** 16))
def test_forward_and_gradients_match_the_readable_model(kind, layout, L, d, rank, H, T, seed):
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = _model(kind, layout, num_layers=L, head=HeadConfig("classify", 3, "tt"), H=H, n_cores=d, rank=rank)
        params = rnn.init_model(config, rng)
    X, labels = rng.standard_normal((2, T, 4)), rng.integers(0, 3, 2)
    readable = lambda p: _xent(apply_head(config.head, p["head"], _manual_forward(config, p, X)[0]), labels)
    fast = lambda p: _xent(rnn.forward(config, p, X), labels)
    assert fast(params) == pytest.approx(readable(params), rel=1e-12)
    np.testing.assert_allclose(flatten(autograd.grad(fast)(params))[0],
                               flatten(autograd.grad(readable)(params))[0], rtol=1e-9, atol=1e-13)


def test_float32_model_stays_float32_even_for_float64_input():
    config = _model("lstm", "joint", num_layers=2, head=HeadConfig("embed", 4, "tt"))
    params = rnn.init_model(config, np.random.default_rng(8), np.float32)
    X = np.random.default_rng(9).standard_normal((2, 3, 4))  # float64
    out, state = rnn.forward(config, params, X, return_state=True)
    assert out.dtype == np.float32 and flatten(state)[0].dtype == np.float32
    grads = autograd.grad(lambda p: anp.sum(rnn.forward(config, p, X)))(params)
    assert flatten(grads)[0].dtype == np.float32


# ---------------------------------------------------------------- truncated BPTT

def test_windows_carry_the_state_exactly():
    config = _model("lstm", "joint", num_layers=2)
    params = rnn.init_model(config, np.random.default_rng(10))
    X = np.random.default_rng(11).standard_normal((3, 7, 4))
    full, full_state = rnn.forward(config, params, X, return_state=True)
    state = None
    for start in range(0, 7, 3):
        out, state = rnn.forward(config, params, X[:, start:start + 3], state, return_state=True)
    np.testing.assert_allclose(out, full, rtol=1e-12)
    np.testing.assert_allclose(flatten(state)[0], flatten(full_state)[0], rtol=1e-12)


@pytest.mark.parametrize("window", [7, 10])
def test_truncated_bptt_with_window_at_least_T_is_full_bptt(window):
    config = _model("gru", "naive", num_layers=2)
    params = rnn.init_model(config, np.random.default_rng(12))
    rng = np.random.default_rng(13)
    X, labels = rng.standard_normal((3, 7, 4)), rng.integers(0, 3, 3)
    loss = lambda out: _xent(out, labels)
    value, grads = autograd.value_and_grad(lambda p: loss(rnn.truncated_bptt(config, p, X, window)))(params)
    full_value, full_grads = autograd.value_and_grad(lambda p: loss(rnn.forward(config, p, X)))(params)
    assert value == pytest.approx(full_value, rel=1e-13)
    np.testing.assert_allclose(flatten(grads)[0], flatten(full_grads)[0], rtol=1e-12)


def test_truncated_bptt_hands_on_the_state_of_the_whole_sequence():
    config = _model("lstm", "joint", num_layers=2)
    params = rnn.init_model(config, np.random.default_rng(12))
    X = np.random.default_rng(13).standard_normal((3, 7, 4))
    out, state = rnn.truncated_bptt(config, params, X, 3, return_state=True)
    full, full_state = rnn.forward(config, params, X, return_state=True)
    np.testing.assert_allclose(out, full, rtol=1e-12)
    np.testing.assert_allclose(flatten(state)[0], flatten(full_state)[0], rtol=1e-12)


def test_truncated_bptt_stops_the_gradient_at_the_last_window():
    config = _model("lstm", "dense", num_layers=1)
    params = rnn.init_model(config, np.random.default_rng(14))
    rng = np.random.default_rng(15)
    X, labels = rng.standard_normal((3, 8, 4)), rng.integers(0, 3, 3)
    loss = lambda out: _xent(out, labels)
    value, grads = autograd.value_and_grad(lambda p: loss(rnn.truncated_bptt(config, p, X, 3)))(params)  # [0:3], [3:6], [6:8]
    _, boundary = rnn.forward(config, params, X[:, :6], return_state=True)
    expected = autograd.grad(lambda p: loss(rnn.forward(config, p, X[:, 6:], boundary)))(params)
    np.testing.assert_allclose(flatten(grads)[0], flatten(expected)[0], rtol=1e-12)
    assert value == pytest.approx(loss(rnn.forward(config, params, X)), rel=1e-13)
    full = autograd.grad(lambda p: loss(rnn.forward(config, p, X)))(params)
    assert not np.allclose(flatten(grads)[0], flatten(full)[0])


# ---------------------------------------------------------------- bad inputs

def test_bad_inputs_raise():
    config = _model("lstm", "joint", num_layers=2)
    params = rnn.init_model(config, np.random.default_rng(16))
    X = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match=r"X must have shape \(B, T, 4\), got \(2, 3, 5\)"):
        rnn.forward(config, params, np.zeros((2, 3, 5)))
    with pytest.raises(ValueError, match=r"X must have shape \(B, T, 4\), got \(3, 4\)"):
        rnn.forward(config, params, np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"at least one time step, got shape \(2, 0, 4\)"):
        rnn.forward(config, params, np.zeros((2, 0, 4)))
    with pytest.raises(ValueError, match=r"state must have one entry per layer \(2\), got 1"):
        rnn.forward(config, params, X, state=[(np.zeros((2, 4)),) * 2])
    with pytest.raises(ValueError, match="params do not match the config: 1 layers and a head, expected 2"):
        rnn.forward(config, {**params, "layers": params["layers"][:1]}, X)
    with pytest.raises(ValueError, match="window must be a positive integer, got 0"):
        rnn.truncated_bptt(config, params, X, 0)


@pytest.mark.parametrize("make, error, match", [
    (lambda: rnn.ModelConfig("lstm"), TypeError, "cell must be a CellConfig, got str"),
    (lambda: _model(num_layers=0), ValueError, "num_layers must be a positive integer, got 0"),
    (lambda: _model(head="classify"), TypeError, "head must be a HeadConfig or None, got str"),
    (lambda: HeadConfig("regress"), ValueError, "head kind must be one of"),
    (lambda: HeadConfig(layout="joint"), ValueError, "head layout must be one of"),
    (lambda: HeadConfig(out_size=0), ValueError, "out_size must be a positive integer, got 0"),
    (lambda: HeadConfig(rank=0), ValueError, "head rank must be a positive integer, got 0"),
    (lambda: HeadConfig(init="he"), ValueError, "head init must be one of"),
])
def test_bad_model_configs_raise(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_dataclass_replace_re_resolves_modes():
    cell = cells.CellConfig("lstm", "joint", 28, 256, n_cores=2)
    assert dataclasses.replace(cell, n_cores=3).weight_shapes["W_h"] == [((4, 8, 8), (8, 8, 16))]


# ---------------------------------------------------------------- parameter trees saved in the older format

def _old_format(config, params):
    """The tree the library built before TT-matrix blocks: dense weights as matrices, one core list per joint
    weight, one core list per gate (naive), a dense head W as a matrix."""
    def weight(cell, W):
        if cell.layout == "dense":
            return W[0][0][0, :, :, 0]  # (M, N)
        return [list(block) for block in W] if cell.layout == "naive" else list(W[0])
    layers = [{**p, "W_x": weight(cell, p["W_x"]), "W_h": weight(cell, p["W_h"])}
              for cell, p in zip(config.layers, params["layers"])]
    old = {"layers": layers}
    if "head" in params:
        W = params["head"]["W"]
        old["head"] = {**params["head"], "W": W[0][0, :, :, 0] if len(W) == 1 else list(W)}
    return old


@pytest.mark.parametrize("layout, head_layout", [("dense", "dense"), ("naive", "tt"), ("joint", "dense"),
                                                 ("joint_gate_core", "tt")])
def test_upgrade_params_reads_the_older_format_exactly(layout, head_layout):
    config = _model("lstm", layout, num_layers=2, head=HeadConfig("classify", 3, head_layout), n_cores=2, rank=2)
    params = rnn.init_model(config, np.random.default_rng(17))
    old = _old_format(config, params)
    for tree in (old, {"t": 3, "m": old, "v": old}):  # parameters, and Adam's state holding two such trees
        upgraded = rnn.upgrade_params(tree)
        target = params if tree is old else {"t": 3, "m": params, "v": params}
        assert tree_flatten(upgraded)[1] == tree_flatten(target)[1]  # the same structure
        for path, leaf in tree_flatten(upgraded)[0].items():
            np.testing.assert_array_equal(leaf, tree_flatten(target)[0][path])
    assert tree_flatten(rnn.upgrade_params(params))[1] == tree_flatten(params)[1]  # current trees pass unchanged


def test_an_older_checkpoint_resumes(tmp_path):
    """``fit`` resumes from a checkpoint pair whose trees are in the older format, to the same numbers."""
    from ttrnn_np import training
    from ttrnn_np.checkpoint import load_checkpoint, save_checkpoint
    config = _model("lstm", "dense", head=HeadConfig("classify", 3))
    rng = np.random.default_rng(18)
    X, y = rng.standard_normal((12, 3, 4)), rng.integers(0, 3, 12)
    loss_fn = lambda p, batch: _xent(rnn.forward(config, p, batch[0]), batch[1])  # noqa: E731
    batches = lambda epoch, rng_: training.minibatches(X, y, 4, rng_)  # noqa: E731
    params = rnn.init_model(config, np.random.default_rng(19))
    straight = training.fit(loss_fn, params, batches, epochs=2, lr=1e-2, checkpoint_dir=tmp_path / "straight")
    training.fit(loss_fn, params, batches, epochs=1, lr=1e-2, checkpoint_dir=tmp_path / "old")
    for name in ("last",):  # rewrite the pair in the older format (no evaluation: no "best")
        saved, opt_state, meta = load_checkpoint(tmp_path / "old" / name)
        old_opt = None if opt_state is None else {k: _old_format(config, v) if isinstance(v, dict) else v
                                                  for k, v in opt_state.items()}
        save_checkpoint(tmp_path / "old" / name, _old_format(config, saved), old_opt, meta)
    resumed = training.fit(loss_fn, params, batches, epochs=2, lr=1e-2, checkpoint_dir=tmp_path / "old",
                           resume=True)
    for path, leaf in tree_flatten(resumed.params)[0].items():
        np.testing.assert_array_equal(leaf, tree_flatten(straight.params)[0][path])


def test_a_state_of_the_wrong_batch_or_shape_is_named():
    from ttrnn_np.cells import CellConfig
    from ttrnn_np.rnn import ModelConfig, forward, init_model
    config = ModelConfig(CellConfig(kind="lstm", layout="joint", input_size=4, hidden_size=8, n_cores=2, rank=2))
    params = init_model(config, np.random.default_rng(0))
    X = np.zeros((3, 5, 4))  # (B, T, I)
    good = (np.zeros((3, 8)), np.zeros((3, 8)))
    assert np.shape(forward(config, params, X, state=[good]))[0] == 3
    with pytest.raises(ValueError, match=r"state\[0\] must be 2 array\(s\) of shape \(B, H\) = \(3, 8\) "
                                         r"\(\(h, c\) for X with B = 3\), got shapes \[\(2, 8\), \(2, 8\)\]"):
        forward(config, params, X, state=[(np.zeros((2, 8)), np.zeros((2, 8)))])
    with pytest.raises(ValueError, match=r"got shapes \[\(3, 8\)\]"):
        forward(config, params, X, state=[(np.zeros((3, 8)),)])


def test_non_finite_inputs_propagate_as_documented():
    """The product and the cells do not check values (documented in ttmatmul.matmul and rnn.forward): a NaN
    in one sample's input reaches that sample's output, and only that sample's."""
    from ttrnn_np.cells import CellConfig
    from ttrnn_np.rnn import ModelConfig, forward, init_model
    config = ModelConfig(CellConfig(kind="gru", layout="joint", input_size=4, hidden_size=8, n_cores=2, rank=2))
    params = init_model(config, np.random.default_rng(0))
    X = np.random.default_rng(1).normal(size=(3, 5, 4))  # (B, T, I)
    X[1, 2, 0] = np.nan
    h = forward(config, params, X)  # (3, K)
    assert np.all(np.isnan(h[1])) and np.all(np.isfinite(h[[0, 2]]))
