"""Cells in every layout against the dense cell built from their full matrices; the gate equations and their
backward; the weight blocks; init; configs."""
import dataclasses
import math
import warnings

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from autograd.misc import flatten
from hypothesis import given, settings, strategies as st

from ttrnn_np import cells, rnn, ttmatrix
from ttrnn_np.shapes import RankWarning

KINDS = ("lstm", "gru")
LAYOUTS = cells.LAYOUTS
TINY = dict(input_size=4, hidden_size=4, n_cores=2, rank=2)  # modes (2, 2); joint 4H = 16 → (4, 4)


def _cell(kind, layout, **kw):
    return cells.CellConfig(kind, layout, **{**TINY, **kw})


def _as_weight(W):
    """A dense matrix (M, N) as a cell weight: one block of one core (1, M, N, 1)."""
    return [[W.reshape(1, *W.shape, 1)]]


def _matrix(W):
    """The dense matrix (M, N) of a dense-layout cell weight (one block of one core)."""
    ((core,),) = W
    return core[0, :, :, 0]


def _dense_twin(cell, params):
    """The dense cell whose stacked matrices are the full matrices of ``cell``'s weights."""
    W_x, W_h = cells.dense_weights(params)
    dense = dataclasses.replace(cell, layout="dense", in_modes=None, hidden_modes=None, out_modes=None)
    return dense, {"W_x": _as_weight(W_x), "W_h": _as_weight(W_h), "b": params["b"]}


def _random_state(cell, B, rng):
    return tuple(rng.standard_normal((B, cell.hidden_size)) for _ in range(2 if cell.kind == "lstm" else 1))


# ---------------------------------------------------------------- every layout against its dense twin

@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kind", KINDS)
def test_layout_equals_dense_cell_of_its_full_matrices(kind, layout):
    rng = np.random.default_rng(0)
    cell = _cell(kind, layout, input_size=6, hidden_size=6, rank=3)  # 4H = 24 → (4, 6), 3H = 18 → (3, 6)
    params = cells.init_cell(cell, rng)
    dense, dense_params = _dense_twin(cell, params)
    X, state = rng.standard_normal((3, 5, 6)), _random_state(cell, 3, rng)
    C = rng.standard_normal((3, 5, 6))

    def loss(unroll, cfg, p):
        return lambda X_, s_: anp.sum(C * unroll(cfg, p, X_, s_)[0]) + anp.sum(unroll(cfg, p, X_, s_)[1][-1])

    for unroll in (rnn.unroll, rnn.unroll_reference):
        H_tt, s_tt = unroll(cell, params, X, state)
        H_dense, s_dense = rnn.unroll_reference(dense, dense_params, X, state)
        np.testing.assert_allclose(H_tt, H_dense, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(s_tt[-1], s_dense[-1], rtol=1e-12, atol=1e-13)
        g_tt = autograd.grad(loss(unroll, cell, params), argnum=(0, 1))(X, state)
        g_dense = autograd.grad(loss(rnn.unroll_reference, dense, dense_params), argnum=(0, 1))(X, state)
        np.testing.assert_allclose(flatten(g_tt)[0], flatten(g_dense)[0], rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_gate_core_puts_gate_g_in_columns_gH_to_gH_plus_H(kind):
    """j = g·H + u exactly: slicing the gate core at g gives gate g's matrix."""
    cell = _cell(kind, "joint_gate_core", input_size=6, hidden_size=8, n_cores=3, rank=2)
    params = cells.init_cell(cell, np.random.default_rng(1))
    W_x, W_h = cells.dense_weights(params)
    H = cell.hidden_size
    for g in range(cell.num_gates):
        for W, (cores,) in ((W_x, params["W_x"]), (W_h, params["W_h"])):
            gate_cores = [cores[0][:, :, g:g + 1, :]] + list(cores[1:])
            np.testing.assert_allclose(W[:, g * H:(g + 1) * H], ttmatrix.full(gate_cores), rtol=1e-13)


def test_naive_stacks_one_matrix_per_gate():
    cell = _cell("lstm", "naive")
    params = cells.init_cell(cell, np.random.default_rng(2))
    W_x, W_h = cells.dense_weights(params)
    for g in range(4):
        np.testing.assert_array_equal(W_x[:, 4 * g:4 * g + 4], ttmatrix.full(params["W_x"][g]))
        np.testing.assert_array_equal(W_h[:, 4 * g:4 * g + 4], ttmatrix.full(params["W_h"][g]))


# ---------------------------------------------------------------- finite differences through BPTT

def _directional_fd_check(f, x, rng, eps=1e-6):
    """grad(f)·v against the central difference (f(x + εv) − f(x − εv)) / 2ε along a random direction v."""
    flat, unflatten = flatten(x)
    v = rng.standard_normal(flat.shape)
    analytic = np.dot(flatten(autograd.grad(f)(x))[0], v)
    numeric = (f(unflatten(flat + eps * v)) - f(unflatten(flat - eps * v))) / (2 * eps)
    assert analytic == pytest.approx(numeric, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kind", KINDS)
def test_finite_differences_through_bptt(kind, layout):
    rng = np.random.default_rng(3)
    cell = _cell(kind, layout)  # I = H = 4, modes (2, 2)
    params = cells.init_cell(cell, rng)
    params = {**params, "b": rng.standard_normal(params["b"].shape)}  # make every gate matter
    X, C = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    loss_params = lambda p: anp.sum(C * anp.tanh(rnn.unroll(cell, p, X)[0]))
    loss_X = lambda X_: anp.sum(C * anp.tanh(rnn.unroll(cell, params, X_)[0]))
    for _ in range(3):
        _directional_fd_check(loss_params, params, rng)
        _directional_fd_check(loss_X, X, rng)


# ---------------------------------------------------------------- fast unroll == readable step, property

@settings(max_examples=30, deadline=None)
@given(kind=st.sampled_from(KINDS), layout=st.sampled_from(LAYOUTS), d=st.integers(1, 3), rank=st.integers(1, 3),
       I=st.integers(1, 6), H=st.sampled_from([2, 3, 4, 6]), T=st.integers(1, 4), B=st.integers(1, 3),
       seed=st.integers(0, 2 ** 16))
def test_fast_unroll_equals_the_readable_step(kind, layout, d, rank, I, H, T, B, seed):
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny random shapes are often prime or over-ranked
        cell = cells.CellConfig(kind, layout, I, H, n_cores=d, rank=rank)
        params = cells.init_cell(cell, rng)
    X = rng.standard_normal((B, T, I))
    H_fast, s_fast = rnn.unroll(cell, params, X)
    H_ref, s_ref = rnn.unroll_reference(cell, params, X)
    np.testing.assert_allclose(H_fast, H_ref, rtol=1e-12, atol=1e-14)
    C = rng.standard_normal(H_fast.shape)
    g_fast = autograd.grad(lambda p: anp.sum(C * rnn.unroll(cell, p, X)[0]))(params)
    g_ref = autograd.grad(lambda p: anp.sum(C * rnn.unroll_reference(cell, p, X)[0]))(params)
    np.testing.assert_allclose(flatten(g_fast)[0], flatten(g_ref)[0], rtol=1e-10, atol=1e-13)


def test_lstm_backward_is_the_vjp_of_lstm_forward():
    """Ā and ∂L/∂c_prev from ``lstm_backward`` against autograd through ``lstm_forward``, for random cotangents."""
    rng = np.random.default_rng(4)
    B, H = 3, 5
    A, c_prev = rng.standard_normal((B, 4 * H)), rng.standard_normal((B, H))
    h_bar, c_bar = rng.standard_normal((B, H)), rng.standard_normal((B, H))

    def loss(A_, c_):
        h, c, _ = cells.lstm_forward(A_, c_)
        return anp.sum(h_bar * h) + anp.sum(c_bar * c)

    _, c, gates = cells.lstm_forward(A, c_prev)
    A_bar, c_prev_bar = cells.lstm_backward(gates, c_prev, c, h_bar, c_bar)
    np.testing.assert_allclose(A_bar, autograd.grad(loss, 0)(A, c_prev), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c_prev_bar, autograd.grad(loss, 1)(A, c_prev), rtol=1e-12, atol=1e-14)


def test_gru_backward_is_the_vjp_of_gru_forward():
    """Āx, Āh and the direct ∂L/∂h_prev from ``gru_backward`` against autograd through ``gru_forward``."""
    rng = np.random.default_rng(5)
    B, H = 3, 5
    Ax, Ah, h_prev = rng.standard_normal((B, 3 * H)), rng.standard_normal((B, 3 * H)), rng.standard_normal((B, H))
    h_bar = rng.standard_normal((B, H))
    loss = lambda Ax_, Ah_, h_: anp.sum(h_bar * cells.gru_forward(Ax_, Ah_, h_)[0])
    _, gates = cells.gru_forward(Ax, Ah, h_prev)
    Ax_bar, Ah_bar, h_prev_bar = cells.gru_backward(gates, Ah[:, 2 * H:], h_prev, h_bar)
    for argnum, mine in enumerate((Ax_bar, Ah_bar, h_prev_bar)):
        np.testing.assert_allclose(mine, autograd.grad(loss, argnum)(Ax, Ah, h_prev), rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- the equations themselves

def test_gru_update_gate_z_keeps_the_state_and_reset_gate_r_gates_the_recurrence():
    """Catches the reference's old r/z swap: with z → 1 the state is kept whatever r does, h' = h."""
    rng = np.random.default_rng(5)
    cell = _cell("gru", "dense")
    H = cell.hidden_size
    params = cells.init_cell(cell, rng)
    x, h = rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    b_keep = np.zeros(3 * H)
    b_keep[H:2 * H] = 40.0  # z = σ(40) = 1 − 4e-18
    (h_new,) = cells.step(cell, {**params, "b": b_keep}, x, (h,))
    np.testing.assert_allclose(h_new, h, atol=1e-12)
    b_new = np.zeros(3 * H)
    b_new[H:2 * H] = -40.0  # z = 0: h' = n = tanh(x W_in + r ⊙ (h W_hn))
    b_new[:H] = -40.0  # r = 0: the recurrent term vanishes from n
    (h_new,) = cells.step(cell, {**params, "b": b_new}, x, (h,))
    np.testing.assert_allclose(h_new, np.tanh(x @ _matrix(params["W_x"])[:, 2 * H:]), atol=1e-12)
    assert rnn.unroll(cell, {**params, "b": b_keep}, x[:, None, :], (h,))[1][0] == pytest.approx(h, abs=1e-12)


def test_lstm_step_matches_hand_written_equations():
    rng = np.random.default_rng(6)
    cell = _cell("lstm", "dense")
    params = {**cells.init_cell(cell, rng), "b": rng.standard_normal(16)}
    x, h, c = rng.standard_normal((2, 4)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    A = x @ _matrix(params["W_x"]) + h @ _matrix(params["W_h"]) + params["b"]
    sig = lambda v: 1 / (1 + np.exp(-v))
    i, f, g, o = sig(A[:, :4]), sig(A[:, 4:8]), np.tanh(A[:, 8:12]), sig(A[:, 12:])
    c_new = f * c + i * g
    h_step, c_step = cells.step(cell, params, x, (h, c))
    np.testing.assert_allclose(c_step, c_new, rtol=1e-13)
    np.testing.assert_allclose(h_step, o * np.tanh(c_new), rtol=1e-13)


# ---------------------------------------------------------------- initialisation

@pytest.mark.parametrize("layout", LAYOUTS)
def test_forget_bias_lands_on_the_second_block(layout):
    cell = _cell("lstm", layout, hidden_size=6, input_size=6)
    b0 = cells.init_cell(cell, np.random.default_rng(7))["b"]
    b1 = cells.init_cell(dataclasses.replace(cell, forget_bias=1.0), np.random.default_rng(7))["b"]
    expected = np.zeros(24)
    expected[6:12] = 1.0
    np.testing.assert_allclose(b1 - b0, expected)
    assert np.all(b0 == cells.BIAS_INIT)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kind", KINDS)
def test_float32_stays_float32(kind, layout):
    cell = _cell(kind, layout)
    params = cells.init_cell(cell, np.random.default_rng(8), np.float32)
    assert flatten(params)[0].dtype == np.float32
    X = np.random.default_rng(9).standard_normal((2, 3, 4)).astype(np.float32)
    H_seq, state = rnn.unroll(cell, params, X)
    assert H_seq.dtype == np.float32 and all(s.dtype == np.float32 for s in state)
    grads = autograd.grad(lambda p: anp.sum(rnn.unroll(cell, p, X)[0]))(params)
    assert flatten(grads)[0].dtype == np.float32


def _stacked_variance_check(cell, draws, fan_out):
    """Empirical Var of the full stacked W_x over independent draws vs 2/(fan_in + fan_out).

    TT entries are correlated within one draw, so the tolerance is 4 standard errors of the mean of the
    per-draw mean squares, estimated from their spread over the draws.
    """
    rng = np.random.default_rng(10)
    mean_squares = np.array([np.mean(cells.dense_weights(cells.init_cell(cell, rng))[0] ** 2)
                             for _ in range(draws)])
    target = 2.0 / (cell.input_size + fan_out)
    stderr = mean_squares.std(ddof=1) / math.sqrt(draws)
    assert abs(mean_squares.mean() - target) < 4 * stderr
    assert stderr < 0.1 * target  # the test has power: the estimate is within 10 % of the target


def test_dense_glorot_variance_over_the_stacked_matrix():
    cell = cells.CellConfig("lstm", "dense", 28, 64)
    W_x = _matrix(cells.init_cell(cell, np.random.default_rng(11))["W_x"])
    target, n = 2.0 / (28 + 4 * 64), W_x.size
    # iid normal: Var(mean of squares) = 2σ⁴/n
    assert abs(np.mean(W_x ** 2) - target) < 4 * target * math.sqrt(2.0 / n)


@pytest.mark.parametrize("layout, d, R", [("joint", 2, 2), ("joint", 3, 4), ("joint_gate_core", 2, 3),
                                          ("naive", 3, 2), ("lowrank", 2, 1), ("lowrank", 2, 5)])
def test_tt_glorot_variance_over_the_stacked_matrix(layout, d, R):
    cell = cells.CellConfig("lstm", layout, 12, 16, n_cores=d, rank=R)
    _stacked_variance_check(cell, draws=200, fan_out=16 if layout == "naive" else 64)


def test_reference_init_is_pytorch_uniform_for_dense():
    cell = cells.CellConfig("lstm", "dense", 9, 16, init="reference")
    p = cells.init_cell(cell, np.random.default_rng(12))
    W_x, W_h = _matrix(p["W_x"]), _matrix(p["W_h"])
    for W, bound in ((W_x, 1 / 3), (W_h, 1 / 4), (p["b"], 1 / 4)):
        assert np.abs(W).max() <= bound and np.abs(W).max() > 0.9 * bound
    # U(±a) has variance a²/3
    assert np.var(W_h) == pytest.approx((1 / 4) ** 2 / 3, rel=4 * math.sqrt(0.8 / W_h.size))


@pytest.mark.parametrize("layout", ["naive", "joint", "joint_gate_core", "lowrank"])
def test_reference_init_of_tt_layouts_is_their_glorot(layout):
    cell = _cell("lstm", layout, forget_bias=1.0)
    glorot = cells.init_cell(cell, np.random.default_rng(14))
    reference = cells.init_cell(dataclasses.replace(cell, init="reference"), np.random.default_rng(14))
    np.testing.assert_array_equal(flatten(glorot)[0], flatten(reference)[0])


# ---------------------------------------------------------------- configs: shapes, warnings, errors

def test_modes_follow_the_paper():
    cell = cells.CellConfig("lstm", "joint", 28, 256, n_cores=3, rank=4)
    assert cell.weight_shapes == {"W_x": [((2, 2, 7), (8, 8, 16))], "W_h": [((4, 8, 8), (8, 8, 16))]}
    assert cell.gate_digits == 1
    gate = cells.CellConfig("gru", "joint_gate_core", 28, 256, n_cores=2)
    assert gate.weight_shapes["W_h"] == [((1, 16, 16), (3, 16, 16))]
    naive = cells.CellConfig("lstm", "naive", 28, 256, n_cores=4, in_modes=(1, 4, 7, 1))
    assert naive.weight_shapes["W_x"] == [((1, 4, 7, 1), (4, 4, 4, 4))] * 4
    dense = cells.CellConfig("gru", "dense", 28, 256)
    assert dense.weight_shapes == {"W_x": [((28,), (768,))], "W_h": [((256,), (768,))]}


@pytest.mark.parametrize("layout, blocks, cores", [("dense", 1, 1), ("naive", 4, 3), ("joint", 1, 3),
                                                   ("joint_gate_core", 1, 4), ("lowrank", 1, 2)])
def test_every_layout_is_tt_matrix_blocks(layout, blocks, cores):
    """One representation: W_x and W_h are lists of blocks, each a list of 4-D cores (docs/method.md §5)."""
    cell = cells.CellConfig("lstm", layout, 8, 8, n_cores=3, rank=2, out_modes=(4, 2, 4) if layout == "joint" else None)
    params = cells.init_cell(cell, np.random.default_rng(0))
    for name in ("W_x", "W_h"):
        assert len(params[name]) == blocks and all(len(block) == cores for block in params[name])
        assert all(G.ndim == 4 for block in params[name] for G in block)
        assert cells.dense_weights(params)[name == "W_h"].shape == (8, 32)


def test_lowrank_is_U_times_V_with_one_rank_for_all_gates():
    """W = U V: one block of two cores (1, M, 1, R) and (R, 1, G·H, 1) per weight, the matrices multiplied."""
    cell = cells.CellConfig("lstm", "lowrank", 28, 256, rank=8)
    assert cell.weight_shapes == {"W_x": [((28, 1), (1, 1024))], "W_h": [((256, 1), (1, 1024))]}
    params = cells.init_cell(cell, np.random.default_rng(4))
    (U_x, V_x), = params["W_x"]
    assert U_x.shape == (1, 28, 1, 8) and V_x.shape == (8, 1, 1024, 1)
    W_x, W_h = cells.dense_weights(params)
    np.testing.assert_allclose(W_x, U_x[0, :, 0, :] @ V_x[:, 0, :, 0], rtol=1e-13)
    assert np.linalg.matrix_rank(W_x) == 8 and np.linalg.matrix_rank(W_h) == 8


def test_lowrank_ignores_n_cores():
    """n_cores does not apply to the low-rank layout (always U and V): any value gives the same cell."""
    two, three = (cells.CellConfig("gru", "lowrank", 6, 8, n_cores=d, rank=3) for d in (2, 3))
    assert two.weight_shapes == three.weight_shapes
    p2, p3 = (cells.init_cell(c, np.random.default_rng(5)) for c in (two, three))
    np.testing.assert_array_equal(flatten(p2)[0], flatten(p3)[0])


def test_misaligned_joint_layout_warns():
    with pytest.warns(cells.GateAlignmentWarning, match=r"\(6, 8, 8, 8\).*leading 2 column modes"):
        cell = cells.CellConfig("lstm", "joint", 40, 768, n_cores=4)
    assert cell.gate_digits == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cells.CellConfig("lstm", "joint", 28, 256, n_cores=4)
        cells.CellConfig("lstm", "joint_gate_core", 40, 768, n_cores=4)
    assert cells.gate_digits((8, 8, 16), 256) == 1 and cells.gate_digits((8, 8, 12), 256) == 3


def test_over_large_rank_warns_but_is_kept():
    cell = cells.CellConfig("lstm", "joint_gate_core", 4, 4, rank=6)  # the gate core bond is useful up to 4
    with pytest.warns(RankWarning, match="requested 6 > useful 4"):
        params = cells.init_cell(cell, np.random.default_rng(13))
    assert params["W_x"][0][0].shape == (1, 1, 4, 6)


@pytest.mark.parametrize("kwargs, match", [
    (dict(kind="rnn"), "kind must be one of"),
    (dict(layout="folded"), "layout must be one of"),
    (dict(init="xavier"), "init must be one of"),
    (dict(rank=0), "rank must be a positive integer, got 0"),
    (dict(rank=2.5), "rank must be a positive integer"),
    (dict(n_cores=0), "n_cores must be a positive integer"),
    (dict(hidden_size=-3), "hidden_size must be a positive integer"),
    (dict(forget_bias=float("nan")), "forget_bias must be a finite number"),
    (dict(kind="gru", forget_bias=1.0), "forget_bias applies to the LSTM only"),
    (dict(in_modes=(2, 3)), r"in_modes=\(2, 3\) multiply to 6, expected 4"),
    (dict(in_modes=(1, 2, 2)), r"in_modes=\(1, 2, 2\) has 3 modes but n_cores=2"),
    (dict(hidden_modes=(4,)), r"has 1 modes but n_cores=2"),
    (dict(out_modes=(2, 8), layout="naive"), "out_modes .* joint layout only"),
    (dict(out_modes=(2, 4)), r"out_modes=\(2, 4\) multiply to 8, expected 16"),
    (dict(in_modes=(2, 2), layout="dense"), "TT layouts only"),
    (dict(hidden_modes=(2, 2), layout="lowrank"), "TT layouts only .* layout 'lowrank'"),
    (dict(in_modes=(2, 0)), "in_modes must be a positive integer"),
])
def test_bad_configs_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        cells.CellConfig(**{"kind": "lstm", "layout": "joint", **TINY, **kwargs})


def test_modes_must_be_a_sequence():
    with pytest.raises(TypeError, match="in_modes must be a tuple of positive integers, got 4"):
        cells.CellConfig("lstm", "joint", 4, 4, in_modes=4)
    assert cells.CellConfig("lstm", "joint", 4, 4, in_modes=[1, 4]).in_modes == (1, 4)


def test_bad_init_arguments_raise():
    cell = _cell("lstm", "joint")
    with pytest.raises(ValueError, match="dtype must be float32 or float64, got int64"):
        cells.init_cell(cell, np.random.default_rng(0), np.int64)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        cells.init_cell(cell, 0)
