"""ttrnn_np.experiments.stability: the sweep's configs, the stored study, the measurements' records."""
from pathlib import Path

import numpy as np
import pytest

from ttrnn_np.experiments import stability

ROOT = Path(__file__).resolve().parents[1]


def test_sweep_configs_follow_the_papers_recipe_for_both_models():
    configs = stability.sweep_configs([1e-2, 1e-3, 1e-2], hidden_size=16, epochs=1, train_subset=256,
                                      val_subset=128, data="mini", cores=3, rank=2)
    assert sorted(configs) == [(m, lr) for m in stability.MODELS for lr in (1e-3, 1e-2)]
    for (model, lr), config in configs.items():
        assert (config.lr, config.clip, config.schedule, config.step_size, config.gamma) == (lr, None, "step", 10, 0.1)
        assert config.layout == ("dense" if model == "dense" else "joint")
    assert (configs["tt", 1e-3].cores, configs["tt", 1e-3].rank, configs["tt", 1e-3].hidden_size) == (3, 2, 16)
    assert stability.model_label(configs["tt", 1e-3]) == "joint TT-LSTM d=3 R=2"


def test_the_stored_study_loads_and_its_rows_are_those_of_lr_row():
    study = stability.load_study(ROOT / "results" / "mnist_stability")
    if study is None:
        pytest.skip("results/mnist_stability/stability.json is not in this checkout")
    assert {row["model"] for row in study["lr_sweep"]} == set(stability.MODELS)
    run = ROOT / "results" / "mnist_stability" / "runs" / "lstm_joint_d2_R4_row_lr0.01" / "results.json"
    import json
    row = stability.lr_row("tt", json.loads(run.read_text()))
    stored = next(r for r in study["lr_sweep"] if r["model"] == "tt" and r["lr"] == 0.01)
    assert row["best_val_pct"] == pytest.approx(stored["best_val_pct"])
    assert stability.load_study(ROOT / "no such folder") is None


@pytest.mark.parametrize("lo, hi, labels", [
    (0.13, 2.7, ["0.2", "0.5", "1", "2"]),                    # the stored study's range: 1, 2, 5 × 10^k
    (0.085, 0.31, ["0.1", "0.2", "0.3"]),                     # too short for 1-2-5: 1, 2, 3, 5 × 10^k
    (0.31, 0.93, ["0.4", "0.5", "0.6", "0.7", "0.8", "0.9"]),  # too short for those: every 1…9 × 10^k
    (1.13, 1.47, ["1.2", "1.3", "1.4"]),                      # inside one step: evenly spaced round numbers
    (2e-4, 3e2, ["0.001", "0.01", "0.1", "1", "10", "100"]),   # too long for 1-2-5: the powers of ten
])
def test_the_gradient_norm_histogram_labels_several_ticks_on_its_log_axis(lo, hi, labels):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    norms = list(np.geomspace(lo, hi, 50))  # (50,)
    record = {"lr": 1e-2, "steps": len(norms), "norms": norms, "median": float(np.median(norms))}
    fig, ax = stability.plot_grad_norm_hist({"tt": record}, {"tt": "TT"})
    fig.canvas.draw()
    shown = [t.get_text() for t in ax.get_xticklabels() if t.get_text() and lo <= t.get_position()[0] <= hi]
    plt.close(fig)
    assert shown == labels, f"expected the labelled ticks {labels} between {lo} and {hi}, got {shown}"
