"""ttrnn_np.experiments.stability: the sweep's configs, the stored study, the measurements' records."""
from pathlib import Path

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
