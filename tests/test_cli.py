"""The ``ttrnn`` command loads only what the chosen subcommand needs: ``cost`` and ``--help`` neither import the
training code nor tune malloc; the training commands do."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ttrnn_np.cli import build_parser, main
from ttrnn_np.experiments import mnist_cli, runtime

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import contextlib, io, json, sys
from ttrnn_np.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
    try:
        code = main(sys.argv[1:])
    except SystemExit as done:
        code = done.code
loaded = [m for m in ("ttrnn_np.experiments.runtime", "ttrnn_np.experiments.mnist", "ttrnn_np.training")
          if m in sys.modules]
print(json.dumps({"code": code, "loaded": loaded, "out": out.getvalue()}))
"""


def probe(*argv):
    """Run ``ttrnn *argv`` in a fresh interpreter; its exit code, output and which modules it imported."""
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(done.stdout)


@pytest.mark.parametrize("argv", [("cost", "--hidden-size", "64", "--cores", "2"), ("--help",), ("cost", "--help"),
                                  ()])
def test_cost_and_help_load_no_training_code(argv):
    result = probe(*argv)
    assert result["code"] in (0, 2) and result["loaded"] == []
    if argv[:1] == ("cost",) and "--help" not in argv:
        assert "parameters" in result["out"] and result["code"] == 0


def test_mnist_help_loads_its_options_only():
    result = probe("mnist", "--help")
    assert result["code"] == 0 and "--hidden-size" in result["out"] and "--hidden " not in result["out"]
    assert "ttrnn_np.experiments.mnist" in result["loaded"]


def test_training_command_tunes_malloc(monkeypatch):
    calls = []
    monkeypatch.setattr(runtime, "tune_malloc", lambda: calls.append("tuned") or True)

    def stop(*args, **kwargs):
        raise RuntimeError(f"stopped before training, malloc tuned: {calls}")

    monkeypatch.setattr(mnist_cli, "run_experiment", stop)
    with pytest.raises(RuntimeError, match=r"malloc tuned: \['tuned'\]"):
        mnist_cli.run(build_parser("mnist").parse_args(["mnist", "--data", "mini"]))


# ------------------------------------------------------------------ the error policy

def ttrnn(*argv):
    """Run ``ttrnn *argv`` in this process: (exit code, stdout, stderr)."""
    import contextlib
    import io
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as done:
            code = done.code
    return code, out.getvalue(), err.getvalue()


def test_an_unknown_or_abbreviated_option_shows_the_subcommand_usage_and_the_closest_name():
    for argv in (("mnist", "--epoch", "2"), ("mnist", "--epochz", "2")):
        code, _, err = ttrnn(*argv)
        assert code == 2 and err.startswith("usage: ttrnn mnist ")
        assert f"ttrnn mnist: error: unrecognized arguments: {argv[1]} 2 ({argv[1]}: did you mean --epochs?)" in err
    code, _, err = ttrnn("cost", "--hid", "8")  # no prefix is ever taken for an option
    assert code == 2 and err.startswith("usage: ttrnn cost ") and "did you mean --hidden-size?" in err


def test_option_values_are_checked_before_any_work_and_said_in_option_names(monkeypatch):
    from ttrnn_np.experiments import mnist
    monkeypatch.setattr(mnist, "prepare_data", lambda *a, **k: pytest.fail("data were read"))
    for argv, message in [(("--gamma", "inf"), "--gamma must be a finite number > 0, got inf"),
                          (("--lr", "nan"), "--lr must be a finite number > 0, got nan"),
                          (("--cores", "0"), "--cores must be a positive integer, got 0"),
                          (("--hidden-size", "-3"), "--hidden-size must be a positive integer, got -3"),
                          (("--clip", "inf"), "--clip must be a finite number > 0 or None")]:
        code, _, err = ttrnn("mnist", "--data", "mini", *argv)
        assert code == 2 and err.startswith(f"ttrnn mnist: error: {message}") and err.count("\n") == 1, err
    code, _, err = ttrnn("cost", "--cores", "0")
    assert code == 2 and err == "ttrnn cost: error: --cores must be a positive integer, got 0\n"


def test_missing_data_is_exit_3_in_command_line_terms(tmp_path, monkeypatch):
    monkeypatch.delenv("TTRNN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    code, _, err = ttrnn("mnist", "--epochs", "1")
    assert code == 3 and err.startswith("ttrnn mnist: error: MNIST file train-images-idx3-ubyte.gz")
    assert "pass --download to fetch it into --data-dir or the user cache" in err and "--data mini" in err
    assert "download=True" not in err and "data_dir" not in err and 'source="mini"' not in err
    assert not (tmp_path / "runs").exists()  # a run that failed before writing leaves no folder


def test_exit_codes_sort_expected_failures_from_bugs(monkeypatch, capsys):
    from ttrnn_np import cli
    from ttrnn_np.errors import DataError, OutputError
    assert [cli.exit_code(e) for e in (DataError("x"), FileNotFoundError("x"), OutputError("x"), OSError("x"),
                                       ValueError("x"), KeyboardInterrupt(), ZeroDivisionError("x"))] == \
        [3, 3, 4, 4, 2, 130, 70]
    assert set(cli.EXIT_CODES) == {0, 1, 2, 3, 4, 70, 130}

    def bug(args):
        return 1 / 0

    monkeypatch.setattr(cli, "run", bug)
    code, _, err = ttrnn("cost")
    assert code == 70 and "Traceback (most recent call last)" in err and "ZeroDivisionError" in err
    assert "this is a bug, please report it" in err

    def missing(args):
        raise DataError("data.bin: truncated")

    monkeypatch.setattr(cli, "run", missing)
    assert ttrnn("cost") == (3, "", "ttrnn cost: error: data.bin: truncated\n")
    with pytest.raises(DataError):  # --debug shows the traceback of an expected failure too
        main(["cost", "--debug"])


def test_help_lists_every_command_and_benchmark_and_the_exit_codes():
    code, out, _ = ttrnn("--help")
    out = " ".join(out.split())
    assert code == 0
    for word in ("cost", "mnist", "speaker", "evaluate", "runs", "plot", "bench", "inference profile",
                 "or all of them", "exit codes:", "diverged"):
        assert word in out, word
    code, out, _ = ttrnn("mnist", "--help")
    assert "1.7 GB" in out and "2.5–4 GB" not in out and "checkpoints/best" in out


# ------------------------------------------------------------------ evaluate, runs, plot

def test_evaluate_runs_and_plot_a_saved_run(tmp_path):
    from ttrnn_np.experiments.runs import load_run
    out = tmp_path / "runs" / "mnist" / "tiny"
    argv = ["--data", "mini", "--hidden-size", "8", "--train-subset", "256", "--val-subset", "100",
            "--epochs", "2", "--lr", "1e-2", "--out", str(out)]
    assert ttrnn("mnist", *argv)[0] == 0
    recorded = json.loads((out / "results.json").read_text())
    # load_run rebuilds config, model and the best parameters
    config, model, params = load_run(out)
    assert config.hidden_size == 8 and model.cell.hidden_size == 8 and set(params) == {"layers", "head"}
    # evaluate reproduces the recorded test numbers exactly and writes predictions
    code, text, _ = ttrnn("evaluate", str(out), "--json", "--predictions", str(tmp_path / "p.csv"))
    result = json.loads(text)
    assert code == 0 and result["reproduced"] is True
    assert (result["accuracy"], result["loss"]) == (recorded["test"]["accuracy"], recorded["test"]["loss"])
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0] == "index,label,predicted" and len(lines) == 1 + recorded["data"]["n_test"]
    correct = sum(int(label) == int(pred) for _, label, pred in (line.split(",") for line in lines[1:]))
    assert correct / recorded["data"]["n_test"] == recorded["test"]["accuracy"]
    code, text, err = ttrnn("evaluate", str(out), "--split", "val")
    assert code == 0 and "val accuracy" in text and "recorded" not in text
    # numbers that are not reproduced are an error (exit 3)
    tampered = {**recorded, "test": {**recorded["test"], "accuracy": recorded["test"]["accuracy"] + 0.001}}
    (out / "results.json").write_text(json.dumps(tampered))
    code, text, err = ttrnn("evaluate", str(out))
    assert code == 3 and "differs from the recorded test numbers" in text and "the test numbers differ" in err
    (out / "results.json").write_text(json.dumps(recorded))
    # runs lists it with its numbers
    code, text, _ = ttrnn("runs", str(tmp_path / "runs"), "--json")
    rows = json.loads(text)
    assert code == 0 and [r["run"] for r in rows] == ["mnist/tiny"]
    assert rows[0]["status"] == "complete" and rows[0]["params"] == recorded["sizes"]["total"]
    assert rows[0]["test"] == f"{100 * recorded['test']['accuracy']:.2f} % acc"
    code, text, _ = ttrnn("runs", str(tmp_path / "runs"))
    assert code == 0 and "mnist/tiny" in text and "complete" in text and "lstm joint d=2 R=2 H=8" in text
    # plot draws the history
    pytest.importorskip("matplotlib")
    code, text, _ = ttrnn("plot", str(out))
    assert code == 0 and text == f"wrote {out / 'history.png'}\n"
    assert (out / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_and_plot_name_a_missing_or_unfinished_run(tmp_path):
    code, _, err = ttrnn("evaluate", str(tmp_path / "nothing"))
    assert code == 3 and err == f"ttrnn evaluate: error: no run folder {tmp_path / 'nothing'}: give the folder a " \
                                "training command wrote (its --out)\n"
    (tmp_path / "empty").mkdir()
    code, _, err = ttrnn("plot", str(tmp_path / "empty"))
    assert code == 3 and "holds no run" in err
    code, text, _ = ttrnn("runs", str(tmp_path / "empty"))
    assert code == 0 and text == f"no runs below {tmp_path / 'empty'}\n"
