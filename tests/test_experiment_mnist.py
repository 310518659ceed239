"""The MNIST experiment end to end on the shipped mini subset, its pieces, the report and the sweep's report mode."""
import argparse
import errno
import importlib.util
import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest

from ttrnn_np import rnn
from ttrnn_np.checkpoint import load_checkpoint
from ttrnn_np.data.mnist import load_mnist
from ttrnn_np.experiments import mnist, mnist_cli, report, runfolder, runtime
from ttrnn_np.losses import softmax_cross_entropy
from ttrnn_np.pytree import tree_flatten
from ttrnn_np.sizes import model_sizes

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--data", "mini", "--hidden-size", "8", "--train-subset", "384", "--val-subset", "200", "--batch-size", "64"]


def parse(argv):
    parser = argparse.ArgumentParser()
    mnist_cli.add_arguments(parser)
    return parser.parse_args(argv)


def cli(argv):
    return mnist_cli.run(parse(argv))


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    """Every test runs in its own folder: a run without --out goes to runs/mnist/<name> there."""
    monkeypatch.chdir(tmp_path)


def results_of(out):
    return json.loads((Path(out) / "results.json").read_text())


def leaves(params):
    return tree_flatten(params)[0]


# ------------------------------------------------------------------ end to end

def test_short_run_writes_results_and_checkpoints_and_learns(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli(TINY + ["--layout", "dense", "--epochs", "3", "--lr", "1e-2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "data: MINI" in text and "source='mini'" in text
    assert "total 1,274 parameters" in text and "best validation accuracy" in text
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "results.json"]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["best.json", "best.npz", "last.json",
                                                                       "last.npz"]
    r = results_of(out)
    assert r["status"] == "complete" and r["data"] == {"source": "mini", "view": "row", "n_train": 384,
                                                        "n_val": 200, "n_test": 1000}
    assert r["config"]["head"] == "dense" and r["config"]["dtype"] == "float32"
    epochs = r["history"]["epochs"]
    assert [e["epoch"] for e in epochs] == [0, 1, 2] and len(r["history"]["steps"]["loss"]) == 18
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    assert r["test"]["accuracy"] > 0.15  # chance is 0.1
    best = max(epochs, key=lambda e: e["val_accuracy"])
    assert r["best"]["epoch"] == best["epoch"] and r["best"]["val_accuracy"] == best["val_accuracy"]
    params, _, meta = load_checkpoint(out / "checkpoints" / "best")
    assert meta["epoch"] == best["epoch"]
    split = load_mnist("test", source="mini")
    config = mnist.MnistConfig(**r["config"])
    assert mnist.evaluate_split(mnist.build_model(config), params, split, config)["accuracy"] == r["test"]["accuracy"]
    assert r["sizes"]["total"] == 1274 and r["machine"]["cpu_count"] >= 1 and "numpy" in r["machine"]


def test_resume_continues_to_the_numbers_of_an_uninterrupted_run(tmp_path):
    base = TINY + ["--cores", "2", "--rank", "2", "--lr", "5e-3"]
    assert cli(base + ["--epochs", "2", "--out", str(tmp_path / "straight")]) == 0
    assert cli(base + ["--epochs", "1", "--out", str(tmp_path / "split")]) == 0
    assert cli(base + ["--epochs", "2", "--out", str(tmp_path / "split"), "--resume"]) == 0
    a, b = results_of(tmp_path / "straight"), results_of(tmp_path / "split")
    for key in ("train_loss", "val_loss", "val_accuracy", "train_accuracy"):
        assert [e[key] for e in a["history"]["epochs"]] == [e[key] for e in b["history"]["epochs"]]
    assert a["history"]["steps"]["loss"] == b["history"]["steps"]["loss"]
    assert a["test"] == b["test"] and a["best"] == b["best"] and a["config"] == b["config"]
    split_last = leaves(load_checkpoint(tmp_path / "split" / "checkpoints" / "last")[0])
    for path, leaf in leaves(load_checkpoint(tmp_path / "straight" / "checkpoints" / "last")[0]).items():
        np.testing.assert_array_equal(leaf, split_last[path])


def test_resume_of_a_complete_run_returns_its_results(tmp_path, capsys):
    argv = TINY + ["--epochs", "1", "--out", str(tmp_path)]
    assert cli(argv) == 0
    first = results_of(tmp_path)
    assert cli(argv + ["--resume"]) == 0
    assert "already finished, complete" in capsys.readouterr().out and results_of(tmp_path) == first


def _as_old_run(out):
    """Rewrite a run directory as a run stored before ``hidden`` became ``hidden_size`` wrote it."""
    for name in ("results.json", "checkpoints/last.json", "checkpoints/best.json"):
        path = Path(out) / name
        if path.exists():
            text = path.read_text()
            assert text.count('"hidden_size"') >= 1
            path.write_text(text.replace('"hidden_size"', '"hidden"'))


def test_runs_stored_with_the_old_field_name_load_and_resume(tmp_path, capsys):
    # a finished old run is recognised (not retrained) ...
    argv = TINY + ["--epochs", "1", "--out", str(tmp_path / "done")]
    assert cli(argv) == 0
    _as_old_run(tmp_path / "done")
    first = results_of(tmp_path / "done")
    assert "hidden" in first["config"] and "hidden_size" not in first["config"]
    assert cli(argv + ["--resume"]) == 0
    assert "already finished, complete" in capsys.readouterr().out and results_of(tmp_path / "done") == first
    assert mnist.MnistConfig.from_dict(first["config"]) == mnist_cli.config_from_args(parse(argv))
    # ... an interrupted one continues to the numbers of an uninterrupted run, and says hidden_size from then on
    base = TINY + ["--cores", "2", "--rank", "2", "--lr", "5e-3"]
    assert cli(base + ["--epochs", "2", "--out", str(tmp_path / "straight")]) == 0
    assert cli(base + ["--epochs", "1", "--out", str(tmp_path / "old")]) == 0
    _as_old_run(tmp_path / "old")
    assert cli(base + ["--epochs", "2", "--out", str(tmp_path / "old"), "--resume"]) == 0
    a, b = results_of(tmp_path / "straight"), results_of(tmp_path / "old")
    assert a["history"]["steps"]["loss"] == b["history"]["steps"]["loss"] and a["test"] == b["test"]
    assert b["config"]["hidden_size"] == 8 and "hidden" not in b["config"]
    # a changed setting is still caught, named with today's field name
    with pytest.raises(ValueError, match=r"hidden_size 8 \(saved\) vs 16 \(now\)"):
        cli(TINY[:2] + ["--hidden-size", "16"] + TINY[4:] + ["--epochs", "3", "--out", str(tmp_path / "old"),
                                                             "--resume"])


@pytest.mark.filterwarnings("ignore::ttrnn_np.shapes.ShapeWarning")
def test_committed_results_load_with_their_sizes():
    """Results files written before the rename (``hidden``) give back their config and parameter counts."""
    paths = sorted((ROOT / "results").glob("mnist_*/*/results.json"))
    assert paths
    for path in paths:
        stored = json.loads(path.read_text())
        config = mnist.MnistConfig.from_dict(stored["config"])
        assert config.hidden_size == stored["config"].get("hidden", stored["config"].get("hidden_size"))
        assert model_sizes(mnist.build_model(config))["parts"] == stored["sizes"]["parts"], path


def test_the_old_hidden_option_still_works_and_says_so(capsys):
    from ttrnn_np.cli import build_parser
    args = build_parser("mnist").parse_args(["mnist", "--hidden", "12", "--epochs", "1"])
    assert mnist_cli.config_from_args(args).hidden_size == 12
    assert capsys.readouterr().err == "ttrnn mnist: note: --hidden is deprecated; use --hidden-size\n"
    assert mnist_cli.config_from_args(parse(["-H", "12"])).hidden_size == 12 and capsys.readouterr().err == ""


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                            "ignore:invalid value encountered:RuntimeWarning")
def test_divergence_stops_clearly_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    # epoch 0 trains at lr 1e-3; epoch 1 at 1e27 sends the TT cores to ~1e27 and their products overflow
    argv = TINY + ["--cores", "2", "--lr", "1e-3", "--step-size", "1", "--gamma", "1e30", "--epochs", "3",
                   "--out", str(tmp_path)]
    assert cli(argv) == 1
    captured = capsys.readouterr()
    assert "training diverged" in captured.err
    assert f"the last good checkpoint is {tmp_path}/checkpoints/last" in captured.err
    assert "stopped: training diverged" in captured.out
    r = results_of(tmp_path)
    assert r["status"] == "diverged" and r["diverged"]["epoch"] == 1 and r["diverged"]["step"] > 6
    assert r["epochs_run"] == 1 and r["best"]["epoch"] == 0 and r["test"]["accuracy"] > 0
    _, _, meta = load_checkpoint(tmp_path / "checkpoints" / "last")
    assert meta["epoch"] == 1 and all(np.isfinite(meta["history"]["steps"]["loss"]))
    # resuming a diverged run with the same settings returns its results instead of diverging again
    assert cli(argv + ["--resume"]) == 1
    assert "already finished, diverged" in capsys.readouterr().out and results_of(tmp_path) == r


def test_json_output_goes_to_stdout_and_text_to_stderr(capsys):
    assert cli(TINY + ["--epochs", "1", "--json"]) == 0
    captured = capsys.readouterr()
    r = json.loads(captured.out)
    assert r["status"] == "complete" and "data: MINI" in captured.err
    assert r["out"] == "runs/mnist/lstm_joint_d2_R2_row"
    assert results_of("runs/mnist/lstm_joint_d2_R2_row") == r  # the default run folder, in the working directory


# ------------------------------------------------------------------ options and configuration

def test_recipes_and_overrides():
    ours = mnist_cli.config_from_args(parse([]))
    assert (ours.lr, ours.clip, ours.schedule, ours.epochs, ours.head) == (2e-3, 5.0, "step", 20, "tt")
    paper = mnist_cli.config_from_args(parse(["--recipe", "paper"]))
    assert (paper.lr, paper.clip, paper.step_size, paper.gamma) == (1e-2, None, 10, 0.1)
    mixed = mnist_cli.config_from_args(parse(["--recipe", "paper", "--lr", "1e-3", "--clip", "2"]))
    assert (mixed.lr, mixed.clip) == (1e-3, 2.0)
    assert mnist_cli.config_from_args(parse(["--clip", "none"])).clip is None


@pytest.mark.filterwarnings("ignore::ttrnn_np.shapes.ShapeWarning")
def test_config_resolves_head_and_forget_bias():
    assert mnist.MnistConfig(layout="dense").head == "dense"
    assert mnist.MnistConfig(layout="naive", head="dense").head == "dense"
    assert mnist.MnistConfig(view="permuted").forget_bias == 1.0
    assert mnist.MnistConfig(view="pixel", forget_bias=0.5).forget_bias == 0.5
    assert mnist.MnistConfig(view="row").forget_bias == 0.0
    assert mnist.MnistConfig(cell="gru", view="pixel").forget_bias == 0.0
    assert mnist.MnistConfig(cores=3, rank=4).name == "lstm_joint_d3_R4_row"
    assert mnist.MnistConfig(layout="dense", view="pixel").name == "lstm_dense_pixel"
    model = mnist.build_model(mnist.MnistConfig(view="pixel", hidden_size=8))
    assert (model.cell.input_size, model.head.layout, model.cell.forget_bias) == (1, "tt", 1.0)


@pytest.mark.parametrize("kwargs, message", [
    (dict(layout="folded"), r"layout must be one of .*, got 'folded'"),
    (dict(view="column"), r"view must be one of \('row', 'pixel', 'permuted'\), got 'column'"),
    (dict(lr=0.0), "lr must be a finite number > 0, got 0.0"),
    (dict(lr=float("nan")), "lr must be a finite number > 0"),
    (dict(clip=-1.0), r"clip must be a finite number > 0 or None \(no clipping\), got -1.0"),
    (dict(clip=float("inf")), r"clip must be a finite number > 0 or None"),
    (dict(rank=0), "rank must be a positive integer, got 0"),
    (dict(train_subset=0), "train_subset must be a positive integer or None, got 0"),
    (dict(tbptt=2.5), "tbptt must be a positive integer or None, got 2.5"),
    (dict(seed=-1), "seed must be an integer >= 0, got -1"),
    (dict(gamma=0), "gamma must be a finite number > 0, got 0"),
    (dict(gamma=float("inf")), "gamma must be a finite number > 0, got inf"),
    (dict(forget_bias=float("nan")), "forget_bias must be a finite number, got nan"),
    (dict(dtype="float16"), r"dtype must be one of \('float32', 'float64'\), got 'float16'"),
])
def test_bad_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mnist.MnistConfig(**kwargs)


def test_bad_options_give_clear_errors(tmp_path, capsys):
    with pytest.raises(SystemExit):
        parse(["--layout", "folded"])
    with pytest.raises(SystemExit):
        parse(["--clip", "lots"])
    assert "expected a number > 0 or 'none', got 'lots'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="resume needs a run directory: pass --out DIR"):
        mnist.run_experiment(mnist.MnistConfig(data="mini"), out=None, resume=True)
    with pytest.raises(ValueError, match="train_subset must be at most the 4,000 images of the train split"):
        cli(["--data", "mini", "--train-subset", "4001", "--epochs", "1"])
    with pytest.raises(ValueError, match=r"forget_bias applies to the LSTM only"):
        cli(TINY + ["--cell", "gru", "--forget-bias", "1"])
    with pytest.raises(ValueError, match='source="mini" reads the subset shipped'):
        cli(TINY + ["--data-dir", str(tmp_path)])
    with pytest.raises(FileNotFoundError, match="MNIST file train-images-idx3-ubyte.gz"):
        cli(["--data-dir", str(tmp_path), "--epochs", "1"])
    assert cli(TINY + ["--epochs", "1", "--out", str(tmp_path)]) == 0
    with pytest.raises(ValueError, match="already holds a run .* pass --resume to continue it"):
        cli(TINY + ["--epochs", "2", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match=r"cannot resume .*: it was trained with other settings, "
                                         r"hidden_size 8 \(saved\) vs 16 \(now\)$"):
        cli(TINY[:2] + ["--hidden-size", "16"] + TINY[4:] + ["--epochs", "2", "--out", str(tmp_path), "--resume"])


# ------------------------------------------------------------------ pieces

def test_prepare_data_subsets_are_seeded_and_inside_the_split():
    config = mnist.MnistConfig(data="mini", train_subset=100, val_subset=50, seed=3)
    a, b = mnist.prepare_data(config), mnist.prepare_data(config)
    c = mnist.prepare_data(mnist.MnistConfig(data="mini", train_subset=100, val_subset=50, seed=4))
    full = mnist.prepare_data(mnist.MnistConfig(data="mini"))
    assert (len(a.train), len(a.val), len(a.test)) == (100, 50, 1000) and len(full.train) == 4000
    np.testing.assert_array_equal(a.train.labels, b.train.labels)
    assert not np.array_equal(a.train.images, c.train.images)
    pool = {img.tobytes() for img in full.train.images}
    assert all(img.tobytes() in pool for img in a.train.images)
    assert not {img.tobytes() for img in a.val.images} & pool


def test_evaluation_does_not_depend_on_the_batch_size():
    config = mnist.MnistConfig(data="mini", hidden_size=8, layout="naive", dtype="float64")
    model = mnist.build_model(config)
    params = rnn.init_model(model, np.random.default_rng(0), "float64")
    split = load_mnist("test", source="mini").subset(np.arange(50), "test")
    whole = mnist.evaluate_split(model, params, split, config)
    batched = mnist.evaluate_split(model, params, split, mnist.MnistConfig(**{**config.__dict__,
                                                                            "eval_batch_size": 7}))
    assert whole["accuracy"] == batched["accuracy"] and whole["loss"] == pytest.approx(batched["loss"], rel=1e-12)
    X = mnist.as_sequences(split.images, "row", dtype="float64")  # (50, 28, 28)
    logits = rnn.forward(model, params, X)  # (50, 10)
    assert whole["loss"] == pytest.approx(float(softmax_cross_entropy(logits, split.labels)), rel=1e-12)
    assert whole["accuracy"] == np.mean(np.argmax(logits, axis=1) == split.labels)


def test_runtime_helpers():
    assert isinstance(runtime.tune_malloc(), bool)
    with pytest.raises(ValueError, match="mmap_threshold must be an integer number of bytes"):
        runtime.tune_malloc(mmap_threshold=-1)
    with pytest.raises(ValueError, match="BLAS threads must be a positive integer, got 0"):
        runtime.set_blas_threads(0)
    before = runtime.blas_info()["threads"]
    if before is not None:
        assert runtime.set_blas_threads(1) and runtime.blas_info()["threads"] == 1
        runtime.set_blas_threads(before)
    info = runtime.machine_info()
    assert {"cpu_count", "blas", "numpy", "autograd", "malloc_tuned"} <= set(info)
    json.dumps(info)


# ------------------------------------------------------------------ report helpers and the sweep's report mode

def test_tables_and_csv(tmp_path):
    rows = [{"name": "a", "params": 1234, "err": 1.5}, {"name": "bb", "params": None, "err": float("nan")}]
    columns = [("name", "run", None), ("params", "params", ",d"), ("err", "error %", ".2f")]
    assert report.format_table(rows, columns).splitlines() == [
        "run  params  error %", "--------------------", "a     1,234     1.50", "bb        -        -"]
    assert report.markdown_table(rows, columns).splitlines()[2] == "| a | 1,234 | 1.50 |"
    report.write_csv(tmp_path / "t.csv", rows, ["name", "params"])
    assert (tmp_path / "t.csv").read_text().splitlines() == ["name,params", "a,1234", "bb,"]
    report.write_csv(tmp_path / "u.csv", rows[:1] + [{"name": "bb", "err": 1e-3}, {"name": "3", "params": 7}],
                     ["name", "params", "err"])
    assert report.read_csv(tmp_path / "u.csv") == [{"name": "a", "params": 1234, "err": 1.5},
                                                  {"name": "bb", "params": None, "err": 1e-3},
                                                  {"name": 3, "params": 7, "err": None}]
    with pytest.raises(TypeError, match="a column is"):
        report.format_table(rows, [("name", "run")])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        report.load_results(tmp_path / "missing")


def test_pareto_front_keeps_the_points_no_other_beats():
    points = [(4000, 2.0, "a"), (1500, 3.0, "b"), (10000, 2.5, "c"), (1500, 4.0, "d"), (30000, 1.0, "e"),
              (4000, 2.0, "f")]
    assert report.pareto_front(points) == [(1500, 3.0, "b"), (4000, 2.0, "a"), (30000, 1.0, "e")]
    assert report.pareto_front([]) == []


def load_sweep():
    spec = importlib.util.spec_from_file_location("mnist_sweep", ROOT / "scripts" / "mnist_sweep.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_results(layout, d, R, params, test_acc):
    config = mnist.MnistConfig(layout=layout, cores=d or 2, rank=R or 2)
    return {"name": config.name, "status": "complete", "config": dict(config.__dict__),
            "data": {"source": "full", "view": "row", "n_train": 50000, "n_val": 10000, "n_test": 10000},
            "sizes": {"total": params, "total_no_bias": params - 1034, "dense_total": 294410,
                      "compression": 294410 / params},
            "best": {"epoch": 4, "val_accuracy": test_acc + 0.001, "val_loss": 0.1},
            "test": {"accuracy": test_acc, "loss": 0.1, "error_pct": 100 * (1 - test_acc)}, "epochs_run": 5,
            "seconds_per_epoch": {"train": 40.0, "eval": 3.0}, "examples_per_s": 1250.0, "train_time_s": 200.0,
            "wall_time_s": 230.0, "command": "ttrnn mnist ...", "machine": runtime.machine_info()}


def test_sweep_report_only_builds_csv_plot_and_readme(tmp_path, capsys):
    sweep = load_sweep()
    runs = [("dense", None, None, 294410, 0.99), ("joint", 2, 2, 4810, 0.975), ("joint", 2, 4, 7786, 0.98),
            ("joint", 3, 2, 2316, 0.97), ("naive", 3, 2, 3500, 0.96)]
    for layout, d, R, params, acc in runs:
        r = fake_results(layout, d, R, params, acc)
        (tmp_path / r["name"]).mkdir()
        (tmp_path / r["name"] / "results.json").write_text(json.dumps(r))
    assert sweep.main(["--root", str(tmp_path), "--report-only"]) == 0
    assert "5 runs" in capsys.readouterr().out
    lines = (tmp_path / "summary.csv").read_text().splitlines()
    assert lines[0].startswith("name,cell,layout,cores,rank")
    assert [line.split(",")[0] for line in lines[1:]] == ["lstm_dense_row", "lstm_joint_d2_R2_row",
                                                          "lstm_joint_d2_R4_row", "lstm_joint_d3_R2_row",
                                                          "lstm_naive_d3_R2_row"]
    assert ",4810," in lines[2] and ",2.5," in lines[2]
    assert (tmp_path / "error_vs_params.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    readme = (tmp_path / "README.md").read_text()
    assert "| lstm_joint_d3_R2_row | joint | 3 | 2 | 2,316 |" in readme and "test-selected" in readme
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="nothing to report"):
        sweep.main(["--root", str(tmp_path / "empty"), "--report-only"])


def test_sweep_grid_and_run_options():
    sweep = load_sweep()
    grid = sweep.grid()
    assert grid[0] == ("dense", None, None) and len(grid) == 1 + 12 + 2 and ("naive", 3, 4) in grid
    options = argparse.Namespace(epochs=3, train_subset=1000, val_subset=None, data=None, seed=None,
                                 blas_threads=1, extra="--dtype float64")
    argv = sweep.run_argv("joint", 3, 4, options)
    assert argv == ["--layout", "joint", "--cores", "3", "--rank", "4", "--epochs", "3", "--train-subset", "1000",
                    "--blas-threads", "1", "--dtype", "float64"]
    assert mnist_cli.config_from_args(parse(argv)).name == "lstm_joint_d3_R4_row"
    assert sweep.run_argv("dense", None, None, options)[:2] == ["--layout", "dense"]


def test_plot_helper_takes_an_axis():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    out_fig, out_ax = report.plot_error_vs_params({"d=2": [(100, 2.0, "R=1"), (50, 3.0, "R=2")]},
                                                  [("dense", 1000, 1.0)], background={"paper": [(80, 2.5)]}, ax=ax)
    assert out_fig is fig and out_ax is ax and ax.get_xscale() == "log"
    line = next(line for line in ax.get_lines() if line.get_label() == "d=2")
    assert list(line.get_xdata()) == [50, 100]
    plt.close(fig)


def test_plot_helper_draws_a_spread_as_an_error_bar_and_no_empty_legend():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = report.plot_error_vs_params({"joint": [(4000, 2.0, "4k", 0.25), (1500, 5.0, "1.5k", None)]})
    (bars,) = ax.containers  # one error bar: the point with a spread
    segment = bars.lines[2][0].get_segments()[0]  # the vertical bar from y - spread to y + spread at x = 4000
    assert segment[:, 0].tolist() == [4000, 4000] and segment[:, 1].tolist() == [1.75, 2.25]
    plt.close(fig)
    fig, ax = report.plot_error_vs_params({"joint": [(4000, None, "4k")]})  # nothing to draw: no legend
    assert ax.get_legend() is None
    plt.close(fig)


# ------------------------------------------------------------------ experiment rules and run-folder safety

def main(*argv):
    """``ttrnn mnist *argv`` through the command's error handling: the exit code."""
    from ttrnn_np.cli import main as ttrnn
    return ttrnn(["mnist", *argv])


def test_the_test_set_is_evaluated_with_the_best_validation_parameters_not_the_last(tmp_path, monkeypatch):
    """Validation scores that fall epoch after epoch make epoch 0 the best, so best ≠ last: the recorded test
    accuracy must be that of the epoch-0 checkpoint."""
    real, seen = mnist.evaluate_split, []

    def falling_validation(model, params, split, config, **kwargs):
        metrics = real(model, params, split, config, **kwargs)
        if split.split == "val":
            seen.append(metrics["accuracy"])
            metrics = {**metrics, "accuracy": metrics["accuracy"] - 0.2 * (len(seen) - 1)}
        return metrics

    monkeypatch.setattr(mnist, "evaluate_split", falling_validation)
    out = tmp_path / "run"
    assert cli(TINY + ["--layout", "dense", "--epochs", "3", "--lr", "1e-2", "--out", str(out)]) == 0
    monkeypatch.undo()
    r = results_of(out)
    assert r["best"]["epoch"] == 0 and r["epochs_run"] == 3 and len(seen) == 3
    config = mnist.MnistConfig.from_dict(r["config"])
    model, test = mnist.build_model(config), load_mnist("test", source="mini")
    best, _, meta = load_checkpoint(out / "checkpoints" / "best")
    last = load_checkpoint(out / "checkpoints" / "last")[0]
    assert meta["epoch"] == 0
    on_best, on_last = (mnist.evaluate_split(model, p, test, config) for p in (best, last))
    assert on_best != on_last  # the rule can be seen to fail
    assert r["test"] == {**on_best, "error_pct": 100 * (1 - on_best["accuracy"])}


def test_the_seed_changes_the_initialisation(monkeypatch):
    """--seed draws another initialisation (not only another batch order); the same seed draws the same one."""
    class Captured(Exception):
        pass

    def capture(loss_fn, params, *args, **kwargs):
        raise Captured(params)

    monkeypatch.setattr(mnist, "fit", capture)
    inits = {}
    for seed in (0, 1, 0):
        with pytest.raises(Captured) as info:
            mnist.run_experiment(mnist.MnistConfig(data="mini", hidden_size=8, train_subset=64, val_subset=64,
                                                   seed=seed, epochs=1), progress=False, stream=open(os.devnull, "w"))
        inits.setdefault(seed, []).append(leaves(info.value.args[0]))
    for path, leaf in inits[0][0].items():
        np.testing.assert_array_equal(leaf, inits[0][1][path])
    weights = [path for path in inits[0][0] if not path.endswith("/b")]  # biases start at fixed values
    assert len(weights) == 6 and all(not np.array_equal(inits[0][0][p], inits[1][0][p]) for p in weights)


def test_a_second_run_into_a_folder_in_use_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    with runfolder.owned(out):  # another run holds the folder
        assert main(*TINY, "--epochs", "1", "--out", str(out)) == 4
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"ttrnn mnist: error: {out} is in use by another run (process " in err
        assert "choose another --out" in err and sorted(p.name for p in out.iterdir()) == ["run.lock"]
    assert not out.exists()  # the holder's lock is gone and it left nothing behind
    # a lock left by a process that has died is taken over
    out.mkdir()
    (out / "run.lock").write_text(json.dumps({"pid": 2 ** 22 + 12345, "host": socket.gethostname()}))
    assert main(*TINY, "--epochs", "1", "--out", str(out)) == 0
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "results.json"]


def test_a_read_only_output_folder_fails_before_any_work(tmp_path, monkeypatch, capsys):
    real_open = os.open

    def read_only(path, flags, *args):
        if str(path).endswith("run.lock"):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_open(path, flags, *args)

    monkeypatch.setattr(runfolder.os, "open", read_only)
    monkeypatch.setattr(mnist, "prepare_data", lambda *a, **k: pytest.fail("data were read before the check"))
    assert main(*TINY, "--epochs", "1", "--out", str(tmp_path / "run")) == 4
    assert capsys.readouterr().err == (f"ttrnn mnist: error: cannot write {tmp_path / 'run'}: Read-only file "
                                       "system; the file system is read-only; write somewhere else\n")


def test_a_full_disk_stops_cleanly_and_keeps_the_last_good_checkpoints(tmp_path, full_disk, capsys):
    """The disk fills while epoch 1 is saved: one line, exit 4, epoch 0's checkpoints intact, no temporary files."""
    out = tmp_path / "run"
    with full_disk(after=4):  # epoch 0 saves best and last, npz + json each
        assert main(*TINY, "--layout", "dense", "--epochs", "3", "--lr", "1e-2", "--out", str(out)) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device; free some disk space" in err
    assert sorted(p.name for p in out.rglob("*")) == ["best.json", "best.npz", "checkpoints", "last.json",
                                                      "last.npz"]
    assert load_checkpoint(out / "checkpoints" / "last")[2]["epoch"] == 1  # epoch 0 finished and saved
    # resuming after space was freed finishes the run with the numbers of an uninterrupted one
    assert cli(TINY + ["--layout", "dense", "--epochs", "3", "--lr", "1e-2", "--out", str(out), "--resume"]) == 0
    assert cli(TINY + ["--layout", "dense", "--epochs", "3", "--lr", "1e-2", "--out", str(tmp_path / "b")]) == 0
    assert results_of(out)["history"]["steps"]["loss"] == results_of(tmp_path / "b")["history"]["steps"]["loss"]


def test_a_damaged_results_file_is_named_on_resume(tmp_path, capsys):
    assert cli(TINY + ["--epochs", "1", "--out", str(tmp_path / "run")]) == 0
    path = tmp_path / "run" / "results.json"
    path.write_bytes(path.read_bytes()[:100])  # truncated by a crash of an older version
    assert main(*TINY, "--epochs", "1", "--out", str(tmp_path / "run"), "--resume") == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"ttrnn mnist: error: {path} is damaged (not valid JSON: " in err


def test_results_are_written_atomically(tmp_path, monkeypatch):
    """A results file being replaced is whole or absent, never a part: it goes through write_atomic."""
    written = []
    real = runfolder.write_atomic
    monkeypatch.setattr(runfolder, "write_atomic", lambda path, data: written.append(Path(path).name) or
                        real(path, data))
    assert cli(TINY + ["--epochs", "1", "--out", str(tmp_path / "run")]) == 0
    assert written == ["results.json"] and json.loads((tmp_path / "run" / "results.json").read_text())


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                            "ignore:invalid value encountered:RuntimeWarning")
def test_divergence_in_the_first_epoch_says_no_checkpoint_exists(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli(TINY + ["--lr", "1e30", "--clip", "none", "--epochs", "2", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "training diverged" in err and "no checkpoint was written: the run diverged in its first epoch" in err
    assert "last good checkpoint" not in err
    r = results_of(out)
    assert r["status"] == "diverged" and r["diverged"]["epoch"] == 0 and r["test"] is None and r["best"] is None
    assert not (out / "checkpoints").exists()


def test_a_huge_finite_loss_is_divergence(tmp_path, monkeypatch, capsys):
    """A loss that grows past MAX_LOSS_FACTOR × the first step's is divergence even while finite."""
    real_loss = mnist.softmax_cross_entropy
    calls = []

    def exploding(logits, y):
        calls.append(1)
        return real_loss(logits, y) * (3.7e12 if len(calls) > 8 else 1.0)  # from the 9th batch on

    monkeypatch.setattr(mnist, "softmax_cross_entropy", exploding)
    assert cli(TINY + ["--epochs", "3", "--out", str(tmp_path / "run")]) == 1
    r = results_of(tmp_path / "run")
    assert r["status"] == "diverged" and r["diverged"]["what"] == "loss"
    assert float(r["diverged"]["value"]) > 1e12 and "above the limit" in r["diverged"]["message"]
    assert "the last good checkpoint is" in capsys.readouterr().err
