"""Compression of a trained model into the joint layout: TT-SVD recovery, the error bounds, the forward pass of the
compressed model, the padding, the head; the unfolding spectra."""
import dataclasses
import warnings

import autograd
import numpy as np
import pytest
from autograd.misc import flatten

from ttrnn_np import cells, compress, init, losses, rnn, sizes, ttmatrix
from ttrnn_np.heads import HeadConfig
from ttrnn_np.shapes import max_ranks

# tiny sizes give joint column modes whose leading mode does not separate the gates; compression does not care
pytestmark = pytest.mark.filterwarnings("ignore::ttrnn_np.cells.GateAlignmentWarning")


def _dense_model_from(cell, params, head=None, rng=None):
    """A dense model (one layer) whose stacked matrices are the full matrices of ``params``, and its params."""
    W_x, W_h = cells.dense_weights(params)  # (I, G·H), (H, G·H)
    dense = dataclasses.replace(cell, layout="dense", in_modes=None, hidden_modes=None, out_modes=None)
    model = rnn.ModelConfig(dense, head=head)
    layer = {"W_x": [[W_x.reshape(1, *W_x.shape, 1)]], "W_h": [[W_h.reshape(1, *W_h.shape, 1)]], "b": params["b"]}
    out = {"layers": [layer]}
    if head is not None:
        out["head"] = rnn.init_model(model, rng)["head"]
    return model, out


def _random_dense(kind, I, H, rng, head=None):
    cell = cells.CellConfig(kind, "dense", I, H)
    model = rnn.ModelConfig(cell, head=head)
    params = rnn.init_model(model, rng)
    params["layers"][0]["b"] = rng.standard_normal(params["layers"][0]["b"].shape)
    return model, params


@pytest.mark.parametrize("kind, d, R", [("lstm", 2, 3), ("lstm", 3, 2), ("gru", 3, 4)])
def test_tt_svd_recovers_a_matrix_of_low_tt_rank(kind, d, R):
    """A dense model whose matrices are exactly joint TT-matrices of rank R compresses back with no error."""
    rng = np.random.default_rng(0)
    joint_cell = cells.CellConfig(kind, "joint", 12, 16, n_cores=d, rank=R)
    model, params = _dense_model_from(joint_cell, cells.init_cell(joint_cell, rng))
    for rank, eps in ((R, None), (None, 1e-10)):
        joint, new, report = compress.compress_model(model, params, d, rank=rank, eps=eps)
        assert joint.cell.layout == "joint" and joint.cell.n_cores == d and joint.cell.rank == R
        assert [row["matrix"] for row in report] == ["W_x", "W_h"]
        for row in report:
            assert row["rel_error"] < 1e-12, row
            assert max(row["tt_ranks"]) <= R
        W_new, W_old = cells.dense_weights(new["layers"][0]), cells.dense_weights(params["layers"][0])
        np.testing.assert_allclose(W_new[0], W_old[0], atol=1e-12)
        np.testing.assert_allclose(W_new[1], W_old[1], atol=1e-12)


@pytest.mark.parametrize("eps", [0.05, 0.3, 0.6])
def test_eps_bound_holds(eps):
    rng = np.random.default_rng(1)
    model, params = _random_dense("lstm", 28, 32, rng)
    W = cells.dense_weights(params["layers"][0])
    joint, new, report = compress.compress_model(model, params, 3, eps=eps)
    W_tt = cells.dense_weights(new["layers"][0])
    for row, dense, approx in zip(report, W, W_tt):
        error = np.linalg.norm(dense - approx) / np.linalg.norm(dense)
        assert error == pytest.approx(row["rel_error"], rel=1e-9)
        assert error <= eps * (1 + 1e-12)
    assert joint.cell.rank == max(max(row["tt_ranks"]) for row in report)
    if eps >= 0.3:  # a Gaussian matrix is hard to compress, but this much error buys ranks below the full ones
        assert all(row["tt_ranks"] < list(max_ranks(row["row_modes"], row["col_modes"])) for row in report)


@pytest.mark.parametrize("d, R", [(2, 3), (3, 2), (3, 5), (4, 2)])
def test_rank_truncation_error_is_bounded_by_the_discarded_singular_values(d, R):
    """‖W − W_TT‖² ≤ Σ_k Σ_{α>R} σ_{k,α}², with equality for d = 2 (the truncated SVD)."""
    rng = np.random.default_rng(2)
    model, params = _random_dense("gru", 16, 16, rng)
    _, new, report = compress.compress_model(model, params, d, rank=R)
    for row, W, W_tt in zip(report, cells.dense_weights(params["layers"][0]), cells.dense_weights(new["layers"][0])):
        spectra = compress.unfolding_spectra(W, row["row_modes"], row["col_modes"])
        tail = sum(np.sum(s[R:] ** 2) for s in spectra)
        error2 = np.linalg.norm(W - W_tt) ** 2
        assert error2 <= tail * (1 + 1e-10)
        if d == 2:
            assert error2 == pytest.approx(tail, rel=1e-10)


@pytest.mark.parametrize("head_layout", [None, "dense", "tt"])
def test_compressed_forward_is_the_dense_forward_with_the_approximated_matrices(head_layout):
    rng = np.random.default_rng(3)
    head = None if head_layout is None else HeadConfig("classify", 6, head_layout)
    model, params = _random_dense("lstm", 8, 12, rng, head)
    joint, new, _ = compress.compress_model(model, params, 2, rank=3)
    assert joint.head == (None if head is None else
                          dataclasses.replace(head, **({"n_cores": 2, "rank": 2} if head_layout == "tt" else {})))
    if head is not None:
        assert new["head"] is params["head"]  # the head is kept as it was
    np.testing.assert_array_equal(new["layers"][0]["b"], params["layers"][0]["b"])
    # the same shapes as a joint model of this rank built from scratch
    scratch = rnn.init_model(joint, rng)
    assert [np.shape(x) for x in flatten_leaves(new)] == [np.shape(x) for x in flatten_leaves(scratch)]
    # the dense twin: the dense model with W replaced by full(W_TT)
    twin_model, twin = _dense_model_from(joint.cell, new["layers"][0], head, rng)
    if head is not None:
        twin["head"] = params["head"]
    X = rng.standard_normal((5, 7, 8))
    np.testing.assert_allclose(rnn.forward(joint, new, X), rnn.forward(twin_model, twin, X), rtol=1e-12, atol=1e-13)


def flatten_leaves(tree):
    """The leaves of a parameter tree in order."""
    if isinstance(tree, dict):
        return [leaf for key in sorted(tree) for leaf in flatten_leaves(tree[key])]
    if isinstance(tree, (list, tuple)):
        return [leaf for item in tree for leaf in flatten_leaves(item)]
    return [tree]


def test_a_bond_keeps_the_rank_it_can_use_and_the_count_is_the_arrays():
    """W_x with a(4) = (2, 2) → a(16) = (4, 4): bond 1 can use at most 8, so rank 10 keeps 8 (no padding)."""
    rng = np.random.default_rng(4)
    model, params = _random_dense("lstm", 4, 4, rng, HeadConfig("classify", 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the joint config's rank is above the useful one
        joint, new, report = compress.compress_model(model, params, 2, rank=10)
        upper = sizes.model_sizes(joint)["parts"]["W_x"]
    assert joint.cell.rank == 10 and report[0]["tt_ranks"] == [1, 8, 1]
    U, V = new["layers"][0]["W_x"][0]
    assert U.shape == (1, 2, 4, 8) and V.shape == (8, 2, 4, 1)
    assert report[0]["params"] == U.size + V.size == 128 < upper == 10 * (8 + 8)
    X, y = rng.standard_normal((3, 5, 4)), rng.integers(0, 3, 3)
    grads = autograd.grad(lambda p: losses.softmax_cross_entropy(rnn.forward(joint, p, X), y))(new)
    assert grads["layers"][0]["W_x"][0][0].shape == U.shape


def test_float32_stays_float32():
    model, params = _random_dense("gru", 6, 8, np.random.default_rng(5))
    params = {"layers": [{k: ([[G.astype(np.float32) for G in b] for b in v] if k != "b" else v.astype(np.float32))
                          for k, v in params["layers"][0].items()}]}
    _, new, _ = compress.compress_model(model, params, 2, rank=2)
    assert all(x.dtype == np.float32 for x in flatten_leaves(new))


def test_compress_cell_is_compress_model_on_one_cell():
    rng = np.random.default_rng(6)
    model, params = _random_dense("lstm", 6, 6, rng)
    cell, cell_params, report = compress.compress_cell(model.cell, params["layers"][0], 3, rank=2)
    joint, new, report_model = compress.compress_model(model, params, 3, rank=2)
    assert cell == joint.cell and report == report_model
    np.testing.assert_array_equal(flatten(cell_params)[0], flatten(new["layers"][0])[0])


@pytest.mark.parametrize("kwargs, match", [(dict(), "give the rank R, the relative error eps, or both"),
                                           (dict(rank=0), "rank must be a positive integer"),
                                           (dict(eps=1.5), r"eps must be a number in \[0, 1\)"),
                                           (dict(rank=2, n_cores=0), "n_cores must be a positive integer")])
def test_bad_targets_raise(kwargs, match):
    model, params = _random_dense("lstm", 4, 4, np.random.default_rng(7))
    with pytest.raises(ValueError, match=match):
        compress.compress_model(model, params, **{"n_cores": 2, **kwargs})


def test_unfolding_spectra_of_a_tt_matrix_have_its_ranks():
    """The k-th unfolding of an exact TT-matrix with ranks (1, 2, 3, 1) has rank r_k; a Gaussian matrix's are full."""
    rng = np.random.default_rng(8)
    row_modes, col_modes = (2, 3, 4), (4, 2, 3)
    W = ttmatrix.full(init.normal(row_modes, col_modes, (1, 2, 3, 1), 1.0, rng))  # (24, 24)
    spectra = compress.unfolding_spectra(W, row_modes, col_modes)
    assert [s.shape for s in spectra] == [(8,), (12,)]  # min(8, 72), min(48, 12)
    for s, r in zip(spectra, (2, 3)):
        assert np.all(np.diff(s) <= 1e-12) and s[r - 1] > 1e-3 * s[0] and np.all(s[r:] < 1e-12 * s[0])
    random = compress.unfolding_spectra(rng.standard_normal((24, 24)), row_modes, col_modes)
    assert all(s[-1] > 1e-3 * s[0] for s in random)
    np.testing.assert_allclose([np.sum(s ** 2) for s in random], np.sum(random[0] ** 2))  # each = ‖W‖_F²
    with pytest.raises(ValueError, match=r"shape \(24, 24\) does not match row modes \(2, 3\)"):
        compress.unfolding_spectra(W, (2, 3), (4, 6))
