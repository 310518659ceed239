"""TT vs dense speaker encoders on the LibriSpeech sample: the cores × ranks table and the data-efficiency study.

A small-sample CPU-scale replication of PAPER.md §6.2:
  * table: joint TT-LSTM encoders with d = 2, 3, 4 cores × R = 1, 2, 3, 4 (TT head) against the dense LSTM;
  * data efficiency: the first 20/40/60/80/100 % of the training speakers, dense vs TT (d = 2, R = 2).
Every run is ``ttrnn_np.experiments.speaker.train`` with the same budget (default H = 128 instead of 768,
batch 16 × 8 × 160 instead of 16 × 32 × 160, 1,000 steps instead of 20,000, float32).

Resumable: each run keeps its checkpoints in ``runs/speaker-sweep/<tag>/`` and its summary in
``results/speaker/runs/<tag>.json``; a run whose summary exists (same settings) is skipped, an interrupted one
continues from its last checkpoint.  Afterwards ``results/speaker/`` holds ``sweep.json``, ``sweep.csv`` and
``README.md`` (the tables next to the paper's numbers).

    TTRNN_DATA=../shared/data python scripts/speaker_sweep.py --workers 2
    python scripts/speaker_sweep.py --only table --steps 200       # a quicker, rougher table
"""
import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # one BLAS thread per run: small matrices, shared cores

import argparse  # noqa: E402
import csv  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import multiprocessing  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from ttrnn_np.experiments import speaker as sv  # noqa: E402
from ttrnn_np.experiments.runtime import machine_info, tune_malloc  # noqa: E402

FRACTIONS = (0.2, 0.4, 0.6, 0.8, 1.0)
CORES, RANKS = (2, 3, 4), (1, 2, 3, 4)
PAPER_TABLE = {2: (4.712, 4.345, 6.875, 6.214), 3: (6.094, 5.313, 5.469, 5.385), 4: (5.337, 5.577, 5.312, 4.279)}
PAPER_PARAMS = {2: (8176, 13024, 17872, 22720), 3: (4104, 5392, 7192, 9504), 4: (3668, 4312, 5260, 6512)}
PAPER_DENSE = (7.333, 2682112)
PAPER_EFFICIENCY = {"dense": (12.89, 10.27, 8.56, 7.91, 7.33), "tt": (10.47, 7.17, 5.04, 6.54, 4.34)}
CSV_FIELDS = ("tag", "layout", "cores", "rank", "hidden", "fraction", "seed", "steps", "train_speakers", "params",
              "dense_params", "compression", "best_step", "val_eer", "test_eer", "test_pairwise_eer",
              "last_test_eer", "baseline_eer", "baseline_raw_eer", "target_trials", "train_time_s", "steps_per_s")


def plan(args):
    """The SpeakerConfigs to run (no duplicates), in order."""
    base = dict(hidden=args.hidden, steps=args.steps, eval_every=args.eval_every, speakers_per_batch=args.N,
                utterances_per_speaker=args.M, frames=args.frames, val_speakers=args.val_speakers)
    configs = []
    for seed in args.seeds:
        if args.only in (None, "table"):
            configs.append(sv.SpeakerConfig(layout="dense", seed=seed, **base))
            configs += [sv.SpeakerConfig(layout="joint", cores=d, rank=R, seed=seed, **base)
                        for d in CORES for R in RANKS]
        if args.only in (None, "efficiency"):
            configs += [sv.SpeakerConfig(layout=layout, fraction=f, seed=seed, **base)
                        for f in FRACTIONS for layout in ("dense", "joint")]
    return list(dict.fromkeys(configs))


def summary_path(out, config):
    return Path(out) / "runs" / f"{config.tag}.json"


def run_one(job):
    """Train one configuration (or resume it) and store its summary without the per-step history."""
    config, args = job
    tune_malloc()
    target = summary_path(args.out, config)
    data = sv.load_data(args.data_dir, config.fraction, config.val_speakers, cache_dir=args.cache_dir)
    results = sv.train(config, data, os.path.join(args.runs, config.tag), resume=True, progress=False)
    results["history"] = {"evals": results["history"]["evals"]}
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


def done(args, config):
    """The stored summary of ``config`` if it exists and was made with the same settings."""
    path = summary_path(args.out, config)
    if not path.is_file():
        return None
    stored = json.loads(path.read_text())
    return stored if stored["config"] == dataclasses.asdict(config) else None


def row(results):
    c, s, best = results["config"], results["sizes"], results["best"]
    return {"tag": results["tag"], "layout": c["layout"], "cores": c["cores"] if c["layout"] != "dense" else "",
            "rank": c["rank"] if c["layout"] != "dense" else "", "hidden": c["hidden"], "fraction": c["fraction"],
            "seed": c["seed"], "steps": results["steps"], "train_speakers": results["data"]["train_speakers"],
            "params": s["total"], "dense_params": s["dense_total"], "compression": round(s["compression"], 2),
            "best_step": best["step"], "val_eer": best["val_eer"], "test_eer": best["test_eer"],
            "test_pairwise_eer": best["test_pairwise_eer"], "last_test_eer": results["last"]["test_eer"],
            "baseline_eer": results["baseline"]["normalised"], "baseline_raw_eer": results["baseline"]["raw"],
            "target_trials": results["data"]["target_trials"], "train_time_s": round(results["train_time_s"], 1),
            "steps_per_s": round(results["steps_per_s"], 3)}


def _mean(rows, key):
    values = [r[key] for r in rows]
    return sum(values) / len(values) if values else None


def _cell(rows):
    """'test % / pairwise %' averaged over seeds, or '–' when the run is missing."""
    if not rows:
        return "–"
    return f"{100 * _mean(rows, 'test_eer'):.1f} / {100 * _mean(rows, 'test_pairwise_eer'):.1f}"


def markdown(rows, args, wall):
    """results/speaker/README.md: our tables beside the paper's, with the command and machine."""
    def pick(**kw):
        return [r for r in rows if all(r[k] == v for k, v in kw.items())]

    dense = pick(layout="dense", fraction=1.0)
    seeds = sorted({r["seed"] for r in rows})
    speakers = max((r["train_speakers"] for r in rows), default=0)
    targets = rows[0]["target_trials"] if rows else 0
    p_mean = _mean(rows, "test_eer") or 0.0
    se = math.sqrt(p_mean * (1 - p_mean) / max(targets, 1))
    base, raw = (rows[0]["baseline_eer"], rows[0]["baseline_raw_eer"]) if rows else (None, None)
    beat = [r for r in rows if base is not None and r["test_eer"] < base]
    late = sum(r["best_step"] >= 0.8 * r["steps"] for r in rows)
    machine = machine_info()
    lines = [
        "# Speaker verification, TT vs dense: small-sample CPU-scale replication",
        "",
        "**Not comparable one-to-one with the paper.** Paper (PAPER.md §6.2): full LibriSpeech train-clean-100 "
        "(251 speakers, ~100 h), H = 768, batch 16 × 32 × 160, 20,000 steps, test-clean 40 speakers (640 target "
        f"trials). Here: the shared sample ({speakers} training speakers × ONE utterance, GE2E crops of it; "
        f"{args.val_speakers} more held out for validation), H = {args.hidden}, "
        f"batch {args.N} × {args.M} × {args.frames}, "
        f"{args.steps} steps, float32; {targets // 5} test-other speakers × (5 enrol + 5 verify) = {targets} "
        f"target trials, so one target trial is {100 / max(targets, 1):.0f} % EER: differences of a few % are "
        "noise. The pairwise EER (all utterance pairs) is less coarse. Checkpoints are chosen by validation EER "
        "(held-out training speakers), never by test EER; the data-efficiency fractions are of the training "
        "speakers.",
        "",
        f"Noise: at the mean test EER of these runs, p = {100 * p_mean:.1f} %, the binomial standard error over "
        f"{targets} target trials alone is √(p(1 − p)/{targets}) = {100 * se:.1f} %.",
        "",
        f"Cells: test EER / pairwise EER in % of the best-validation checkpoint, mean over seeds {seeds}. "
        f"No-training baseline on the same trials (mean/std of log-mel frames): "
        f"{'–' if base is None else f'{100 * base:.1f} % globally normalised, {100 * raw:.1f} % raw'}.",
        "",
        f"**The baseline.** {len(beat)} of {len(rows)} encoders beat the normalised baseline. It is strong here "
        "because each test-other speaker's 10 utterances come from one chapter, i.e. one recording session: the "
        "long-term average spectrum captures microphone and room as well as voice. The encoders are trained on "
        f"{speakers} recordings (one per speaker) with about {args.steps * args.N * args.M / 10_240_000:.1%} of "
        f"the paper's training crops and a {768 / args.hidden:g}× smaller hidden size; in {late} of {len(rows)} "
        "runs the best validation EER came in the last 20 % of the steps (still improving).",
        "",
        f"Command: `python scripts/speaker_sweep.py {' '.join(sys.argv[1:])}`  ",
        f"Machine: {machine['cpu_count']} cores, {machine['blas']['name']} {machine['blas']['version']} with "
        f"{machine['blas']['threads']} thread(s), NumPy {machine['numpy']}; training time summed over the runs "
        f"{sum(r['train_time_s'] for r in rows) / 3600:.1f} h (several at a time); wall time of this invocation "
        f"{wall / 60:.0f} min (finished runs are reused).",
        "",
        "## Cores × ranks (joint TT-LSTM + TT head, 100 % of the speakers)",
        "",
        "| cores | " + " | ".join(f"R={R}" for R in RANKS) + " | params (compression), R=1…4 |",
        "|---|" + "---|" * (len(RANKS) + 1),
    ]
    for d in CORES:
        cells = [_cell(pick(layout="joint", cores=d, rank=R, fraction=1.0)) for R in RANKS]
        runs = [pick(layout="joint", cores=d, rank=R, fraction=1.0) for R in RANKS]
        params = [f"{r[0]['params']:,} ({r[0]['compression']:.0f}×)" if r else "–" for r in runs]
        lines.append(f"| {d} | " + " | ".join(cells) + f" | {', '.join(params)} |")
    if dense:
        lines.append(f"| dense | {_cell(dense)} | | | | {dense[0]['params']:,} |")
    lines += ["", "Paper (full data, H = 768; test EER %, params incl. TT head, one bias):", "",
              "| cores | " + " | ".join(f"R={R}" for R in RANKS) + " |", "|---|" + "---|" * len(RANKS)]
    lines += [f"| {d} | " + " | ".join(f"{e} ({p:,})" for e, p in zip(PAPER_TABLE[d], PAPER_PARAMS[d])) + " |"
              for d in CORES]
    lines += [f"| dense | {PAPER_DENSE[0]} ({PAPER_DENSE[1]:,}) | | | |", "",
              "## Data efficiency (first 20–100 % of the training speakers)", "",
              "| model | " + " | ".join(f"{int(100 * f)} %" for f in FRACTIONS) + " |",
              "|---|" + "---|" * len(FRACTIONS)]
    for name, kw in (("dense (ours)", dict(layout="dense")), ("TT d=2 R=2 (ours)", dict(layout="joint", cores=2,
                                                                                         rank=2))):
        lines.append(f"| {name} | " + " | ".join(_cell(pick(fraction=f, **kw)) for f in FRACTIONS) + " |")
    for name, key in (("dense (paper)", "dense"), ("TT (paper)", "tt")):
        lines.append(f"| {name} | " + " | ".join(f"{e}" for e in PAPER_EFFICIENCY[key]) + " |")
    speeds = [(name, pick(fraction=1.0, **kw)) for name, kw in
              (("dense", dict(layout="dense")), ("TT d=2 R=2", dict(layout="joint", cores=2, rank=2)))]
    lines += ["", "## Training speed", "",
              "Gradient + Adam steps per second, averaged over each run. The runs shared the 2 cores with each other "
              "and with other jobs, so these are not clean timings (for those see the module docstring of "
              "`ttrnn_np/experiments/speaker.py`).", ""]
    lines += [f"- {name}: {_mean(rs, 'steps_per_s'):.2f} steps/s ({rs[0]['params']:,} parameters)"
              for name, rs in speeds if rs]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("table", "efficiency"), default=None, help="run one study only")
    parser.add_argument("--hidden", type=int, default=128, help="hidden size H (default 128; paper 768)")
    parser.add_argument("--steps", type=int, default=1000, help="steps per run (default 1000)")
    parser.add_argument("--eval-every", type=int, default=100, help="steps between evaluations (default 100)")
    parser.add_argument("-N", type=int, default=16, help="speakers per batch (default 16)")
    parser.add_argument("-M", type=int, default=8, help="crops per speaker (default 8)")
    parser.add_argument("--frames", type=int, default=160, help="frames per crop (default 160)")
    parser.add_argument("--val-speakers", type=int, default=20, help="held-out validation speakers (default 20)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[11], help="seeds (default 11)")
    parser.add_argument("--workers", type=int, default=1, help="runs in parallel, one core each (default 1)")
    parser.add_argument("--data-dir", default=None, help="default $TTRNN_DATA/librispeech-sample")
    parser.add_argument("--cache-dir", default=None, help="feature cache (default $TTRNN_CACHE or ~/.cache)")
    parser.add_argument("--out", default="results/speaker", help="summaries and tables (default results/speaker)")
    parser.add_argument("--runs", default="runs/speaker-sweep", help="checkpoints (default runs/speaker-sweep)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    sv.load_data(args.data_dir, val_speakers=args.val_speakers, cache_dir=args.cache_dir, progress=True)  # fail early
    configs = plan(args)
    todo = [c for c in configs if done(args, c) is None]
    print(f"{len(configs)} runs, {len(configs) - len(todo)} already done; {len(todo)} to train "
          f"with {args.workers} worker(s)", flush=True)
    for results in trained([(c, args) for c in todo], args.workers):
        best = results["best"]
        print(f"{results['tag']:<28} test EER {100 * best['test_eer']:5.1f} %  pairwise "
              f"{100 * best['test_pairwise_eer']:5.1f} %  {results['sizes']['total']:>8,} params  "
              f"{results['train_time_s'] / 60:5.1f} min", flush=True)
    rows = [row(done(args, c)) for c in configs]
    out = Path(args.out)
    (out / "sweep.json").write_text(json.dumps(rows, indent=1))
    with open(out / "sweep.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    (out / "README.md").write_text(markdown(rows, args, time.perf_counter() - start))
    print(f"wrote {out / 'sweep.json'}, {out / 'sweep.csv'}, {out / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
