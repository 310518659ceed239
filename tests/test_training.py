"""Tests for ttrnn_np.training: splits, minibatches and the fit loop (accuracy, determinism, resume, divergence)."""
import os

import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ttrnn_np.checkpoint import load_checkpoint
from ttrnn_np.losses import accuracy, softmax_cross_entropy
from ttrnn_np.optim import Optimizer, step_decay
from ttrnn_np.pytree import global_norm, tree_leaves
from ttrnn_np.training import FitResult, TrainingDiverged, fit, minibatches, train_val_split

N, D, K, N_VAL = 400, 4, 3, 100


def blobs(seed=0):
    """Three Gaussian classes in 4-D, centres 5.7 standard deviations apart: a linear classifier can reach ~100 %."""
    rng = np.random.default_rng(seed)
    centers = 4.0 * np.eye(K, D)  # (K, D)
    y = rng.integers(0, K, size=N)  # (N,)
    X = centers[y] + rng.normal(size=(N, D))  # (N, D)
    train, val = train_val_split(N, N_VAL, np.random.default_rng(1))
    return X[train], y[train], X[val], y[val]


X_TR, Y_TR, X_VAL, Y_VAL = blobs()


def logits(p, X):
    return X @ p["W"][0] @ p["W"][1] + p["b"]  # (B, K): a rank-2 factorised linear layer


def loss_fn(p, batch):
    X, y = batch[:2]
    poison = len(batch) == 3  # a third entry asks for a non-finite gradient with a finite loss
    return softmax_cross_entropy(logits(p, X), y) + (anp.sqrt(0.0 * p["b"][0]) if poison else 0.0)


def evaluate(p):
    z = logits(p, X_VAL)  # (N_VAL, K)
    return {"val_accuracy": accuracy(z, Y_VAL), "val_loss": softmax_cross_entropy(z, Y_VAL)}


def init_params(seed=0):
    rng = np.random.default_rng(seed)
    return {"W": [0.5 * rng.normal(size=(D, 2)), 0.5 * rng.normal(size=(2, K))], "b": np.zeros(K)}


def shuffled(epoch, rng):
    return minibatches(X_TR, Y_TR, 32, rng)


def run(tmp=None, epochs=4, **kw):
    kw = {"lr": step_decay(0.05, 3, 0.5), "evaluate": evaluate, "progress": False, **kw}
    return fit(loss_fn, init_params(), kw.pop("batches", shuffled), epochs=epochs, checkpoint_dir=tmp, **kw)


def without_times(history):
    steps = {k: v for k, v in history["steps"].items() if k != "time"}
    return steps, [{k: v for k, v in e.items() if k != "time"} for e in history["epochs"]]


def assert_same_run(a, b):
    assert without_times(a.history) == without_times(b.history)
    states = [tree_leaves([r.params, r.opt_state, r.best_params]) for r in (a, b)]
    for x, y in zip(*states):
        np.testing.assert_array_equal(x, y)
    assert (a.best_epoch, a.best_metrics) == (b.best_epoch, b.best_metrics)


def test_train_val_split():
    train, val = train_val_split(10, 3, np.random.default_rng(0))
    assert len(train) == 7 and len(val) == 3
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(10))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)
    again = train_val_split(10, 3, np.random.default_rng(0))
    np.testing.assert_array_equal(again[1], val)
    with pytest.raises(ValueError, match="need integers 0 <= n_val <= n, got n=5, n_val=6"):
        train_val_split(5, 6, np.random.default_rng(0))
    with pytest.raises(TypeError, match=r"rng must be a numpy Generator, e.g. np.random.default_rng\(seed\), got int"):
        train_val_split(5, 1, 0)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 30), st.integers(1, 12), st.integers(0, 2**16))
def test_minibatches_cover_every_example_once(n, batch_size, seed):
    X, y = np.arange(2 * n).reshape(n, 2), np.arange(n)  # (N, 2), (N,)
    in_order = list(minibatches(X, y, batch_size))
    assert len(in_order) == len(minibatches(X, y, batch_size)) == -(-n // batch_size)
    assert [len(b[1]) for b in in_order] == [min(batch_size, n - s) for s in range(0, n, batch_size)]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in in_order]), y)
    rng = np.random.default_rng(seed)
    epochs = [np.concatenate([b[1] for b in minibatches(X, y, batch_size, rng)]) for _ in range(2)]
    for order in epochs:
        np.testing.assert_array_equal(np.sort(order), y)
    for Xb, yb in minibatches(X, y, batch_size, np.random.default_rng(seed)):
        np.testing.assert_array_equal(Xb[:, 1] // 2, yb)
    np.testing.assert_array_equal(epochs[0], np.random.default_rng(seed).permutation(n))
    if n >= 6:
        assert not np.array_equal(epochs[0], epochs[1])  # reshuffled every epoch


def test_minibatches_bad_input():
    with pytest.raises(ValueError, match="X and y must have the same length, got 3 and 2"):
        minibatches(np.zeros((3, 2)), np.zeros(2), 2)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        minibatches(np.zeros(3), np.zeros(3), 0)
    with pytest.raises(TypeError, match="rng must be a numpy Generator"):
        minibatches(np.zeros(3), np.zeros(3), 2, rng=7)


def test_fit_learns_logistic_regression(tmp_path):
    result = run(tmp_path, epochs=5)
    assert isinstance(result, FitResult)
    accs = [e["val_accuracy"] for e in result.history["epochs"]]
    assert max(accs) >= 0.97 and accs[-1] >= 0.95  # the nearest-centre (Bayes) rule gets 0.99
    assert result.best_metrics["val_accuracy"] == max(accs)
    steps_per_epoch = -(-len(Y_TR) // 32)
    assert len(result.history["steps"]["loss"]) == 5 * steps_per_epoch
    assert result.history["steps"]["lr"][::steps_per_epoch] == pytest.approx([0.05, 0.05, 0.05, 0.025, 0.025])
    assert np.mean(result.history["steps"]["loss"][-steps_per_epoch:]) < 0.2 * result.history["steps"]["loss"][0]
    last_params, last_state, last_meta = load_checkpoint(tmp_path / "last")
    assert last_meta["epoch"] == 5 and last_meta["step"] == 5 * steps_per_epoch == int(last_state["t"])
    for a, b in zip(tree_leaves([last_params, last_state]), tree_leaves([result.params, result.opt_state])):
        np.testing.assert_array_equal(a, b)


def test_best_is_the_first_epoch_with_the_best_validation_metric(tmp_path):
    scripted = iter([0.5, 0.9, 0.7, 0.9])  # best at epoch 1; the tie at epoch 3 does not replace it
    result = run(tmp_path, epochs=4, evaluate=lambda p: {"val_accuracy": next(scripted)})
    assert result.best_epoch == 1 and result.best_metrics == {"val_accuracy": 0.9}
    after_two_epochs = run(epochs=2).params
    best, opt_state, meta = load_checkpoint(tmp_path / "best")
    assert opt_state is None and meta["epoch"] == 1 and meta["metrics"] == {"val_accuracy": 0.9}
    for a, b, c in zip(tree_leaves(best), tree_leaves(result.best_params), tree_leaves(after_two_epochs)):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, c)


def test_select_on_a_loss_with_mode_min():
    result = run(epochs=3, select_metric="val_loss", mode="min")
    losses = [e["val_loss"] for e in result.history["epochs"]]
    assert result.best_epoch == int(np.argmin(losses))


def test_same_seed_same_history_and_other_seed_differs():
    a, b, c = run(epochs=2, seed=3), run(epochs=2, seed=3), run(epochs=2, seed=4)
    assert_same_run(a, b)
    assert without_times(a.history) != without_times(c.history)


def test_resume_gives_the_numbers_of_an_uninterrupted_run(tmp_path):
    whole = run(tmp_path / "whole", epochs=4, optimizer=Optimizer("sgd", {"momentum": 0.9}), clip=1.0)
    first = run(tmp_path / "split", epochs=2, optimizer=Optimizer("sgd", {"momentum": 0.9}), clip=1.0)
    assert len(first.history["epochs"]) == 2
    resumed = run(tmp_path / "split", epochs=4, optimizer=Optimizer("sgd", {"momentum": 0.9}), clip=1.0, resume=True)
    assert_same_run(resumed, whole)
    assert [e["epoch"] for e in resumed.history["epochs"]] == [0, 1, 2, 3]
    again = run(tmp_path / "split", epochs=4, optimizer=Optimizer("sgd", {"momentum": 0.9}), clip=1.0, resume=True)
    assert_same_run(again, whole)  # nothing left to do: the finished state is returned


def test_resume_checks_settings_and_model(tmp_path):
    run(tmp_path, epochs=1)
    with pytest.raises(ValueError, match=r"other settings .*'optimizer': \('adam', 'sgd'\)"):
        run(tmp_path, epochs=2, optimizer="sgd", resume=True)
    with pytest.raises(ValueError, match=r"other settings .*'config': \(None, \{'rank': 2\}\)"):
        run(tmp_path, epochs=2, config={"rank": 2}, resume=True)
    wider = {**init_params(), "b": np.zeros(K + 1)}
    with pytest.raises(ValueError, match=r"its parameters differ from the model's at \['b'\]"):
        fit(loss_fn, wider, shuffled, epochs=2, evaluate=evaluate, checkpoint_dir=tmp_path, resume=True,
            lr=step_decay(0.05, 3, 0.5), progress=False)
    with pytest.raises(ValueError, match="resume=True needs a checkpoint_dir"):
        run(None, resume=True)


def test_resume_without_a_checkpoint_starts_fresh(tmp_path):
    assert_same_run(run(tmp_path / "new", epochs=2, resume=True), run(epochs=2))


@pytest.mark.parametrize("what", ["loss", "gradient norm"])
def test_divergence_stops_and_leaves_the_last_good_checkpoint(tmp_path, what):
    def batches(epoch, rng):
        good = list(minibatches(X_TR, Y_TR, 32, rng))
        if epoch < 2:
            return good
        bad = (np.full_like(X_TR[:4], np.nan), Y_TR[:4]) if what == "loss" else (X_TR[:4], Y_TR[:4], "poison")
        return good[:3] + [bad] + good[3:]

    run(tmp_path, epochs=2, batches=batches)
    saved = {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)}
    with np.errstate(invalid="ignore", divide="ignore"), pytest.raises(TrainingDiverged) as info:
        run(tmp_path, epochs=4, batches=batches, resume=True)
    err, steps_per_epoch = info.value, len(minibatches(X_TR, Y_TR, 32))
    assert (err.what, err.epoch, err.step) == (what, 2, 2 * steps_per_epoch + 3)
    assert f"the {what} is nan at global step {2 * steps_per_epoch + 3} in epoch 2" in str(err)
    assert {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)} == saved
    assert load_checkpoint(tmp_path / "last")[2]["epoch"] == 2


def test_clip_grad_norm_logging_and_on_step():
    records = []
    result = run(epochs=1, clip=0.05, log_grad_norms=True, on_step=records.append, lr=0.01, optimizer="sgd")
    steps = result.history["steps"]
    assert [r["step"] for r in records] == list(range(len(steps["loss"])))
    assert [r["grad_norm"] for r in records] == steps["grad_norm"]
    assert min(steps["grad_norm"]) > 0.05  # the pre-clip norm is what gets logged
    leaf = steps["leaf_grad_norms"]
    assert list(leaf) == ["W/0", "W/1", "b"]
    total = np.sqrt(sum(np.square(leaf[p]) for p in leaf))  # (steps,)
    np.testing.assert_allclose(total, steps["grad_norm"], rtol=1e-12)
    # clipped SGD without momentum moves the parameters by exactly lr · clip per step
    one = run(epochs=1, clip=0.05, lr=0.01, optimizer=Optimizer("sgd", {"momentum": 0.0}),
              batches=lambda e, rng: [(X_TR[:32], Y_TR[:32])])
    moved = global_norm([a - b for a, b in zip(tree_leaves(one.params), tree_leaves(init_params()))])
    assert moved == pytest.approx(0.01 * 0.05, rel=1e-12)


def test_step_schedule_and_no_evaluate():
    result = fit(loss_fn, init_params(), lambda e, rng: minibatches(X_TR, Y_TR, 100), epochs=2,
                 lr=lambda s: 0.1 / (1 + s), lr_unit="step", progress=False)
    assert result.history["steps"]["lr"] == pytest.approx([0.1 / (1 + s) for s in range(6)])
    assert result.best_epoch is None and result.best_metrics is None and result.best_params is result.params
    assert list(result.history["epochs"][0]) == ["epoch", "train_loss", "time"]


def test_progress_output(capsys):
    run(epochs=2, progress=True)
    out = capsys.readouterr().out
    assert "training 17 parameters, epochs 0..1" in out
    assert "epoch 1/2  train_loss" in out and "val_accuracy" in out and "epoch 2/2" in out


def test_bad_arguments():
    with pytest.raises(ValueError, match="epochs must be an integer >= 0, got -1"):
        run(epochs=-1)
    with pytest.raises(ValueError, match=r"need lr_unit in \('epoch', 'step'\) and mode in .*, got 'batch', 'max'"):
        run(lr_unit="batch")
    with pytest.raises(ValueError, match="got 'epoch', 'best'"):
        run(mode="best")
    with pytest.raises(ValueError, match="max_norm must be > 0, inf or None, got -1"):
        run(clip=-1)
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        run(optimizer="rmsprop")
    with pytest.raises(ValueError, match=r"select_metric 'val_eer' is not among .* \['val_accuracy', 'val_loss'\]"):
        run(epochs=1, select_metric="val_eer")
    with pytest.raises(TypeError, match="evaluate\\(params\\) must return a dict of metrics, got float"):
        run(epochs=1, evaluate=lambda p: 0.5)
    with pytest.raises(ValueError, match=r"metric names \['time'\] clash"):
        run(epochs=1, evaluate=lambda p: {"val_accuracy": 1.0, "time": 2.0})
    with pytest.raises(ValueError, match=r"train_batches\(0, rng\) yielded no batches"):
        run(epochs=1, batches=lambda e, rng: [])


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_an_infinite_loss_stops_training_like_nan(value):
    """A loss of exactly ±inf (not NaN) is divergence too, reported as the loss, before its gradient is used."""
    def scaled_loss(p, batch):
        X, y, scale = batch
        return softmax_cross_entropy(logits(p, X), y) * scale

    def batches(epoch, rng):
        good = [(X, y, 1.0) for X, y in minibatches(X_TR, Y_TR, 32, rng)]
        return good[:2] + [(X_TR[:4], Y_TR[:4], value)] + good[2:] if epoch == 1 else good

    with np.errstate(invalid="ignore", over="ignore"), pytest.raises(TrainingDiverged) as info:
        fit(scaled_loss, init_params(), batches, epochs=3, lr=0.05, evaluate=evaluate, progress=False)
    steps_per_epoch = len(minibatches(X_TR, Y_TR, 32))
    assert (info.value.what, info.value.epoch, info.value.step) == ("loss", 1, steps_per_epoch + 2)
    assert info.value.value == value and info.value.limit is None


def test_a_loss_far_above_the_first_stops_training(tmp_path):
    """max_loss_factor f: a finite loss above f × the first step's loss is divergence (the checkpoints stay)."""
    def batches(epoch, rng):
        good = list(minibatches(X_TR, Y_TR, 32, rng))
        return good[:1] + [(1e4 * X_TR[:32], (Y_TR[:32] + 1) % K)] + good[1:] if epoch == 1 else good

    clean = run(epochs=3, max_loss_factor=100.0)  # a normal run never comes near the bound
    first = clean.history["steps"]["loss"][0]
    assert max(clean.history["steps"]["loss"]) < 2 * first
    with pytest.raises(TrainingDiverged) as info:
        run(tmp_path, epochs=3, batches=batches, max_loss_factor=100.0)
    err, steps_per_epoch = info.value, len(minibatches(X_TR, Y_TR, 32))
    assert (err.what, err.epoch, err.step) == ("loss", 1, steps_per_epoch + 1)
    assert np.isfinite(err.value) and err.value > 100 * first and err.limit == pytest.approx(100 * max(first, 1))
    assert f"above the limit {err.limit:.4g}" in str(err)
    assert load_checkpoint(tmp_path / "last")[2]["epoch"] == 1
    with pytest.raises(ValueError, match="max_loss_factor must be a finite number > 1 or None, got 0.5"):
        run(epochs=1, max_loss_factor=0.5)
