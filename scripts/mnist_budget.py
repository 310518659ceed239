"""Row-MNIST at equal parameter budgets: the best configuration of each recurrent family near 1.5k, 4k, 10k, 30k.

Families (``sizes.configs_for_budget``): small dense (the largest H that fits), low-rank (W = U V, rank r per H),
naive TT and joint TT (the largest rank R per H and d); the Kronecker family is the joint family at R = 1 and
enters through the joint grid.  Every model counts all its parameters (cell, biases, head) and has the same head
rule: a dense 10-class head.  Candidates: H ∈ {16, 32, 64, 128, 256}, d ∈ {2, 3, 4}, ranks up to 64, at least half
the budget.

Stage 1, search (``ROOT/search/<run>``): every candidate of a family with more than one, trained on a seeded
``--search-train-subset`` of the 50,000 training images for ``--search-epochs``, scored by its best validation
accuracy on ``--search-val-subset`` validation images (the test set is not read: each search run's one test
evaluation is written to its results.json but never used here).  The family's choice is the best score (ties: fewer
parameters).  Stage 2, recipe (``ROOT/search/<run>_lr…``): the chosen shape trained the same way with each recipe of
``RECIPE_VARIANTS`` besides the "ours" recipe the shapes were searched with (lr 2e-3, step decay) — the TT models
of ``results/mnist_full`` did best at lr 5e-3–1e-2 with a cosine schedule; the best validation accuracy picks the
recipe (ties: the "ours" recipe).  Stage 3, final (``ROOT/final/<run>``): each choice trained on all 50,000 images
with its recipe (20 epochs, validation selection over epochs, one test evaluation), seeds 0 and 1 at the budgets of
``--two-seeds`` (4k, 10k), seed 0 elsewhere.  A final run whose validation accuracy falls more than
``COLLAPSE_DROP`` below its best so far has collapsed: the recipe failed at full length, so the family's next recipe
by search score is trained in its place (the collapsed runs stay in ``ROOT/final`` and the report names them).
Stage 4, report: ``ROOT/summary.csv``, ``ROOT/README.md`` (table, commands, machine) and ``ROOT/pareto.png`` (test
error against parameters per family, the Pareto front in grey), with the joint TT-LSTMs that have the paper's TT
head (``--references``: results/mnist_full, not searched) beside the families, and the Kronecker slice of the joint
search (R = 1) listed.

Resumable: a finished run (same config) is skipped, an interrupted one continues from its ``last`` checkpoint.

    python scripts/mnist_budget.py --jobs 2                        # everything (many hours on 2 cores)
    python scripts/mnist_budget.py --stage search --jobs 2         # stage 1 only
    python scripts/mnist_budget.py --report-only
    python scripts/mnist_budget.py --root /tmp/budget_dry --data mini --budgets 1500 4000 --search-epochs 1 \\
        --search-train-subset 500 --search-val-subset 300 --epochs 1 --train-subset 1000   # a dry run in minutes
"""
import argparse
import dataclasses
import io
import json
import multiprocessing
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from ttrnn_np.experiments.mnist import RECIPES, MnistConfig, build_model, run_experiment
from ttrnn_np.experiments.report import load_results, markdown_table, pareto_front, plot_error_vs_params, write_csv
from ttrnn_np.experiments.runfolder import RESULTS_FILE
from ttrnn_np.experiments.runtime import machine_info, set_blas_threads, tune_malloc
from ttrnn_np.sizes import configs_for_budget, model_sizes

ROOT = Path("results/mnist_budget")
# The paper's own design beside the families: joint TT with a TT head (same d and R), full data, 20 epochs, cosine
REFERENCES = Path("results/mnist_full")
REFERENCE_GLOB = "lstm_joint_*_cosine*"
BUDGETS = (1500, 4000, 10000, 30000)
FAMILIES = ("dense", "lowrank", "naive", "joint")
COLUMNS = [("budget", "budget", ",d"), ("family", "family", None), ("hidden_size", "H", "d"), ("cores", "d", "d"),
           ("rank", "R", "d"), ("params", "params", ",d"), ("lr", "lr", "g"), ("schedule", "schedule", None),
           ("search_val", "search val %", ".2f"),
           ("seeds", "seeds", "d"), ("val_acc", "val acc %", ".2f"), ("test_acc", "test acc %", ".2f"),
           ("test_error", "test error %", ".2f"), ("test_error_spread", "± (max−min)/2", ".2f")]
REFERENCE_COLUMNS = [("model", "model", None), ("params", "params", ",d"), ("lr", "lr", "g"),
                     ("schedule", "schedule", None), ("seeds", "seeds", "d"), ("test_error", "test error %", ".2f"),
                     ("test_error_spread", "± (max−min)/2", ".2f")]
CSV_KEYS = ["budget", "family", "hidden_size", "cores", "rank", "params", "lr", "schedule", "search_val", "seeds",
            "val_acc", "test_acc", "test_error", "test_error_spread", "test_errors", "runs", "collapsed"]


# Stage 2's recipes, tried on each family's chosen shape besides the "ours" recipe (lr 2e-3, step decay)
RECIPE_VARIANTS = ({"lr": 5e-3, "schedule": "cosine"}, {"lr": 1e-2, "schedule": "cosine"})
# A fall of validation accuracy below its best so far that marks a final run as collapsed (in results/mnist_budget
# the collapsed runs fell 66–81 points, every other final run less than 3, all but one less than 1)
COLLAPSE_DROP = 0.10


def run_name(config, budget):
    """B<budget>_<family>_H<H>[_d<d>][_R<R>][_lr<lr>_<schedule>]_s<seed> (the recipe only when not "ours")."""
    shape = "" if config.layout == "dense" else (f"_R{config.rank}" if config.layout == "lowrank"
                                                  else f"_d{config.cores}_R{config.rank}")
    ours = RECIPES["ours"]
    recipe = "" if (config.lr, config.schedule) == (ours["lr"], ours["schedule"]) else \
        f"_lr{config.lr:g}_{config.schedule}"
    return f"B{budget}_{config.layout}_H{config.hidden_size}{shape}{recipe}_s{config.seed}"


def candidate_config(candidate, **settings):
    """The MnistConfig of a ``configs_for_budget`` candidate (dense head), checked to have its parameter count."""
    config = MnistConfig(**{**RECIPES["ours"], **settings}, layout=candidate["layout"],
                         hidden_size=candidate["hidden_size"], cores=candidate["cores"] or 2,
                         rank=candidate["rank"] or 2, head="dense")
    params = model_sizes(build_model(config))["total"]
    if params != candidate["params"]:
        raise AssertionError(f"{candidate} builds a model of {params:,} parameters")
    return config


def command(config, out):
    """The ``ttrnn mnist`` command of a run: the options that differ from the "ours" recipe's defaults."""
    default = MnistConfig(**RECIPES["ours"])
    argv = ["--layout", config.layout]
    for field in dataclasses.fields(MnistConfig):
        value = getattr(config, field.name)
        if field.name != "layout" and value != getattr(default, field.name) and value is not None:
            argv += [f"--{field.name.replace('_', '-')}", str(value)]
    return "ttrnn mnist " + shlex.join(argv + ["--out", str(out), "--resume"])


def train(job):
    """Run (or skip, or resume) one config into ``out``; returns (out, status line).  A worker's entry point."""
    config_dict, out, blas_threads, quiet = job
    tune_malloc()
    if blas_threads is not None:
        set_blas_threads(blas_threads)
    config, out = MnistConfig(**config_dict), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    finished = (out / RESULTS_FILE).exists()  # checked against the config, not retrained, and not logged again
    with io.StringIO() if finished else open(out / "log.txt", "a") as log:
        results = run_experiment(config, out=out, resume=True, progress=not quiet, stream=log if quiet else sys.stdout,
                                 command=command(config, out))
    best = results["best"]
    return out, f"{results['status']}, best val {100 * best['val_accuracy']:.2f} %" if best else results["status"]


def run_all(jobs, workers):
    """Train every job, ``workers`` at a time (worker processes with one BLAS thread each when workers > 1)."""
    if workers == 1:
        yield from map(train, jobs)
        return
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap_unordered(train, jobs)


def search_plan(options):
    """{(budget, family): [(config, run dir)]}: the candidates of every family near every budget."""
    plan = {}
    for budget in options.budgets:
        for family in options.families:
            candidates = configs_for_budget(family, budget, input_size=28, kind="lstm", head="dense")
            configs = [candidate_config(c, epochs=options.search_epochs, train_subset=options.search_train_subset,
                                        val_subset=options.search_val_subset, data=options.data, seed=0)
                       for c in candidates]
            plan[budget, family] = [(c, options.root / "search" / run_name(c, budget)) for c in configs]
    return plan


def _ranked(runs):
    """[(config, best validation accuracy)] of ``runs`` [(config, run dir)], the best first (ties: the earlier run,
    then fewer parameters); None while one of them has no results."""
    scored = []
    for k, (config, out) in enumerate(runs):
        path = out / "results.json"
        if not path.exists():
            return None
        best = json.loads(path.read_text())["best"]
        params = model_sizes(build_model(config))["total"]
        scored.append((-(best["val_accuracy"] if best else 0.0), params, k, config))
    return [(config, -score) for score, _, _, config in sorted(scored, key=lambda s: s[:3])]


def _best(runs):
    """The first of ``_ranked(runs)``: (config, best validation accuracy), or None while a run has no results."""
    ranked = _ranked(runs)
    return ranked and ranked[0]


def largest_fall(results):
    """(fall, best before it, its epoch's record): the largest fall of a run's validation accuracy below its best so
    far; (0, 0, None) for a run that never fell."""
    best, fall = 0.0, (0.0, 0.0, None)
    for epoch in results["history"]["epochs"]:
        if best - epoch["val_accuracy"] > fall[0]:
            fall = (best - epoch["val_accuracy"], best, epoch)
        best = max(best, epoch["val_accuracy"])
    return fall


def _final_runs(options, config, budget):
    """{seed: results} of the finished final runs of ``config`` (a search config) at ``budget``."""
    finals = {}
    for seed in ((0, 1) if budget in options.two_seeds else (0,)):
        path = options.root / "final" / run_name(dataclasses.replace(config, seed=seed), budget) / RESULTS_FILE
        if path.exists():
            finals[seed] = json.loads(path.read_text())
    return finals


def shapes(options, plan):
    """{(budget, family): chosen shape's config}: the best searched candidate of each family (a single candidate
    needs no search); families whose shape search is not finished are left out."""
    chosen = {}
    for key, runs in plan.items():
        best = (runs[0][0], None) if len(runs) == 1 else _best(runs)
        if best is not None:
            chosen[key] = best[0]
    return chosen


def recipe_plan(options, shape_choices):
    """{(budget, family): [(config, run dir)]}: the chosen shape with the "ours" recipe and each variant."""
    return {(budget, family): [(c, options.root / "search" / run_name(c, budget))
                               for c in [config] + [dataclasses.replace(config, **v) for v in RECIPE_VARIANTS]]
            for (budget, family), config in shape_choices.items()}


def choices(options, plan):
    """{(budget, family): (chosen config, its search score, collapsed)}: each family's shape and the best recipe by
    search score none of whose final runs collapsed; ``collapsed`` [(config, {seed: results})] are the recipes passed
    over for it.  Families whose search is not finished are left out."""
    chosen = {}
    for (budget, family), runs in recipe_plan(options, shapes(options, plan)).items():
        ranked = _ranked(runs)
        if ranked is None:
            continue
        collapsed = []
        for config, score in ranked:
            failed = {seed: r for seed, r in _final_runs(options, config, budget).items()
                      if largest_fall(r)[0] > COLLAPSE_DROP}
            if not failed:
                break
            collapsed.append((config, failed))
        chosen[budget, family] = (config, score, collapsed)  # every recipe collapsed: the last one is reported
    return chosen


def final_plan(options, chosen):
    """[(config, run dir)] of the full-data runs of the chosen configurations, with their seeds, the slowest first
    (by the epoch time its search run measured), so that two workers finish close together."""
    runs = []
    for (budget, family), (config, *_) in chosen.items():
        search = json.loads((options.root / "search" / run_name(config, budget) / "results.json").read_text())
        for seed in ((0, 1) if budget in options.two_seeds else (0,)):
            final = dataclasses.replace(config, epochs=options.epochs, train_subset=options.train_subset,
                                        val_subset=None, seed=seed)
            runs.append((-search["seconds_per_epoch"]["train"], len(runs), final,
                         options.root / "final" / run_name(final, budget)))
    return [(final, out) for *_, final, out in sorted(runs)]


def collapse_note(config, failed):
    """"lr 0.01 cosine, seed 0: val 93.89 → 13.25 % in epoch 3, test 5.53 %": the collapsed final runs of a recipe."""
    notes = []
    for seed, results in sorted(failed.items()):
        _, before, epoch = largest_fall(results)
        notes.append(f"seed {seed}: val {100 * before:.2f} → {100 * epoch['val_accuracy']:.2f} % in epoch "
                     f"{epoch['epoch'] + 1}, test {results['test']['error_pct']:.2f} %")
    return f"lr {config.lr:g} {config.schedule}, " + ", ".join(notes)


def half_range(errors):
    """(max − min) / 2 of the seeds' test errors; None for a single seed."""
    return (max(errors) - min(errors)) / 2 if len(errors) > 1 else None


def summary(options, chosen):
    """One row per (budget, family): the chosen config, its search score, the final runs' accuracies."""
    finals = load_results(options.root / "final") if (options.root / "final").is_dir() else {}
    rows = []
    for (budget, family), (config, score, collapsed) in sorted(chosen.items()):
        prefix = run_name(dataclasses.replace(config, seed=0), budget)[:-len("_s0")]
        runs = {name: r for name, r in finals.items() if name.rsplit("_s", 1)[0] == prefix and r.get("test")}
        errors = [r["test"]["error_pct"] for r in runs.values()]
        rows.append({"budget": budget, "family": family, "hidden_size": config.hidden_size,
                     "cores": config.cores if family not in ("dense", "lowrank") else None,
                     "rank": None if family == "dense" else config.rank,
                     "params": model_sizes(build_model(config))["total"],
                     "lr": config.lr, "schedule": config.schedule,
                     "search_val": None if score is None else 100 * score, "seeds": len(runs),
                     "val_acc": np.mean([100 * r["best"]["val_accuracy"] for r in runs.values()]) if runs else None,
                     "test_acc": 100 - np.mean(errors) if errors else None,
                     "test_error": np.mean(errors) if errors else None,
                     "test_error_spread": half_range(errors),
                     "test_errors": " ".join(f"{e:.2f}" for e in errors), "runs": " ".join(sorted(runs)),
                     "collapsed": "; ".join(collapse_note(c, failed) for c, failed in collapsed),
                     "commands": [r["command"] for r in runs.values()]})
    return rows


def reference_rows(folder, pattern=REFERENCE_GLOB):
    """One row per model among the finished runs ``folder/pattern`` (seeds pooled): the joint TT-LSTMs with a TT
    head trained with the final runs' protocol outside this study (not searched, not at a budget)."""
    runs = load_results(folder) if Path(folder).is_dir() else {}
    models = {}
    for name, r in runs.items():
        if Path(folder, name).match(pattern) and r.get("test"):
            config = MnistConfig.from_dict(r["config"])
            models.setdefault(dataclasses.replace(config, seed=0), []).append(r)
    rows = []
    for config, runs in models.items():
        errors = [r["test"]["error_pct"] for r in runs]
        rows.append({"model": f"joint TT d={config.cores} R={config.rank}, {config.head} head, H={config.hidden_size}",
                     "label": f"d={config.cores} R={config.rank}",
                     "params": runs[0]["sizes"]["total"], "lr": config.lr, "schedule": config.schedule,
                     "seeds": len(runs), "test_error": np.mean(errors),
                     "test_error_spread": half_range(errors), "commands": [r["command"] for r in runs]})
    return sorted(rows, key=lambda row: row["params"])


def pareto(rows, references, path):
    """Test error against parameters, one line per family across the budgets and one for the reference models, the
    families' Pareto front in grey."""
    import matplotlib
    matplotlib.use("Agg")
    done = [row for row in rows if row["test_error"] is not None]
    groups = {family: [(row["params"], row["test_error"], f"{row['budget'] / 1000:g}k", row["test_error_spread"])
                       for row in done
                       if row["family"] == family] for family in dict.fromkeys(row["family"] for row in done)}
    front = pareto_front([(row["params"], row["test_error"]) for row in done])
    if references:
        groups["joint TT, TT head (reference, not searched)"] = [
            (row["params"], row["test_error"], row["label"], row["test_error_spread"]) for row in references]
    fig, ax = plot_error_vs_params(groups, background={"Pareto front of the families": front} if front else None,
                                   title="Row-MNIST at equal budgets: test error vs parameters")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def _missing(options, rows):
    """["<budget> <family>: <what is missing>"] for every (budget, family) of the full study without all its final
    runs (``BUDGETS`` × ``options.families``, seeds per ``--two-seeds``)."""
    done = {(row["budget"], row["family"]): row["seeds"] for row in rows}
    missing = []
    for budget in BUDGETS:
        for family in options.families:
            seeds = 2 if budget in options.two_seeds else 1
            have = done.get((budget, family))
            if have is None:
                missing.append(f"{budget:,} {family}: search or recipe stage")
            elif have < seeds:
                missing.append(f"{budget:,} {family}: {have} of {seeds} final run(s) finished")
    return missing


def kronecker_lines(plan):
    """Markdown lines: the joint family's R = 1 candidates (a Kronecker product per matrix) against the family's
    best searched shape, by search score ("ours" recipe), per budget whose joint search has finished."""
    lines = []
    for (budget, family), runs in sorted(plan.items()):
        if family != "joint" or not all((out / "results.json").exists() for _, out in runs):
            continue
        scored = [(config, json.loads((out / "results.json").read_text())["best"]) for config, out in runs]
        best_config, best = max(scored, key=lambda s: s[1]["val_accuracy"] if s[1] else 0.0)
        ones = [f"H = {c.hidden_size}, d = {c.cores}: {100 * b['val_accuracy']:.2f} %" for c, b in scored
                if c.rank == 1 and b]
        lines.append(f"- {budget:,}: " + ("; ".join(ones) if ones else "no R = 1 candidate")
                     + f" — best joint shape H = {best_config.hidden_size}, d = {best_config.cores}, "
                       f"R = {best_config.rank}: {100 * best['val_accuracy']:.2f} %")
    return lines


def readme(options, rows, plan, references):
    """ROOT/README.md: the protocol, the invocations, the machine, the table, the commands."""
    log = json.loads((options.root / "budget.json").read_text()) if (options.root / "budget.json").exists() else []
    finals = load_results(options.root / "final") if (options.root / "final").is_dir() else {}
    machine = next(iter(finals.values()))["machine"] if finals else machine_info()
    lines = ["# Row-MNIST at equal parameter budgets", "",
             "Generated by `scripts/mnist_budget.py` (`python scripts/mnist_budget.py --report-only --root "
             f"{options.root}`); the protocol is in the script's docstring.", "", "## How it was run", ""]
    lines += [f"- `{entry['command']}` ({entry['started']} → {entry.get('finished', 'interrupted')})" for entry in log]
    lines += [f"- machine: {machine['cpu_count']} cores, {machine['blas']['name']} {machine['blas']['version']} with "
              f"{machine['blas']['threads']} thread(s), numpy {machine['numpy']}, Python {machine['python']}", "",
              "## Results", "", markdown_table(rows, COLUMNS), "",
              "Test error: mean over the seeds of the final runs, each the one test evaluation of its best-validation "
              "epoch; ± is half the range over seeds.  lr, schedule: the recipe the recipe stage chose.  search val: "
              "the best validation accuracy of the chosen shape and recipe in the search (a subset of the data, "
              "fewer epochs: see the protocol).", "",
              "![test error vs parameters](pareto.png)", ""]
    collapsed = [f"- {row['budget']:,} {row['family']}: {row['collapsed']}" for row in rows if row["collapsed"]]
    if collapsed:
        lines += [f"Collapsed final runs (validation accuracy fell more than {100 * COLLAPSE_DROP:g} points below its "
                  "best so far; the row above is the family's next recipe by search score):", ""] + collapsed + [""]
    kronecker = kronecker_lines(plan)
    if kronecker:
        lines += ["The Kronecker family is the joint family at R = 1 (each matrix a Kronecker product of d small "
                  "factors), so it is searched with it; its candidates' search scores (validation accuracy, "
                  "\"ours\" recipe):", ""] + kronecker + [""]
    if references:
        lines += ["For reference, not part of the search: the joint TT-LSTMs with the paper's TT head (the head in "
                  "TT form with the cell's d and R, in place of a dense head's K(H + 1) = 2,570 parameters at H = 256), "
                  f"trained with the final runs' protocol in `{options.references}`:", "",
                  markdown_table(references, REFERENCE_COLUMNS), ""]
        lines += [f"- `{c}`" for row in references for c in row["commands"]] + [""]
    missing = _missing(options, rows)
    if missing:
        lines += ["Not run to the end yet (the study is resumable: `python scripts/mnist_budget.py --jobs 2`): "
                  + "; ".join(missing) + ".", ""]
    lines += ["Commands of the final runs:", ""]
    lines += [f"- `{c}`" for row in rows for c in row["commands"]]
    (options.root / "README.md").write_text("\n".join(lines) + "\n")


def report(options, plan, chosen):
    rows, references = summary(options, chosen), reference_rows(options.references)
    write_csv(options.root / "summary.csv", rows, CSV_KEYS)
    pareto(rows, references, options.root / "pareto.png")
    readme(options, rows, plan, references)
    return rows


def stage_runs(options, plan, stage):
    """[(config, run dir)] of a stage, as far as the stages before it have finished."""
    if stage == "search":
        return [run for runs in plan.values() if len(runs) > 1 for run in runs]
    if stage == "recipe":
        return [run for runs in recipe_plan(options, shapes(options, plan)).values() for run in runs]
    return final_plan(options, choices(options, plan))


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=ROOT, help=f"results directory (default {ROOT})")
    parser.add_argument("--references", type=Path, default=REFERENCES,
                        help=f"folder of reference runs ({REFERENCE_GLOB}) for the figure and README "
                             f"(default {REFERENCES})")
    parser.add_argument("--stage", choices=("search", "recipe", "final", "all"), default="all", help="what to train")
    parser.add_argument("--report-only", action="store_true", help="write the table, figure and README only")
    parser.add_argument("--budgets", type=int, nargs="+", default=list(BUDGETS), help="parameter budgets")
    parser.add_argument("--families", nargs="+", choices=FAMILIES + ("joint_gate_core",), default=list(FAMILIES))
    parser.add_argument("--two-seeds", type=int, nargs="*", default=[4000, 10000], help="budgets with seeds 0 and 1")
    parser.add_argument("--search-epochs", type=int, default=5, help="epochs of a search run (default 5)")
    parser.add_argument("--search-train-subset", type=int, default=10000, help="training images per search run")
    parser.add_argument("--search-val-subset", type=int, default=5000, help="validation images per search run")
    parser.add_argument("--epochs", type=int, default=20, help="epochs of a final run (default 20)")
    parser.add_argument("--train-subset", type=int, default=None, help="training images per final run (default all)")
    parser.add_argument("--data", choices=("full", "mini"), default="full", help="full (default) or mini")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (worker processes, one BLAS thread)")
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="BLAS threads per run (default: 1 with --jobs > 1, else the BLAS library's default)")
    return parser.parse_args(argv)


def main(argv=None):
    options = parse(argv)
    options.root.mkdir(parents=True, exist_ok=True)
    plan = search_plan(options)
    if not options.report_only:
        log_path = options.root / "budget.json"
        log = json.loads(log_path.read_text()) if log_path.exists() else []
        entry = {"command": "python scripts/mnist_budget.py " + shlex.join(sys.argv[1:] if argv is None else argv),
                 "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
        log_path.write_text(json.dumps(log + [entry], indent=1))
        blas, quiet = options.blas_threads or (1 if options.jobs > 1 else None), options.jobs > 1
        stages = ("search", "recipe", "final") if options.stage == "all" else (options.stage,)
        for stage in stages:
            done = []  # the final stage goes round again when a collapsed run brings in the next recipe
            while runs := [run for run in stage_runs(options, plan, stage) if run not in done]:
                print(f"{stage}: {len(runs)} runs", flush=True)
                for out, status in run_all([(dataclasses.asdict(c), str(out), blas, quiet) for c, out in runs],
                                           options.jobs):
                    print(f"  {Path(out).name}: {status}", flush=True)
                done += runs
        # read again: an invocation running beside this one may have added its own entry since
        log = [e for e in json.loads(log_path.read_text()) if e != entry]
        entry["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        log_path.write_text(json.dumps(sorted(log + [entry], key=lambda e: e["started"]), indent=1))
    rows = report(options, plan, choices(options, plan))
    print(f"{len(rows)} (budget, family) rows → {options.root / 'summary.csv'}, {options.root / 'pareto.png'}, "
          f"{options.root / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
