"""Tests for ttrnn_np.checkpoint: exact round trips of nested trees, atomic writes, and every error path."""
import dataclasses
import hashlib
import io
import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ttrnn_np.checkpoint import FORMAT_VERSION, checkpoint_files, jsonable, load_checkpoint, save_checkpoint
from ttrnn_np.errors import DataError, OutputError
from ttrnn_np.optim import adam_init, adam_step
from ttrnn_np.pytree import tree_flatten, tree_leaves


@dataclasses.dataclass(frozen=True)
class Config:
    modes: tuple
    rank: int


def model_params(seed=0):
    """A TT-cell-like tree: dicts of lists of cores, float32 and float64, a tuple and an integer leaf."""
    rng = np.random.default_rng(seed)
    return {"cell": {"W_x": [rng.normal(size=(1, 2, 4, 2)), rng.normal(size=(2, 2, 4, 1))],
                     "W_h": [rng.normal(size=(1, 2, 4, 2)).astype(np.float32),
                             rng.normal(size=(2, 2, 4, 1)).astype(np.float32)],
                     "b": np.full(16, 1e-3)},
            "head": (rng.normal(size=(4, 3)), np.arange(3, dtype=np.int32)),
            "scale": np.float64(10.0)}


def assert_tree_equal(loaded, saved):
    """Same structure, bit-identical leaves with the same dtypes (scalars come back as 0-d arrays)."""
    assert tree_flatten(loaded)[1] == tree_flatten(saved)[1]
    for a, b in zip(tree_leaves(loaded), tree_leaves(saved)):
        assert isinstance(a, np.ndarray) and a.dtype == np.asarray(b).dtype and a.shape == np.shape(b)
        np.testing.assert_array_equal(a, b)


def test_round_trip_with_optimizer_state_and_meta(tmp_path):
    params = model_params()
    trained = {"cell": params["cell"]}  # the float leaves
    _, opt_state = adam_step(trained, {"cell": model_params(1)["cell"]}, adam_init(trained), lr=0.1)
    meta = {"config": Config(modes=(4, 7), rank=2), "epoch": 3, "metrics": {"val_accuracy": np.float64(0.97)},
            "history": [0.5, 0.25], "rng": np.random.default_rng(1).bit_generator.state}
    npz, js = save_checkpoint(tmp_path / "run" / "best", params, opt_state, meta)
    assert (npz, js) == (str(tmp_path / "run" / "best.npz"), str(tmp_path / "run" / "best.json"))
    loaded_params, loaded_state, loaded_meta = load_checkpoint(tmp_path / "run" / "best")
    assert_tree_equal(loaded_params, params)
    assert_tree_equal(loaded_state, opt_state)
    assert int(loaded_state["t"]) == 1
    assert loaded_meta == {"config": {"modes": [4, 7], "rank": 2}, "epoch": 3, "metrics": {"val_accuracy": 0.97},
                           "history": [0.5, 0.25], "rng": meta["rng"]}
    assert loaded_meta == jsonable(meta)
    with np.load(npz, allow_pickle=False) as z:
        assert "params/cell/W_x/0" in z.files and "opt_state/m/cell/W_h/1" in z.files


def test_without_optimizer_state_and_suffixes(tmp_path):
    params = model_params()
    save_checkpoint(str(tmp_path / "last.npz"), params)
    assert sorted(os.listdir(tmp_path)) == ["last.json", "last.npz"]
    loaded, opt_state, meta = load_checkpoint(tmp_path / "last.json")
    assert_tree_equal(loaded, params)
    assert opt_state is None and meta == {}
    assert checkpoint_files("a/b") == checkpoint_files("a/b.npz") == ("a/b.npz", "a/b.json")


leaf = st.builds(lambda seed, shape, dtype: np.random.default_rng(seed).normal(size=shape).astype(dtype),
                 st.integers(0, 2**16), st.lists(st.integers(0, 3), max_size=3).map(tuple),
                 st.sampled_from([np.float64, np.float32, np.int64]))
trees = st.recursive(leaf, lambda kids: st.one_of(st.lists(kids, max_size=3), st.lists(kids, max_size=3).map(tuple),
                                                 st.dictionaries(st.sampled_from(["W", "b", "cell", "x_1"]), kids,
                                                                 max_size=3)), max_leaves=6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(trees)
def test_random_trees_round_trip(tmp_path, tree):
    save_checkpoint(tmp_path / "ck", tree, opt_state=[tree])
    loaded, opt_state, _ = load_checkpoint(tmp_path / "ck")
    assert_tree_equal(loaded, tree)
    assert_tree_equal(opt_state, [tree])


def test_overwrite_is_atomic_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    save_checkpoint(tmp_path / "ck", model_params(0), meta={"epoch": 1})
    before = {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)}

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path / "ck", model_params(1), meta={"epoch": 2})
    monkeypatch.undo()
    assert {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)} == before
    assert load_checkpoint(tmp_path / "ck")[2] == {"epoch": 1}


def test_save_interrupted_between_the_two_files_is_detected(tmp_path, monkeypatch):
    save_checkpoint(tmp_path / "ck", model_params(0), meta={"epoch": 1})
    real_replace, calls = os.replace, []

    def replace_npz_only(src, dst):
        calls.append(dst)
        if str(dst).endswith(".json"):
            raise OSError("killed")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_npz_only)
    with pytest.raises(OSError, match="killed"):
        save_checkpoint(tmp_path / "ck", model_params(1), meta={"epoch": 2})
    monkeypatch.undo()
    assert [os.path.basename(c) for c in calls] == ["ck.npz", "ck.json"]  # npz first, json last
    assert sorted(os.listdir(tmp_path)) == ["ck.json", "ck.npz"]
    with pytest.raises(ValueError, match="come from different saves"):
        load_checkpoint(tmp_path / "ck")


def test_bad_meta_or_leaves_write_nothing(tmp_path):
    with pytest.raises(TypeError, match="checkpoint meta must be JSON-serializable, got a object"):
        save_checkpoint(tmp_path / "ck", model_params(), meta={"fn": object()})
    with pytest.raises(TypeError, match="checkpoint leaf 'params/w' must be a numeric array, got str"):
        save_checkpoint(tmp_path / "ck", {"w": "text"})
    with pytest.raises(ValueError, match="string dict keys without '/'"):
        save_checkpoint(tmp_path / "ck", {"a/b": np.ones(2)})
    assert os.listdir(tmp_path) == []


def test_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"checkpoint file .*nothing.json not found \(a checkpoint is the pair"):
        load_checkpoint(tmp_path / "nothing")
    save_checkpoint(tmp_path / "ck", model_params())
    os.remove(tmp_path / "ck.npz")
    with pytest.raises(FileNotFoundError, match=r"checkpoint file .*ck.npz not found"):
        load_checkpoint(tmp_path / "ck")


def rewrite_header(path, **changes):
    header = json.loads(path.read_text())
    header.update(changes)
    path.write_text(json.dumps(header))


def test_format_errors(tmp_path):
    save_checkpoint(tmp_path / "ck", model_params())
    rewrite_header(tmp_path / "ck.json", format_version=FORMAT_VERSION + 1)
    message = f"has checkpoint format version {FORMAT_VERSION + 1}; this ttrnn_np reads version {FORMAT_VERSION}"
    with pytest.raises(ValueError, match=message):
        load_checkpoint(tmp_path / "ck")
    rewrite_header(tmp_path / "ck.json", format="something-else")
    with pytest.raises(ValueError, match=r"not a ttrnn_np checkpoint: expected format 'ttrnn_np\.checkpoint', got 'something-else'"):
        load_checkpoint(tmp_path / "ck")
    (tmp_path / "ck.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="is not a ttrnn_np checkpoint: expected format .*, got 'list'"):
        load_checkpoint(tmp_path / "ck")


def test_corrupt_files(tmp_path):
    save_checkpoint(tmp_path / "ck", model_params())
    good_json = (tmp_path / "ck.json").read_bytes()
    (tmp_path / "ck.json").write_bytes(good_json[: len(good_json) // 2])
    with pytest.raises(ValueError, match="corrupt checkpoint metadata .*ck.json"):
        load_checkpoint(tmp_path / "ck")
    (tmp_path / "ck.json").write_bytes(good_json)
    data = bytearray((tmp_path / "ck.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "ck.npz").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"ck.npz does not match .*ck.json \(SHA-256 differs\)"):
        load_checkpoint(tmp_path / "ck")


def test_npz_from_another_save_is_detected(tmp_path):
    save_checkpoint(tmp_path / "a", model_params(0))
    save_checkpoint(tmp_path / "b", model_params(1))
    os.replace(tmp_path / "b.npz", tmp_path / "a.npz")  # an interrupted save: new npz, old json
    with pytest.raises(ValueError, match="come from different saves"):
        load_checkpoint(tmp_path / "a")


def test_structure_not_matching_the_arrays(tmp_path):
    save_checkpoint(tmp_path / "ck", {"w": np.ones(2)})
    header = json.loads((tmp_path / "ck.json").read_text())
    header["structure"]["dict"]["params"]["dict"]["v"] = None
    (tmp_path / "ck.json").write_text(json.dumps(header))
    with pytest.raises(ValueError, match=r"corrupt checkpoint .*missing \['params/v'\]"):
        load_checkpoint(tmp_path / "ck")
    rewrite_header(tmp_path / "ck.json", meta=None, structure=None)
    with pytest.raises(ValueError, match=r"corrupt checkpoint .*leaves do not match the structure"):
        load_checkpoint(tmp_path / "ck")


def test_pickled_arrays_are_refused_even_with_a_matching_hash(tmp_path):
    """An npz holding an object (pickled) array is never unpickled, although its SHA-256 is the recorded one."""
    save_checkpoint(tmp_path / "ck", {"w": np.ones(2)})
    buffer = io.BytesIO()
    np.savez(buffer, **{"params/w": np.array([{"code": "would run on load"}, None], dtype=object)})
    (tmp_path / "ck.npz").write_bytes(buffer.getvalue())
    rewrite_header(tmp_path / "ck.json", npz_sha256=hashlib.sha256(buffer.getvalue()).hexdigest())
    with pytest.raises(DataError, match=r"corrupt checkpoint .*ck.npz: Object arrays cannot be loaded when "
                                        r"allow_pickle=False"):
        load_checkpoint(tmp_path / "ck")


def test_a_damaged_zip_with_a_matching_hash_is_named(tmp_path):
    save_checkpoint(tmp_path / "ck", model_params())
    damaged = (tmp_path / "ck.npz").read_bytes()[:200]  # a zip cut short, its hash recorded as if it were whole
    (tmp_path / "ck.npz").write_bytes(damaged)
    rewrite_header(tmp_path / "ck.json", npz_sha256=hashlib.sha256(damaged).hexdigest())
    with pytest.raises(DataError, match=r"corrupt checkpoint .*ck.npz: "):
        load_checkpoint(tmp_path / "ck")


def test_files_get_the_usual_permissions_and_a_failed_write_names_the_file(tmp_path, full_disk):
    save_checkpoint(tmp_path / "ck", model_params(0), meta={"epoch": 1})
    umask = os.umask(0)
    os.umask(umask)
    for name in ("ck.npz", "ck.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0o600
    before = {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)}
    with full_disk(), pytest.raises(OutputError, match=r"cannot write .*ck.npz: No space left on device; free some "
                                                      r"disk space"):
        save_checkpoint(tmp_path / "ck", model_params(1), meta={"epoch": 2})
    assert {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)} == before
