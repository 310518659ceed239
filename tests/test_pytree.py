"""Tests for ttrnn_np.pytree: mapping, flattening with paths, norms and counts over nested containers."""
import json

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from hypothesis import given, settings
from hypothesis import strategies as st

from ttrnn_np.pytree import (global_norm, num_params, tree_flatten, tree_leaves, tree_map, tree_paths,
                             tree_unflatten, tree_zeros_like)

SETTINGS = settings(max_examples=40, deadline=None)


def make_leaf(seed, shape, dtype):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)  # shape


leaves = st.builds(make_leaf, st.integers(0, 2**16), st.lists(st.integers(1, 3), max_size=3).map(tuple),
                   st.sampled_from([np.float64, np.float32]))
trees = st.recursive(
    leaves,
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.lists(kids, max_size=3).map(tuple),
                           st.dictionaries(st.text("abcWxh_", min_size=1, max_size=3), kids, max_size=3)),
    max_leaves=8)


def example_tree():
    rng = np.random.default_rng(0)
    return {"cell": {"W_x": [rng.standard_normal((1, 2, 3, 2)), rng.standard_normal((2, 2, 3, 1))],
                     "b": rng.standard_normal(6)},
            "head": (rng.standard_normal((6, 2)), np.float32(0.5))}


def assert_same_tree(a, b):
    """Same structure (types included) and identical leaves."""
    assert type(a) is type(b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_same_tree(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same_tree(x, y)
    else:
        np.testing.assert_array_equal(a, b)


def test_flatten_paths_and_structure():
    tree = example_tree()
    flat, treedef = tree_flatten(tree)
    assert list(flat) == ["cell/W_x/0", "cell/W_x/1", "cell/b", "head/0", "head/1"]
    assert flat["cell/W_x/1"] is tree["cell"]["W_x"][1]
    assert treedef == {"dict": {"cell": {"dict": {"W_x": {"list": [None, None]}, "b": None}},
                                "head": {"tuple": [None, None]}}}
    assert tree_paths(treedef) == list(flat)
    assert_same_tree(tree_unflatten(json.loads(json.dumps(treedef)), flat), tree)


def test_root_leaf_has_empty_path():
    x = np.arange(3.0)  # (3,)
    flat, treedef = tree_flatten(x)
    assert list(flat) == [""] and treedef is None
    assert tree_unflatten(treedef, flat) is x


@SETTINGS
@given(trees)
def test_flatten_unflatten_round_trip(tree):
    flat, treedef = tree_flatten(tree)
    assert tree_paths(treedef) == list(flat)
    assert all(a is b for a, b in zip(tree_leaves(tree), flat.values()))
    assert len(tree_leaves(tree)) == len(flat)
    assert_same_tree(tree_unflatten(json.loads(json.dumps(treedef)), dict(reversed(flat.items()))), tree)


@SETTINGS
@given(trees)
def test_norm_count_and_zeros_against_concatenation(tree):
    parts = [np.ravel(x).astype(np.float64) for x in tree_leaves(tree)]
    dense = np.concatenate(parts) if parts else np.zeros(0)  # (P,)
    assert num_params(tree) == dense.size
    assert global_norm(tree) == pytest.approx(np.linalg.norm(dense), rel=1e-12, abs=0)
    zeros = tree_zeros_like(tree)
    assert tree_flatten(zeros)[1] == tree_flatten(tree)[1]
    for z, x in zip(tree_leaves(zeros), tree_leaves(tree)):
        assert z.shape == np.shape(x) and z.dtype == x.dtype and not np.any(z)


@SETTINGS
@given(trees, st.integers(0, 2**16))
def test_tree_map_is_leafwise(tree, seed):
    other = tree_map(lambda x: make_leaf(seed, np.shape(x), np.float64), tree)
    out = tree_map(lambda x, y, z: x * y - z, tree, other, tree)
    assert tree_flatten(out)[1] == tree_flatten(tree)[1]
    for o, x, y in zip(tree_leaves(out), tree_leaves(tree), tree_leaves(other)):
        np.testing.assert_allclose(o, x * y - x)


def test_tree_map_pairs_dict_entries_by_key():
    a = {"x": np.ones(2), "y": np.zeros(3)}
    b = {"y": np.full(3, 2.0), "x": np.full(2, 5.0)}
    out = tree_map(lambda p, q: p + q, a, b)
    assert list(out) == ["x", "y"]
    np.testing.assert_array_equal(out["x"], np.full(2, 6.0))
    np.testing.assert_array_equal(out["y"], np.full(3, 2.0))


def test_autograd_gradient_has_the_parameter_structure():
    params = example_tree()

    def f(p):
        return anp.sum(p["cell"]["W_x"][0] ** 2) + anp.sum(p["cell"]["b"] * 3.0) + p["head"][1]

    g = grad(f)(params)
    assert tree_flatten(g)[1] == tree_flatten(params)[1]
    np.testing.assert_allclose(g["cell"]["W_x"][0], 2 * params["cell"]["W_x"][0])
    np.testing.assert_allclose(g["cell"]["b"], np.full(6, 3.0))
    assert not np.any(g["cell"]["W_x"][1])
    stepped = tree_map(lambda p, d: p - 0.1 * d, params, g)
    np.testing.assert_allclose(stepped["cell"]["b"], params["cell"]["b"] - 0.3)


@pytest.mark.parametrize("a, b, match", [
    ({"a": 1.0, "b": 2.0}, {"a": 1.0, "c": 2.0},
     r"at '<root>': dict with keys \['a', 'b'\] vs dict with keys \['a', 'c'\]"),
    ({"W": [1.0, 2.0]}, {"W": [1.0]}, r"at 'W': list of 2 vs list of 1"),
    ({"W": [1.0, 2.0]}, {"W": (1.0, 2.0)}, r"at 'W': list of 2 vs tuple of 2"),
    ([np.ones(3), [1.0]], [np.ones(3), np.ones(1)], r"at '1': list of 1 vs leaf ndarray of shape \(1,\)"),
])
def test_tree_map_structure_mismatch_names_both(a, b, match):
    with pytest.raises(ValueError, match="tree structures differ " + match):
        tree_map(lambda x, y: x, a, b)


def test_flatten_rejects_keys_that_cannot_be_paths():
    with pytest.raises(ValueError, match=r"string dict keys without '/', got 'a/b' at 'cell'"):
        tree_flatten({"cell": {"a/b": 1.0}})
    with pytest.raises(ValueError, match=r"string dict keys without '/', got 3 at '<root>'"):
        tree_flatten({3: 1.0})


def test_unflatten_errors():
    flat, treedef = tree_flatten(example_tree())
    with pytest.raises(ValueError, match=r"missing \['cell/b'\], unexpected \[\]"):
        tree_unflatten(treedef, {k: v for k, v in flat.items() if k != "cell/b"})
    with pytest.raises(ValueError, match=r"missing \[\], unexpected \['extra'\]"):
        tree_unflatten(treedef, {**flat, "extra": 1.0})
    with pytest.raises(ValueError, match=r"not a tree structure at 'cell': expected None"):
        tree_unflatten({"dict": {"cell": {"set": [None]}}}, {"cell/0": 1.0})
    with pytest.raises(ValueError, match=r"not a tree structure at '<root>'"):
        tree_paths({"list": {"a": None}})
