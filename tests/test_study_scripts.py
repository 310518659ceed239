"""scripts/mnist_budget.py and scripts/mnist_compress.py: their plans, and a dry run of each on the mini subset."""
import argparse
import csv
import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from ttrnn_np.experiments import mnist, mnist_cli
from ttrnn_np.experiments.report import load_results
from ttrnn_np.sizes import model_sizes

ROOT = Path(__file__).resolve().parents[1]
# tiny hidden sizes give joint column modes that do not separate the gates; the scripts do not care
pytestmark = pytest.mark.filterwarnings("ignore::ttrnn_np.cells.GateAlignmentWarning")


def load_script(name):
    """A script as a module, imported the way `python scripts/<name>.py` sees its folder."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return module


def test_budget_plan_covers_every_family_near_every_budget():
    budget = load_script("mnist_budget")
    options = budget.parse([])
    plan = budget.search_plan(options)
    assert set(plan) == {(b, f) for b in budget.BUDGETS for f in budget.FAMILIES}
    for (b, family), runs in plan.items():
        assert runs, f"no {family} candidate at {b}"
        for config, out in runs:
            params = model_sizes(mnist.build_model(config))["total"]
            assert b / 2 <= params <= b and config.head == "dense" and config.layout == family
            assert out.parent == options.root / "search" and out.name.startswith(f"B{b}_{family}_H")
    assert len(plan[4000, "dense"]) == 1 and plan[4000, "dense"][0][0].hidden_size == 19
    assert any(config.rank == 1 for config, _ in plan[4000, "joint"])  # the Kronecker slice of the joint family


def test_budget_commands_rebuild_the_config():
    budget = load_script("mnist_budget")
    config = mnist.MnistConfig(layout="lowrank", hidden_size=64, rank=5, head="dense", epochs=3, train_subset=1000,
                               seed=1)
    text = budget.command(config, "runs/x")
    assert text.startswith("ttrnn mnist --layout lowrank") and text.endswith("--out runs/x --resume")
    parser = argparse.ArgumentParser()
    mnist_cli.add_arguments(parser)
    argv = text.split()[2:]
    assert mnist_cli.config_from_args(parser.parse_args(argv)) == config


def test_budget_dry_run(tmp_path, capsys):
    budget = load_script("mnist_budget")
    argv = ["--root", str(tmp_path), "--data", "mini", "--budgets", "1500", "--families", "dense", "lowrank",
            "--two-seeds", "1500", "--search-epochs", "1", "--search-train-subset", "128", "--search-val-subset",
            "100", "--epochs", "1", "--train-subset", "128"]
    assert budget.main(argv) == 0
    out = capsys.readouterr().out
    # lowrank has 2 candidates at 1.5k, dense 1; the recipe stage trains each chosen shape with 3 recipes (the
    # chosen lowrank shape's "ours" recipe run is the search's own, so it is not trained again)
    assert "search: 2 runs" in out and "recipe: 6 runs" in out and "final: 4 runs" in out
    recipe_runs = sorted(p.name for p in (tmp_path / "search").iterdir())
    assert len(recipe_runs) == 2 + 2 + 3 and sum("_lr0.01_cosine_s0" in name for name in recipe_runs) == 2
    with open(tmp_path / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["family"], r["seeds"]) for r in rows] == [("dense", "2"), ("lowrank", "2")]
    assert (tmp_path / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    text = (tmp_path / "README.md").read_text()
    assert "ttrnn mnist --layout dense --hidden-size 9" in text
    # the budgets and families this dry run left out are listed as still to run; 1.5k dense and lowrank are not
    assert "4,000 dense: search or recipe stage" in text and "1,500 lowrank" not in text
    logs = {p: p.read_text() for p in tmp_path.glob("*/*/log.txt")}
    assert budget.main(argv) == 0 and "complete" in capsys.readouterr().out  # resumed: nothing retrained
    assert {p: p.read_text() for p in tmp_path.glob("*/*/log.txt")} == logs  # nor logged again
    options = budget.parse(argv)
    finals = budget.final_plan(options, budget.choices(options, budget.search_plan(options)))
    seconds = [json.loads((options.root / "search" / budget.run_name(dataclasses.replace(c, seed=0), 1500)
                           / "results.json").read_text())["seconds_per_epoch"]["train"] for c, _ in finals]
    assert len(finals) == 4 and seconds == sorted(seconds, reverse=True)  # the slowest runs start first

    # a collapsed final run (validation accuracy falling 30 points below its best) brings in the next recipe
    chosen, score, collapsed = budget.choices(options, budget.search_plan(options))[1500, "lowrank"]
    ranked = budget._ranked(budget.recipe_plan(options, budget.shapes(options, budget.search_plan(options)))
                            [1500, "lowrank"])
    (first_config, first_score), (runner_up, runner_up_score) = ranked[:2]
    assert (chosen, score, collapsed) == (first_config, first_score, [])
    path = options.root / "final" / budget.run_name(dataclasses.replace(chosen, seed=1), 1500) / "results.json"
    results = json.loads(path.read_text())
    first = results["history"]["epochs"][0]
    results["history"]["epochs"] = [{**first, "val_accuracy": 0.9}, {**first, "epoch": 1, "val_accuracy": 0.6}]
    path.write_text(json.dumps(results))
    assert budget.main(argv) == 0
    out = capsys.readouterr().out
    assert all(f"  {budget.run_name(dataclasses.replace(runner_up, seed=seed), 1500)}: complete" in out
               for seed in (0, 1))
    after, after_score, collapsed = budget.choices(options, budget.search_plan(options))[1500, "lowrank"]
    assert (after, after_score) == (runner_up, runner_up_score) and [c for c, _ in collapsed] == [chosen]
    assert list(collapsed[0][1]) == [1]  # seed 1 collapsed, seed 0 did not
    with open(tmp_path / "summary.csv") as f:
        row = [r for r in csv.DictReader(f) if r["family"] == "lowrank"][0]
    assert row["seeds"] == "2" and float(row["lr"]) == runner_up.lr and row["schedule"] == runner_up.schedule
    assert row["collapsed"] == (f"lr {chosen.lr:g} {chosen.schedule}, seed 1: val 90.00 → 60.00 % in epoch 2, "
                                f"test {results['test']['error_pct']:.2f} %")
    assert f"- 1,500 lowrank: {row['collapsed']}" in (tmp_path / "README.md").read_text()

    # runs that collapse during an invocation send the final stage round again, until no recipe is left: with every
    # run counted as collapsed, dense trains its 2nd then 3rd recipe, lowrank (already on its 2nd) its 3rd
    budget.largest_fall = lambda results: (0.5, 1.0, results["history"]["epochs"][-1])
    assert budget.main(argv) == 0
    finals = [line for line in capsys.readouterr().out.splitlines() if line.startswith("final:")]
    assert finals == ["final: 4 runs", "final: 2 runs"]
    assert len(list((tmp_path / "final").iterdir())) == 3 * 2 * 2  # 3 recipes × 2 seeds × 2 families


def test_compress_dry_run(tmp_path, capsys):
    study = load_script("mnist_compress")
    argv = ["--root", str(tmp_path), "--data", "mini", "--hidden-size", "8", "--epochs", "1", "--train-subset",
            "128", "--cores", "2", "--ranks", "2", "--finetune-epochs", "1", "--scratch-epochs", "2",
            "--blas-threads", "1"]
    assert study.main(argv) == 0
    with open(tmp_path / "summary.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert row["cores"] == "2" and row["rank"] == "2" and row["params"] == row["scratch_params"]
    assert 0 < float(row["error_W_x"]) < 1 and row["finetuned_test"] and row["scratch_test"]
    assert row["finetune_epochs"] == "1" and row["scratch_epochs"] == "2"
    scratch = json.loads((tmp_path / "scratch" / "lstm_joint_d2_R2_row_e2" / "results.json").read_text())
    assert scratch["machine"]["blas"]["threads"] == 1  # --blas-threads, also with --jobs 1
    spectra = json.loads((tmp_path / "spectra.json").read_text())
    assert len(spectra["2"]["W_h"]["trained"]) == 1 and len(spectra["2"]["W_h"]["random"][0]) == 8  # (2·4) × (4·8): a(8) = (2, 4), a(32) = (4, 8)
    for name in ("compress.png", "spectra.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert "| W_h | matrix (low-rank UV) | 8 |" in (tmp_path / "README.md").read_text()  # H = 8: rank ≤ 8


def test_energy_rank_is_the_smallest_rank_that_keeps_the_fraction():
    study = load_script("mnist_compress")
    sigma = np.array([4.0, 3.0, 0.0])  # σ² = 16, 9, 0 of 25
    assert [study.energy_rank(sigma, f) for f in (0.5, 0.64, 0.65, 0.99, 1.0)] == [1, 1, 2, 2, 2]


def test_the_kronecker_slice_is_reported_from_the_joint_search():
    """The committed shape search of results/mnist_budget: every joint R = 1 candidate is listed with its score."""
    budget = load_script("mnist_budget")
    options = budget.parse(["--root", str(ROOT / "results" / "mnist_budget"), "--budgets", "1500", "4000"])
    plan = budget.search_plan(options)
    lines = budget.kronecker_lines(plan)
    ones = {b: [c for c, _ in plan[b, "joint"] if c.rank == 1] for b in (1500, 4000)}
    assert len(lines) == 2 and len(ones[1500]) == 1 and len(ones[4000]) == 2
    for line, b in zip(lines, (1500, 4000)):
        assert line.startswith(f"- {b:,}: ") and line.count("%;") == len(ones[b]) - 1
        assert all(f"H = {c.hidden_size}, d = {c.cores}:" in line for c in ones[b])


def test_the_reference_models_pool_the_seeds_of_the_committed_tt_head_runs():
    budget = load_script("mnist_budget")
    rows = budget.reference_rows(ROOT / "results" / "mnist_full")
    assert [(row["params"], row["seeds"]) for row in rows] == [(3898, 2), (9962, 2)]
    for row in rows:
        assert "tt head" in row["model"] and len(row["commands"]) == 2 and row["test_error_spread"] >= 0
        assert 0 < row["test_error"] < 5


def test_the_committed_collapsed_runs_hand_over_to_the_next_recipe():
    """results/mnist_budget: the 30k low-rank, naive and joint final runs at lr 1e-2 collapsed (low-rank: validation
    93.9 → 13.3 % in epoch 3), so the study reports each family's next recipe; no other final run fell 3 points."""
    budget = load_script("mnist_budget")
    options = budget.parse(["--root", str(ROOT / "results" / "mnist_budget")])
    chosen = budget.choices(options, budget.search_plan(options))
    for family in ("lowrank", "naive", "joint"):
        config, _, collapsed = chosen[30000, family]
        assert (config.lr, config.schedule) == (5e-3, "cosine")
        [(failed_config, failed)] = collapsed
        assert (failed_config.lr, list(failed)) == (1e-2, [0])
    assert all(not collapsed for (b, _), (_, _, collapsed) in chosen.items() if b < 30000)
    _, _, [(_, failed)] = chosen[30000, "lowrank"]
    fall, before, epoch = budget.largest_fall(failed[0])
    assert (round(100 * before, 2), round(100 * epoch["val_accuracy"], 2), epoch["epoch"]) == (93.89, 13.25, 2)
    passed_over = {budget.run_name(dataclasses.replace(c, seed=seed), b)
                   for (b, _), (_, _, collapsed) in chosen.items() for c, runs in collapsed for seed in runs}
    finals = load_results(options.root / "final")
    assert passed_over <= set(finals)
    for name, results in finals.items():
        assert (budget.largest_fall(results)[0] > budget.COLLAPSE_DROP) == (name in passed_over)
        if name not in passed_over:
            assert budget.largest_fall(results)[0] < 0.03, name
