"""The ``ttrnn`` command loads only what the chosen subcommand needs: ``cost`` and ``--help`` neither import the
training code nor tune malloc; the training commands do."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ttrnn_np.cli import build_parser
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
