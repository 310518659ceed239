"""The trained models shipped in results/ (``results/**/models/<run>/`` and the equal-budget study's final runs,
``results/mnist_budget/final/<run>/``): each loads with ``load_run`` into the model its results describe, and
``ttrnn evaluate`` reproduces its recorded test numbers exactly on the kind of CPU it was trained on, closely on
another (real data)."""
import json
import os
from pathlib import Path

import pytest

from ttrnn_np.cli import main as ttrnn_main
from ttrnn_np.experiments.runs import evaluate_run, load_run, recorded_blas_threads, run_kind
from ttrnn_np.experiments.runtime import machine_info, set_blas_threads
from ttrnn_np.pytree import num_params

ROOT = Path(__file__).resolve().parents[1]
MODELS = sorted(p.parent for p in ROOT.glob("results/**/models/*/results.json"))
SHIPPED = MODELS + sorted(p.parent for p in ROOT.glob("results/mnist_budget/final/*/results.json"))
MNIST = [p for p in SHIPPED if json.loads((p / "results.json").read_text())["config"].get("view") is not None]


def test_models_are_shipped_with_their_best_checkpoint():
    assert len(SHIPPED) >= 11, [str(p) for p in SHIPPED]  # the speaker grid's 10 and row-MNIST's dense one at least
    for run in SHIPPED:
        best = run / "checkpoints" / "best.npz"
        assert best.is_file() and best.stat().st_size < 1.5e6, f"{run}: no best checkpoint under 1.5 MB"
    for run in MODELS:  # a final run of the budget study may keep its (git-ignored) last checkpoint
        assert not (run / "checkpoints" / "last.npz").exists()  # only what predicting needs


@pytest.mark.parametrize("run", SHIPPED, ids=lambda p: p.name)
def test_a_shipped_model_loads_into_the_model_its_results_describe(run):
    results = json.loads((run / "results.json").read_text())
    config, model, params = load_run(run)
    assert config.name == results["name"]
    if run_kind(results, results["config"]) == "speaker":
        assert num_params(params["encoder"]) == results["params"]
    else:
        assert num_params(params) == results["sizes"]["total"]
    assert "/work/" not in (run / "results.json").read_text()  # no machine paths in what ships


@pytest.mark.skipif(not os.environ.get("TTRNN_DATA"), reason="TTRNN_DATA is not set (the real MNIST test set)")
@pytest.mark.parametrize("run", MNIST, ids=lambda p: p.name)
def test_evaluating_a_shipped_mnist_model_reproduces_its_test_numbers_exactly(run, capsys):
    """Exactly on the kind of CPU the model was trained on; closely on another, whose BLAS kernels sum float32
    in another order (an AMD-trained model evaluated on an Intel machine differs in the loss's last digits)."""
    assert recorded_blas_threads(run) == 1
    results = json.loads((run / "results.json").read_text())
    recorded = results["test"]
    if results["machine"]["cpu"] == machine_info()["cpu"]:
        assert ttrnn_main(["evaluate", str(run), "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["reproduced"] is True and out["accuracy"] == recorded["accuracy"] and out["loss"] == recorded["loss"]
    else:
        set_blas_threads(1)
        out = evaluate_run(run)
        assert abs(out["accuracy"] - recorded["accuracy"]) <= 5e-4  # at most 5 of the 10,000 test images
        assert abs(out["loss"] - recorded["loss"]) <= 1e-3 * recorded["loss"]
