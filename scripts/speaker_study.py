"""The AN4 speaker-verification study: TT vs dense encoders, every EER with a 95 % speaker-bootstrap interval.

Runs (each ``ttrnn_np.experiments.speaker.train`` on corpus "an4", trained until its validation EER plateaus):
  * grid: the dense LSTM and joint TT-LSTMs with d = 2, 3, 4 cores × R = 1, 2, 4 (TT head), seed 11;
  * seeds: seeds 12 and 13 for the dense LSTM and for the best TT (lowest validation EER in the grid);
  * efficiency: the first 25 % and 50 % of the training speakers (of each corpus), dense and best TT, seed 11.
The best TT's seeds and efficiency runs wait until the grid is finished (they need its best TT; the dense
ones do not).  The no-training baseline is scored on the same trials inside every run.

Resumable across sessions: each run keeps its checkpoints in ``<runs>/<name>/`` and, when finished, its results
(without the per-step history) in ``<out>/runs/<name>.json``; a run whose results exist with the same settings
is skipped, an interrupted one continues from its last checkpoint.  ``--workers 2`` trains two runs at a time,
one BLAS thread each.  Afterwards ``<out>/`` holds ``summary.json``, ``summary.csv``, ``README.md`` (the tables
with intervals and the targets checked), ``eer_vs_params.png`` and ``models/<name>/`` (results and best checkpoint
of each grid run, loadable with ``ttrnn_np.experiments.runs.load_run``).

    TTRNN_DATA=/path/to/data python scripts/speaker_study.py --workers 2
    python scripts/speaker_study.py --dry-run          # the plan: what is done, what is left
    python scripts/speaker_study.py --summary-only     # tables and figure from the finished runs
"""
import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # one BLAS thread per run: small matrices, shared cores

import argparse  # noqa: E402
import csv  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from ttrnn_np.experiments import speaker as sv  # noqa: E402
from ttrnn_np.experiments import speaker_cli  # noqa: E402
from ttrnn_np.experiments.report import plot_eer_vs_params  # noqa: E402
from ttrnn_np.experiments.runfolder import RESULTS_FILE, checkpoint_dir, write_json  # noqa: E402
from ttrnn_np.experiments.runtime import machine_info, tune_malloc  # noqa: E402

CORES, RANKS = (2, 3, 4), (1, 2, 4)
# Sized so that one run converges in about 30–40 min on a shared core (see results/speaker/README.md, "Sizing"):
# H = 128 (the SpeakerConfig default), T = 80, batch 16 × 8, validation every 100 steps, stop after 8 without
# a 0.5 % improvement, cap 5,000 steps.
STUDY = {"frames": 80, "max_steps": 5000, "patience": 8}
EXTRA_SEEDS = (12, 13)
FRACTIONS = (0.25, 0.5)
# The paper's speaker-verification results (LibriSpeech, H = 768): test EER % and parameters per (cores, rank)
PAPER_GRID = {2: ((4.712, 8176), (4.345, 13024), (6.875, 17872), (6.214, 22720)),
              3: ((6.094, 4104), (5.313, 5392), (5.469, 7192), (5.385, 9504)),
              4: ((5.337, 3668), (5.577, 4312), (5.312, 5260), (4.279, 6512))}
PAPER_DENSE = (7.333, 2682112)
PAPER_EFFICIENCY = {"dense": (12.89, 10.27, 8.56, 7.91, 7.33), "TT": (10.47, 7.17, 5.04, 6.54, 4.34)}
CSV_FIELDS = ("name", "layout", "cores", "rank", "hidden_size", "frames", "fraction", "seed", "params", "compression",
              "train_speakers", "steps", "stop_reason", "best_step", "val_eer",
              "an4_eer", "an4_low", "an4_high", "an4_pairwise_eer", "an4_pairwise_low", "an4_pairwise_high",
              "ls_eer", "ls_low", "ls_high", "wall_time_s", "steps_per_s")


def base_config(args, **overrides):
    """A SpeakerConfig with the study's shared settings."""
    shared = dict(corpus="an4", hidden_size=args.hidden_size, frames=args.frames, speakers_per_batch=args.N,
                  utterances_per_speaker=args.M, max_steps=args.max_steps, eval_every=args.eval_every,
                  patience=args.patience, min_delta=args.min_delta, val_speakers=args.val_speakers,
                  eval_speakers=args.eval_speakers)
    return sv.SpeakerConfig(**{**shared, **overrides})


def grid(args):
    """Dense and the joint TT cores × ranks, seed 11, all training speakers."""
    return [base_config(args, layout="dense", seed=11)] + [base_config(args, layout="joint", cores=d, rank=R, seed=11)
                                                          for d in CORES for R in RANKS]


def best_tt(args):
    """The grid's joint TT with the lowest validation EER (None until every grid run is finished)."""
    results = [done(args, c) for c in grid(args) if c.layout != "dense"]
    if any(r is None for r in results):
        return None
    best = min(results, key=lambda r: r["best"]["val_eer"])
    return sv.SpeakerConfig(**best["config"])


def plan(args):
    """The configurations to run, in order, and a note on what waits (no duplicates).

    The dense model's extra seeds and speaker fractions need nothing from the grid, so they are planned at once;
    the best TT's wait until every grid run is finished.
    """
    configs = list(grid(args)) if args.only in (None, "grid") else []
    dense = base_config(args, layout="dense", seed=11)
    tt = best_tt(args)
    models = (dense,) if tt is None else (dense, tt)
    if args.only in (None, "seeds"):
        configs += [dataclasses.replace(c, seed=s) for c in models for s in EXTRA_SEEDS]
    if args.only in (None, "efficiency"):
        configs += [dataclasses.replace(c, fraction=f) for f in FRACTIONS for c in models]
    note = ("the best TT's seeds and efficiency runs wait for the grid" if tt is None
            else f"best TT by validation EER: {tt.name}")
    return list(dict.fromkeys(configs)), note


def results_path(args, config):
    return Path(args.out) / "runs" / f"{config.name}.json"


def done(args, config):
    """The stored results of ``config`` if they exist and were made with the same settings."""
    path = results_path(args, config)
    if not path.is_file():
        return None
    stored = json.loads(path.read_text())
    return stored if stored["config"] == dataclasses.asdict(config) else None


def run_one(job):
    """Train one configuration (or resume it) and store its results without the per-step history."""
    config, args = job
    tune_malloc()
    data = sv.load_data(config, an4_dir=args.an4_dir, librispeech_dir=args.librispeech_dir, cache_dir=args.cache_dir)
    results = sv.train(config, data, os.path.join(args.runs, config.name), resume=True, progress=False)
    results["history"] = {"evals": results["history"]["evals"]}
    results["command"] = speaker_cli.command(config)  # what trains this run alone (the worker's argv says nothing)
    target = results_path(args, config)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(results, indent=1))
    return results


def trained(jobs, workers):
    """Results of ``run_one`` for every job as they finish: in this process, or in ``workers`` spawned ones."""
    if workers == 1:
        yield from map(run_one, jobs)
        return
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap_unordered(run_one, jobs)


def row(results):
    c, best = results["config"], results["best"]
    an4, ls = best["tests"]["an4"], best["tests"].get("librispeech")
    return {"name": results["name"], "layout": c["layout"], "cores": c["cores"] if c["layout"] != "dense" else "",
            "rank": c["rank"] if c["layout"] != "dense" else "", "hidden_size": c["hidden_size"],
            "frames": c["frames"], "fraction": c["fraction"], "seed": c["seed"], "params": results["params"],
            "compression": round(results["sizes"]["compression"], 2),
            "train_speakers": results["data"]["train_speakers"], "steps": results["steps"],
            "stop_reason": results["stop_reason"], "best_step": best["step"], "val_eer": best["val_eer"],
            "an4_eer": an4["enrolment"]["eer"], "an4_low": an4["enrolment"]["low"],
            "an4_high": an4["enrolment"]["high"], "an4_pairwise_eer": an4["pairwise"]["eer"],
            "an4_pairwise_low": an4["pairwise"]["low"], "an4_pairwise_high": an4["pairwise"]["high"],
            "ls_eer": ls["enrolment"]["eer"] if ls else None, "ls_low": ls["enrolment"]["low"] if ls else None,
            "ls_high": ls["enrolment"]["high"] if ls else None, "wall_time_s": round(results["wall_time_s"], 1),
            "steps_per_s": round(results["steps_per_s"], 3)}


def _ci(eer, low, high):
    return "–" if eer is None else f"{100 * eer:.1f} [{100 * low:.1f}, {100 * high:.1f}]"


def _mean(rows, key):
    return sum(r[key] for r in rows) / len(rows)


def targets(rows, baseline):
    """The study's two targets, checked on the AN4 enrolment EERs: lines of text."""
    dense = [r for r in rows if r["layout"] == "dense" and r["fraction"] == 1.0]
    tts = [r for r in rows if r["layout"] != "dense" and r["fraction"] == 1.0]
    if not dense or not tts:
        return ["targets: not checked yet (the dense run or the TT grid is missing)"]
    by_shape = {}
    for r in tts:
        by_shape.setdefault((r["cores"], r["rank"]), []).append(r)
    best_shape = min(by_shape, key=lambda k: min(r["val_eer"] for r in by_shape[k] if r["seed"] == 11))
    best = by_shape[best_shape]
    base_low = baseline["enrolment"]["low"]  # the stronger baseline variant (``markdown`` picks it)
    lines = [f"Best TT by validation EER: d = {best_shape[0]}, R = {best_shape[1]} ({best[0]['params']:,} parameters, "
             f"{dense[0]['params'] / best[0]['params']:.0f}× fewer than dense)."]
    for name, rs in (("dense", dense), ("best TT", best)):
        beat = sum(r["an4_high"] < base_low for r in rs)
        highs = ", ".join(f"{100 * r['an4_high']:.1f}" for r in rs)
        lines.append(f"- {name} beats the baseline with non-overlapping 95 % intervals in {beat} of {len(rs)} runs "
                     f"(run upper bounds {highs} % vs the baseline's lower bound {100 * base_low:.1f} %).")
    dense_high = _mean(dense, "an4_high")
    ratio = dense[0]["params"] / best[0]["params"]
    lines.append(f"- best TT mean EER {100 * _mean(best, 'an4_eer'):.1f} % vs dense mean upper bound "
                 f"{100 * dense_high:.1f} %: {'met' if _mean(best, 'an4_eer') <= dense_high else 'NOT met'}; "
                 f"{ratio:.0f}× fewer parameters ({'≥' if ratio >= 30 else '<'} 30×).")
    return lines


def markdown(rows, baseline, args, note, wall):
    """``<out>/README.md``: every run with intervals, the baseline, the targets, command and machine."""
    machine = machine_info()
    variant = min(("normalised", "raw"), key=lambda v: baseline["an4"][v]["enrolment"]["eer"])
    b = baseline["an4"][variant]
    lines = [
        "# Speaker verification on AN4: TT vs dense, with 95 % intervals",
        "",
        f"Protocol (docs/method.md §8, §10): CMU AN4's 84 speakers split by speaker with a fixed seed — "
        f"{args.eval_speakers} evaluation speakers (first 4 utterances enrol, all others verify), "
        f"{args.val_speakers} validation speakers (checkpoint choice and the plateau stop), the rest train together "
        f"with the LibriSpeech sample's 251 speakers. Every run stops when its validation EER has not improved by "
        f"{100 * args.min_delta:g} % in {args.patience} validations (every {args.eval_every} steps; cap "
        f"{args.max_steps:,}). H = {args.hidden_size}, batch {args.N} × {args.M} × {args.frames} frames, float32. "
        "EERs in %, [95 % interval] from resampling the evaluation speakers (1,000 draws); LS = LibriSpeech "
        "test-other (10 speakers, 50 target trials), a cross-corpus test.",
        "",
        f"No-training baseline (mean/std of log-mel, {variant}: the stronger of the two variants) on the same AN4 "
        f"trials: "
        f"{_ci(b['enrolment']['eer'], b['enrolment']['low'], b['enrolment']['high'])} enrolment, "
        f"{_ci(b['pairwise']['eer'], b['pairwise']['low'], b['pairwise']['high'])} pairwise.",
        "",
        *targets(rows, b),
        "",
        "| run | params | × | steps (stop) | val EER | AN4 EER | AN4 pairwise | LS EER | wall min |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['name']} | {r['params']:,} | {r['compression']:.0f} | {r['steps']:,} ({r['stop_reason']}) "
                     f"| {100 * r['val_eer']:.1f} | {_ci(r['an4_eer'], r['an4_low'], r['an4_high'])} | "
                     f"{_ci(r['an4_pairwise_eer'], r['an4_pairwise_low'], r['an4_pairwise_high'])} | "
                     f"{_ci(r['ls_eer'], r['ls_low'], r['ls_high'])} | {r['wall_time_s'] / 60:.0f} |")
    lines += ["", *seeds_section(rows), "", *difference_section(args), "", *efficiency_section(rows), "",
              *paper_section(args), "",
              f"Plan: {note}.", "",
              f"Commands: `TTRNN_DATA=<data folder> python scripts/speaker_study.py {study_options(args)}--workers 2` "
              "trains the runs (resumable; `--runs` chooses where checkpoints go), `python scripts/speaker_study.py "
              f"{study_options(args)}--summary-only` writes this page; each run's own `ttrnn speaker` command is in "
              "its `runs/<name>.json`.  ",
              f"Machine: {machine['cpu_count']} cores, {machine['blas']['name']} {machine['blas']['version']} with "
              f"{machine['blas']['threads']} thread(s), NumPy {machine['numpy']}; two runs at a time, one BLAS thread "
              f"each; wall time of this invocation {wall / 60:.0f} min (finished runs are reused)."]
    return "\n".join(lines) + "\n"


def study_options(args):
    """The study-shaping options of ``args`` that differ from the defaults, as command-line text (paths, workers
    and modes left out: they do not change a result)."""
    defaults = build_parser().parse_args([])
    skip = {"workers", "an4_dir", "librispeech_dir", "cache_dir", "out", "runs", "dry_run", "summary_only", "only",
            "difference"}
    text = ""
    for key, value in vars(args).items():
        if key not in skip and value != getattr(defaults, key):
            text += f"--{key.replace('_', '-') if len(key) > 1 else key} {value} "
    return text


def _spread(values):
    """'mean ± half range' of EER fractions, in %."""
    return f"{100 * sum(values) / len(values):.1f} ± {100 * (max(values) - min(values)) / 2:.1f}"


def headline_groups(rows):
    """{"dense": rows, "best TT d=…, R=…": rows}: the full-data runs of the dense model and of the best TT shape
    (lowest seed-11 validation EER), every seed."""
    full = [r for r in rows if r["fraction"] == 1.0]
    tts = [r for r in full if r["layout"] != "dense" and r["seed"] == 11]
    groups = {"dense": [r for r in full if r["layout"] == "dense"]}
    if tts:
        best = min(tts, key=lambda r: r["val_eer"])
        groups[f"best TT (d = {best['cores']}, R = {best['rank']})"] = [
            r for r in full if r["layout"] != "dense" and (r["cores"], r["rank"]) == (best["cores"], best["rank"])]
    return groups


def seeds_section(rows):
    """Per-seed AN4 EERs of the headline models, with the mean ± half range across seeds."""
    lines = ["## Seeds (full training data)", "",
             "| model | params | seeds | AN4 EER per seed [95 % interval] | mean ± half range "
             "| pairwise mean ± half range |",
             "|---|---|---|---|---|---|"]
    for name, rs in headline_groups(rows).items():
        rs = sorted(rs, key=lambda r: r["seed"])
        per_seed = "; ".join(f"s{r['seed']}: {_ci(r['an4_eer'], r['an4_low'], r['an4_high'])}" for r in rs)
        lines.append(f"| {name} | {rs[0]['params']:,} | {len(rs)} | {per_seed} | "
                     f"{_spread([r['an4_eer'] for r in rs])} | {_spread([r['an4_pairwise_eer'] for r in rs])} |")
    return lines


def efficiency_section(rows):
    """AN4 EER against the fraction of training speakers (seed 11), dense and best TT."""
    lines = ["## Data efficiency (first 25 / 50 / 100 % of the training speakers of each corpus, seed 11)", "",
             "| model | " + " | ".join(f"{f:.0%}" for f in FRACTIONS + (1.0,)) + " |",
             "|---|" + "---|" * (len(FRACTIONS) + 1)]
    for name, rs in headline_groups(rows).items():
        layout, shape = rs[0]["layout"], (rs[0]["cores"], rs[0]["rank"])
        cells = []
        for fraction in FRACTIONS + (1.0,):
            match = [r for r in rows if r["layout"] == layout and (r["cores"], r["rank"]) == shape
                     and r["seed"] == 11 and r["fraction"] == fraction]
            cells.append(_ci(match[0]["an4_eer"], match[0]["an4_low"], match[0]["an4_high"]) if match
                         else "not run yet")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def paper_section(args):
    """The paper's speaker-verification numbers, labelled as the different scale they are."""
    grid_rows = [f"| {d} | " + " | ".join(f"{eer} ({params:,})" for eer, params in PAPER_GRID[d]) + " |"
                 for d in PAPER_GRID]
    return ["## The paper's numbers, at a different scale", "",
            "Not comparable one-to-one: the paper trains on LibriSpeech train-clean-100 (251 speakers, ≈ 100 h) with "
            "H = 768, batch 16 × 32 × 160 frames for 20,000 steps and tests on 40 LibriSpeech test-clean speakers, "
            "without intervals (docs/method.md §8).  Here: AN4 + a one-utterance-per-speaker LibriSpeech sample, "
            f"H = {args.hidden_size}, {args.eval_speakers} held-out AN4 speakers.  What carries over is the "
            "comparison inside each study.", "",
            "Paper, test EER % (parameters):", "",
            "| cores | R = 1 | R = 2 | R = 3 | R = 4 |", "|---|---|---|---|---|", *grid_rows,
            f"| dense | {PAPER_DENSE[0]} ({PAPER_DENSE[1]:,}) | | | |", "",
            "Paper, data efficiency (test EER % with 20 / 40 / 60 / 80 / 100 % of the training speakers): "
            f"dense {' / '.join(map(str, PAPER_EFFICIENCY['dense']))}; "
            f"TT {' / '.join(map(str, PAPER_EFFICIENCY['TT']))}."]


def figure(rows, baseline, path):
    """EER with 95 % intervals against parameters (log x), the baseline as a band: ``report.plot_eer_vs_params``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    b = min((baseline["an4"][v]["enrolment"] for v in ("normalised", "raw")), key=lambda r: r["eer"])
    fig, _ = plot_eer_vs_params(rows, b)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def paired_differences(args):
    """EER(best TT) − EER(dense) with a paired speaker-bootstrap interval, per seed that both finished on all the
    training speakers, from their best checkpoints in ``--runs``: both encoders embed the same held-out AN4
    utterances, so each bootstrap replicate scores both on the same resampled speakers.  Written to
    ``<out>/difference.json``; needs the data and the run folders, so it runs with ``--difference`` only."""
    from ttrnn_np.experiments.runs import load_run
    from ttrnn_np.speech.eer import bootstrap_eer_difference, enrolment_trials, pairwise_trials
    tt = best_tt(args)
    if tt is None:
        raise SystemExit("the paired difference needs the finished grid (its best TT)")
    dense = base_config(args, layout="dense", seed=11)
    data = sv.load_data(dense, an4_dir=args.an4_dir, librispeech_dir=args.librispeech_dir, cache_dir=args.cache_dir)
    features, n_enrol = data["tests"]["an4"], data["test_enrol"]["an4"]
    out = {"tt": tt.name, "dense": dense.name, "seeds": {}}
    for seed in (11,) + EXTRA_SEEDS:
        names = [dataclasses.replace(c, seed=seed).name for c in (tt, dense)]
        folders = [Path(args.runs) / name for name in names]
        if not all(done(args, dataclasses.replace(c, seed=seed)) for c in (tt, dense)):
            continue
        embeddings = []
        for folder in folders:
            config, model, params = load_run(folder)
            embeddings.append(sv.embed_utterances(model, params["encoder"], features, config.frames))
        result = {}
        for protocol, trials in (("enrolment", lambda E: enrolment_trials(E, n_enrol)), ("pairwise", pairwise_trials)):
            (s_tt, pairs), (s_dense, pairs_dense) = trials(embeddings[0]), trials(embeddings[1])
            if not (pairs == pairs_dense).all():
                raise RuntimeError(f"{names}: the two encoders' trials differ; they must score the same utterances")
            result[protocol] = bootstrap_eer_difference(s_tt, s_dense, pairs, sv.N_BOOT, seed=sv.BOOT_SEED)
        out["seeds"][str(seed)] = result
        print(f"seed {seed}: EER(TT) − EER(dense) = {100 * result['enrolment']['difference']:+.1f} "
              f"[{100 * result['enrolment']['low']:+.1f}, {100 * result['enrolment']['high']:+.1f}] points")
    write_json(Path(args.out) / "difference.json", out)


def difference_section(args):
    """The paired differences of ``<out>/difference.json`` (if it was made) as lines of markdown."""
    path = Path(args.out) / "difference.json"
    if not path.is_file():
        return ["## Best TT − dense, paired", "",
                "Not computed yet: `TTRNN_DATA=<data folder> python scripts/speaker_study.py --difference`."]
    stored = json.loads(path.read_text())
    lines = ["## Best TT − dense, paired", "",
             f"EER({stored['tt'].split('-s')[0]}) − EER({stored['dense'].split('-s')[0]}) in points of EER, with a "
             "95 % interval from resampling the held-out speakers and scoring BOTH encoders on each draw (paired: "
             "the speakers both find hard cancel out).  Below zero: the TT is better.", "",
             "| seed | enrolment | pairwise |", "|---|---|---|"]
    for seed, r in stored["seeds"].items():
        lines.append(f"| {seed} | " + " | ".join(
            f"{100 * r[p]['difference']:+.1f} [{100 * r[p]['low']:+.1f}, {100 * r[p]['high']:+.1f}]"
            for p in ("enrolment", "pairwise")) + " |")
    return lines + ["", f"Command: `TTRNN_DATA=<data folder> python scripts/speaker_study.py "
                        f"{study_options(args)}--difference`."]


def ship_models(args):
    """Copy each finished grid run's best checkpoint into ``<out>/models/<name>/`` beside its results, so that
    ``experiments.runs.load_run`` (and ``ttrnn evaluate``) can load it from a clone.  The grid's models are small
    (10–30 kB for a TT, 0.5 MB for the dense one); the extra seeds and fractions are not shipped."""
    shipped = []
    for config in grid(args):
        results, best = done(args, config), checkpoint_dir(Path(args.runs) / config.name) / "best"
        if results is None or not best.with_suffix(".npz").is_file():
            continue
        target = Path(args.out) / "models" / config.name
        checkpoint_dir(target).mkdir(parents=True, exist_ok=True)
        for suffix in (".npz", ".json"):
            shutil.copyfile(best.with_suffix(suffix), (checkpoint_dir(target) / "best").with_suffix(suffix))
        write_json(target / RESULTS_FILE, results)
        shipped.append(config.name)
    return shipped


def summarize(args, note, wall):
    """Write summary.json, summary.csv, README.md and the figure from every finished run."""
    configs = grid(args) + plan(args)[0]
    finished = [done(args, c) for c in dict.fromkeys(configs)]
    finished = [r for r in finished if r is not None]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not finished:
        print("no finished runs to summarise yet")
        return
    rows = [row(r) for r in finished]
    planned = len(dict.fromkeys(configs))
    if len(finished) < planned:
        note = f"{len(finished)} of the {planned} planned runs are finished (the rest are still to train); {note}"
    (out / "summary.json").write_text(json.dumps({"rows": rows, "baseline": finished[0]["baseline"]}, indent=1))
    with open(out / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    (out / "README.md").write_text(markdown(rows, finished[0]["baseline"], args, note, wall))
    figure(rows, finished[0]["baseline"], out / "eer_vs_params.png")
    print(f"wrote {out / 'summary.json'}, summary.csv, README.md, eer_vs_params.png ({len(rows)} runs)")
    shipped = ship_models(args)
    print(f"copied the best checkpoints of {len(shipped)} grid runs into {out / 'models'}")


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = sv.SpeakerConfig()
    arg = parser.add_argument
    arg("--only", choices=("grid", "seeds", "efficiency"), default=None, help="one part of the study only")
    arg("--hidden-size", type=int, default=d.hidden_size, help=f"hidden size H (default {d.hidden_size})")
    arg("--frames", type=int, default=STUDY["frames"], help=f"crop and window length T (default {STUDY['frames']})")
    arg("-N", type=int, default=d.speakers_per_batch, help=f"speakers per batch (default {d.speakers_per_batch})")
    arg("-M", type=int, default=d.utterances_per_speaker, help=f"utterances per speaker (default "
                                                               f"{d.utterances_per_speaker})")
    arg("--max-steps", type=int, default=STUDY["max_steps"], help=f"step cap per run (default {STUDY['max_steps']})")
    arg("--eval-every", type=int, default=d.eval_every, help=f"steps between validations (default {d.eval_every})")
    arg("--patience", type=int, default=STUDY["patience"], help=f"validations without improvement (default "
                                                                f"{STUDY['patience']})")
    arg("--min-delta", type=float, default=d.min_delta, help=f"improvement that counts (default {d.min_delta})")
    arg("--val-speakers", type=int, default=d.val_speakers, help=f"AN4 validation speakers (default {d.val_speakers})")
    arg("--eval-speakers", type=int, default=d.eval_speakers, help=f"AN4 evaluation speakers (default "
                                                                   f"{d.eval_speakers})")
    arg("--workers", type=int, default=2, help="runs in parallel, one core each (default 2)")
    arg("--an4-dir", default=None, help="default $TTRNN_DATA/an4")
    arg("--librispeech-dir", default=None, help="default $TTRNN_DATA/librispeech-sample")
    arg("--cache-dir", default=None, help="feature cache (default $TTRNN_CACHE or ~/.cache/ttrnn_np)")
    arg("--out", default="results/speaker/study", help="results, tables, figure (default results/speaker/study)")
    arg("--runs", default="runs/speaker-study", help="checkpoints (default runs/speaker-study)")
    arg("--dry-run", action="store_true", help="print the plan and exit")
    arg("--summary-only", action="store_true", help="only write the tables and figure from finished runs")
    arg("--difference", action="store_true", help="compute the paired EER difference best TT − dense per seed from "
                                                   "the checkpoints in --runs (needs the data), then the summary")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    configs, note = plan(args)
    todo = [c for c in configs if done(args, c) is None]
    print(f"{len(configs)} runs planned, {len(configs) - len(todo)} already done, {len(todo)} to train with "
          f"{args.workers} worker(s); {note}", flush=True)
    if args.dry_run:
        for c in configs:
            print(f"  {'done' if done(args, c) else 'todo'}  {c.name}")
        return 0
    if args.difference:
        paired_differences(args)
    while todo and not (args.summary_only or args.difference):
        sv.load_data(todo[0], an4_dir=args.an4_dir, librispeech_dir=args.librispeech_dir, cache_dir=args.cache_dir,
                     progress=True)  # fails early on missing data and fills the feature cache once
        for results in trained([(c, args) for c in todo], args.workers):
            an4 = results["best"]["tests"]["an4"]["enrolment"]
            print(f"{results['name']:<40} AN4 EER {_ci(an4['eer'], an4['low'], an4['high'])} %  "
                  f"{results['params']:>8,} params  {results['steps']:>6,} steps ({results['stop_reason']})  "
                  f"{results['wall_time_s'] / 60:5.1f} min", flush=True)
        configs, note = plan(args)  # the finished grid may unlock the seeds and efficiency runs
        todo = [c for c in configs if done(args, c) is None]
    summarize(args, note, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
