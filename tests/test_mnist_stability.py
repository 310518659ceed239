"""scripts/mnist_stability.py on the shipped mini subset with tiny models: configs, records, plots, resumability."""
import dataclasses
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from autograd import grad

from ttrnn_np import rnn
from ttrnn_np.data.mnist import as_sequences, load_mnist_splits
from ttrnn_np.heads import apply_head
from ttrnn_np.losses import softmax_cross_entropy

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--data", "mini", "--hidden-size", "8", "--epochs", "1", "--train-subset", "256", "--val-subset", "128",
        "--diag-batch", "16", "--quiet"]


def load_script():
    spec = importlib.util.spec_from_file_location("mnist_stability", ROOT / "scripts" / "mnist_stability.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


stability = load_script()


def test_sweep_configs_use_the_papers_recipe_and_include_the_histogram_lr():
    options = stability.parse_args(TINY + ["--lrs", "1e-3", "3e-3", "--hist-lr", "1e-2", "-d", "3", "-R", "2"])
    configs = stability.sweep_configs(options)
    assert sorted(configs) == [(m, lr) for m in ("dense", "tt") for lr in (1e-3, 3e-3, 1e-2)]
    for (model, lr), config in configs.items():
        assert (config.lr, config.clip, config.schedule, config.step_size, config.gamma) == (lr, None, "step", 10, 0.1)
        assert (config.hidden_size, config.epochs, config.train_subset, config.data) == (8, 1, 256, "mini")
        assert config.layout == ("dense" if model == "dense" else "joint")
    assert (configs["tt", 1e-3].cores, configs["tt", 1e-3].rank, configs["tt", 1e-3].head) == (3, 2, "tt")
    assert stability.run_dir("R", configs["dense", 1e-2]) == Path("R/runs/lstm_dense_row_lr0.01")


@pytest.mark.parametrize("flag", ["--epochs", "--train-subset", "--hist-steps", "--diag-batch"])
def test_non_positive_budgets_are_refused(flag, capsys):
    with pytest.raises(SystemExit):
        stability.parse_args([flag, "0"])
    assert "must be a positive integer, got 0" in capsys.readouterr().err


def test_grad_norm_record_keeps_the_first_steps_and_their_quantiles():
    rng = np.random.default_rng(0)
    norms = rng.lognormal(size=50)  # (50,)
    results = {"config": {"lr": 0.01}, "history": {"steps": {"grad_norm": norms.tolist()}}}
    record = stability.grad_norm_record(results, steps=30)
    assert record["steps"] == 30 and record["norms"] == norms[:30].tolist() and record["lr"] == 0.01
    assert record["median"] == pytest.approx(np.median(norms[:30]))
    assert record["p05"] <= record["median"] <= record["p95"]
    empty = stability.grad_norm_record({"config": {"lr": 0.1}, "history": None}, steps=30)
    assert empty["steps"] == 0 and empty["median"] is None


def test_time_step_norms_at_the_last_step_match_the_gradient_through_the_head():
    options = stability.parse_args(TINY)
    config = stability.sweep_configs(options)["tt", 1e-2]
    model = stability.build_model(config)
    params = rnn.init_model(model, np.random.default_rng(3), config.dtype)
    splits = load_mnist_splits("mini")
    images, y = splits.val.images[:12], splits.val.labels[:12]  # (12, 28, 28), (12,)
    norms = stability.time_step_norms(config, params, images, y)
    assert norms.shape == (28,) and np.all(norms > 0)
    X = as_sequences(images, "row", dtype=config.dtype)  # (12, 28, 28)
    _, states = rnn.forward(model, params, X, return_state=True)
    h_T = states[0][0]  # (12, H)
    g = grad(lambda h: softmax_cross_entropy(apply_head(model.head, params["head"], h), y))(h_T)  # (12, H)
    assert norms[-1] == pytest.approx(np.linalg.norm(g), rel=1e-4)


def test_tiny_sweep_writes_results_and_figures_and_resumes_without_retraining(tmp_path, capsys):
    argv = TINY + ["--root", str(tmp_path), "--lrs", "1e-3", "1e-2", "--hist-lr", "1e-2"]
    assert stability.main(argv) == 0
    report = json.loads((tmp_path / "stability.json").read_text())
    assert [(r["model"], r["lr"], r["status"]) for r in report["lr_sweep"]] == [
        ("dense", 1e-3, "complete"), ("dense", 1e-2, "complete"), ("tt", 1e-3, "complete"), ("tt", 1e-2, "complete")]
    for r in report["lr_sweep"]:  # each row is its run's own best validation accuracy
        config = stability.sweep_configs(stability.parse_args(argv))[r["model"], r["lr"]]
        stored = json.loads((stability.run_dir(tmp_path, config) / "results.json").read_text())
        assert r["best_val_pct"] == 100 * stored["best"]["val_accuracy"]
        assert r["best_val_pct"] == 100 * max(e["val_accuracy"] for e in stored["history"]["epochs"])
    steps = -(-256 // 128)
    for model in ("dense", "tt"):
        assert report["grad_norms"][model]["steps"] == steps and report["grad_norms"][model]["lr"] == 1e-2
        flow = report["time_step_grad_norms"][model]
        assert len(flow["init"]) == len(flow["trained"]) == 28 and flow["init"] != flow["trained"]
    assert report["budget"]["n_train"] == 256 and report["diag_batch"] == 16
    for name in ("lr_sweep.png", "grad_norm_hist.png", "time_step_grad_norms.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    readme = (tmp_path / "README.md").read_text()
    assert "python scripts/mnist_stability.py --data mini" in readme and "wall time" in readme
    results_files = sorted(tmp_path.glob("runs/*/results.json"))
    assert len(results_files) == 4
    stamps = [p.stat().st_mtime_ns for p in results_files]
    capsys.readouterr()
    assert stability.main(argv) == 0
    assert [p.stat().st_mtime_ns for p in results_files] == stamps  # nothing retrained
    again = json.loads((tmp_path / "stability.json").read_text())
    assert again["lr_sweep"] == report["lr_sweep"] and again["time_step_grad_norms"] == report["time_step_grad_norms"]
    figures = {name: (tmp_path / name).read_bytes() for name in ("lr_sweep.png", "grad_norm_hist.png")}
    readme = (tmp_path / "README.md").read_text()
    for name in figures:
        (tmp_path / name).unlink()
    assert stability.main(["--root", str(tmp_path), "--figures-only"]) == 0  # redrawn from stability.json alone
    assert {name: (tmp_path / name).read_bytes() for name in figures} == figures
    assert (tmp_path / "README.md").read_text() == readme


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_diverged_run_is_recorded_skipped_on_rerun_and_drawn_at_chance(tmp_path):
    options = stability.parse_args(TINY + ["--lrs", "1e38"])
    config = stability.sweep_configs(options)["dense", 1e38]  # float32 weights overflow within two steps
    results = stability.train_run(config, tmp_path)
    assert results["status"] == "diverged" and results["best"] is None
    row = stability.lr_row("dense", results)
    assert row["best_val_pct"] is None and row["diverged_step"] == results["diverged"]["step"]
    path = stability.run_dir(tmp_path, config) / "results.json"
    stamp = path.stat().st_mtime_ns
    assert stability.train_run(config, tmp_path)["status"] == "diverged" and path.stat().st_mtime_ns == stamp
    import matplotlib
    matplotlib.use("Agg")
    good = {**row, "lr": 1e-3, "status": "complete", "best_val_pct": 80.0}
    fig, ax = stability.plot_lr_sweep([good, row], {"dense": "dense", "tt": "tt"})
    curve, crosses = ax.lines[0], ax.lines[1]
    assert list(curve.get_ydata()) == [80.0, 100 * stability.CHANCE]
    assert crosses.get_marker() == "x" and list(crosses.get_xdata()) == [1e38]
    assert "diverged" in crosses.get_label()
    empty = stability.grad_norm_record(results, steps=10)
    fig, ax = stability.plot_grad_norm_hist({"dense": empty}, {"dense": "dense"})
    assert empty["steps"] == 0 and "diverged" in ax.texts[0].get_text()


def test_resuming_with_other_settings_is_refused(tmp_path):
    options = stability.parse_args(TINY)
    configs = stability.sweep_configs(options)
    stability.train_run(configs["tt", 1e-2], tmp_path)
    other = dataclasses.replace(configs["tt", 1e-2], seed=5)
    (stability.run_dir(tmp_path, other) / "results.json").unlink()
    with pytest.raises(ValueError, match="other settings"):
        stability.train_run(other, tmp_path)
