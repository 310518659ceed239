"""Row-MNIST sweep: size against accuracy for the dense LSTM and the joint TT-LSTM (the paper's figure).

Runs ``ttrnn mnist`` (in this process, or in ``--jobs`` worker processes) for

    dense LSTM                       (H = 256, dense head)
    joint TT-LSTM, d ∈ {2, 3, 4} × R ∈ {1, 2, 4, 8}     (TT head with the same d, R)
    naive TT-LSTM, d = 3, R ∈ {2, 4}                      (one TT per gate, for comparison)

each into ``ROOT/<name>/`` (checkpoints, results.json, log.txt), then writes ``ROOT/summary.csv``,
``ROOT/error_vs_params.png`` (test error % against total parameters, log x, one line per core count, the
dense LSTM as a reference line) and ``ROOT/README.md`` (commands, budget, wall time, machine, table).

Resumable: a run whose results.json holds the same settings is skipped (also when it diverged), a run with a
``last`` checkpoint continues from it; so the same command can be repeated after an interruption.
``--report-only`` rebuilds the CSV, figure and README from the results.json files already there.

    python scripts/mnist_sweep.py --epochs 20                      # the full budget (hours on a laptop CPU)
    python scripts/mnist_sweep.py --epochs 3 --train-subset 10000 --jobs 2 --blas-threads 1
    python scripts/mnist_sweep.py --report-only
"""
import argparse
import json
import multiprocessing
import shlex
import sys
import time
from pathlib import Path

from ttrnn_np.experiments.mnist import run_experiment
from ttrnn_np.experiments.runfolder import checkpoint_dir
from ttrnn_np.experiments.mnist_cli import add_arguments, config_from_args
from ttrnn_np.experiments.report import load_results, markdown_table, plot_error_vs_params, write_csv
from ttrnn_np.experiments.runtime import machine_info, set_blas_threads, tune_malloc

ROOT = Path("results/mnist_row")
CORES, RANKS, NAIVE = (2, 3, 4), (1, 2, 4, 8), ((3, 2), (3, 4))
# The authors' row-MNIST figure (docs/method.md §10), read off the plot: test-selected, x = their parameter counts
# (input 40, one bias, no head), so only roughly comparable with ours.
PAPER_POINTS = {2: [(2464, 2.15), (3904, 2.2), (6784, 1.8), (9664, 1.4), (12544, 1.3), (15424, 1.5)],
                3: [(1376, 2.4), (1920, 2.3), (3584, 2.4), (6016, 2.0), (9216, 2.1), (13184, 1.55)],
                4: [(1192, 2.5), (1504, 2.7), (2560, 2.3), (4192, 1.9), (6400, 2.3), (9184, 1.75)]}
PAPER_DENSE = (291_840, 0.93)
COLUMNS = [("name", "run", None), ("layout", "layout", None), ("cores", "d", "d"), ("rank", "R", "d"),
           ("params", "params", ",d"), ("compression", "compression", ".1f"), ("epochs_run", "epochs", "d"),
           ("best_epoch", "best epoch", "d"), ("val_acc", "val acc %", ".2f"), ("test_acc", "test acc %", ".2f"),
           ("test_error", "test error %", ".2f"), ("sec_per_epoch", "s/epoch", ".1f"), ("status", "status", None)]
CSV_KEYS = ["name", "cell", "layout", "cores", "rank", "head", "view", "data", "n_train", "epochs_run", "params",
            "params_no_bias", "dense_params", "compression", "best_epoch", "val_acc", "test_acc", "test_error",
            "sec_per_epoch", "examples_per_s", "train_time_s", "wall_time_s", "status", "command"]


def grid():
    """(layout, d, R) of every run: the dense LSTM, joint over CORES × RANKS, naive at NAIVE."""
    return ([("dense", None, None)] + [("joint", d, R) for d in CORES for R in RANKS]
            + [("naive", d, R) for d, R in NAIVE])


def run_argv(layout, d, R, options):
    """The ``ttrnn mnist`` options of one run (without --out)."""
    argv = ["--layout", layout] + ([] if layout == "dense" else ["--cores", str(d), "--rank", str(R)])
    for flag in ("epochs", "train_subset", "val_subset", "data", "seed", "blas_threads"):
        value = getattr(options, flag)
        if value is not None:
            argv += [f"--{flag.replace('_', '-')}", str(value)]
    return argv + shlex.split(options.extra)


def _parse_run(argv):
    parser = argparse.ArgumentParser(prog="ttrnn mnist")
    add_arguments(parser)
    return parser.parse_args(argv)


def run_one(argv, root, quiet):
    """Run (or skip, or resume) one configuration into ``root/<name>``; returns (name, status line)."""
    tune_malloc()
    args = _parse_run(argv)
    config = config_from_args(args)
    try:
        return config.name, _train(config, args, argv, Path(root), quiet)
    except (ValueError, FileNotFoundError) as error:
        return config.name, f"error: {error}"


def _train(config, args, argv, root, quiet):
    if args.blas_threads is not None:
        set_blas_threads(args.blas_threads)
    out = root / config.name
    stored = out / "results.json"
    resume = stored.exists() or (checkpoint_dir(out) / "last.json").exists()
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "log.txt", "a") as log:
        stream = log if quiet else sys.stdout
        results = run_experiment(config, out=out, resume=resume, data_dir=args.data_dir, progress=not quiet,
                                 stream=stream, command="ttrnn mnist " + shlex.join(argv + ["--out", str(out)])
                                 + (" --resume" if resume else ""))
    test = results["test"]
    return f"{results['status']}, test error {test['error_pct']:.2f} %" if test else results["status"]


def _run_job(job):
    return run_one(*job)


def _row(name, r):
    config, sizes, best, test = r["config"], r["sizes"], r.get("best"), r.get("test")
    tt = config["layout"] != "dense"
    return {"name": name, "cell": config["cell"], "layout": config["layout"], "cores": config["cores"] if tt else None,
            "rank": config["rank"] if tt else None, "head": config["head"], "view": config["view"],
            "data": r["data"]["source"], "n_train": r["data"]["n_train"], "epochs_run": r["epochs_run"],
            "params": sizes["total"], "params_no_bias": sizes["total_no_bias"], "dense_params": sizes["dense_total"],
            "compression": round(sizes["compression"], 2), "best_epoch": None if best is None else best["epoch"] + 1,
            "val_acc": None if best is None else round(100 * best["val_accuracy"], 3),
            "test_acc": None if test is None else round(100 * test["accuracy"], 3),
            "test_error": None if test is None else round(test["error_pct"], 3),
            "sec_per_epoch": _round(r["seconds_per_epoch"]["train"]), "examples_per_s": _round(r["examples_per_s"]),
            "wall_time_s": round(r["wall_time_s"], 2), "train_time_s": round(r["train_time_s"], 2),
            "status": r["status"], "command": r.get("command")}


def _round(value, digits=2):
    return None if value is None else round(value, digits)


def _views(rows):
    """"Row-MNIST", "Pixel-MNIST", … : the sequence views of ``rows``, for titles."""
    return " / ".join(f"{view.capitalize()}-MNIST" for view in sorted({row["view"] for row in rows}))


def _duration(seconds):
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.2f} h"


def summary(root):
    """Rows of every run under ``root``, dense first, then by layout, d, R."""
    rows = [_row(name, r) for name, r in load_results(root).items()]
    return sorted(rows, key=lambda row: (row["layout"] != "dense", row["layout"], row["cores"] or 0, row["rank"] or 0))


def plot(rows, path):
    """The paper-style figure of ``rows`` (ours in colour, the authors' test-selected points in grey)."""
    import matplotlib
    matplotlib.use("Agg")
    groups = {}
    for row in rows:
        if row["layout"] != "dense":
            groups.setdefault(f"{row['layout']} TT, d={row['cores']}", []).append(
                (row["params"], row["test_error"], f"R={row['rank']}"))
    references = [(f"dense LSTM ({row['params']:,} params)", row["params"], row["test_error"])
                  for row in rows if row["layout"] == "dense" and row["test_error"] is not None]
    background = {}
    if all(row["view"] == "row" for row in rows):  # the authors' points are row-MNIST
        background = {f"paper d={d} (≈, test-selected)": points for d, points in PAPER_POINTS.items()}
        background[f"paper dense {PAPER_DENSE[1]} % (test-selected)"] = [PAPER_DENSE]
    fig, ax = plot_error_vs_params(groups, references, background=background,
                                   title=f"{_views(rows)}: test error of the best-validation epoch vs model size")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def readme(root, rows):
    """ROOT/README.md: what was run, with which budget, on which machine, and the table."""
    root = Path(root)
    runs = load_results(root)
    log = json.loads((root / "sweep.json").read_text()) if (root / "sweep.json").exists() else []
    machine = next(iter(runs.values()))["machine"] if runs else machine_info()
    blas = machine["blas"]
    epochs = sorted({row["epochs_run"] for row in rows})
    n_train = sorted({row["n_train"] for row in rows})
    lines = [f"# {_views(rows)}: model size against test error", "",
             "Generated by `scripts/mnist_sweep.py` from the `results.json` of each run directory "
             f"(`python scripts/mnist_sweep.py --report-only --root {root}`).", "",
             "## How it was run", ""]
    lines += [f"- `{entry['command']}` ({entry['started']} → {entry.get('finished', 'interrupted')})"
              for entry in log]
    lines += [f"- budget: {', '.join(map(str, epochs))} epochs; {', '.join(f'{n:,}' for n in n_train)} training "
              "images (50,000 is the full split); each run's command is listed below the table",
              f"- time: {_duration(sum(row['train_time_s'] for row in rows))} of training passes over {len(rows)} "
              f"runs (the last invocation of each run took {_duration(sum(row['wall_time_s'] for row in rows))} "
              "of wall time, data loading and evaluation included)",
              f"- machine: {machine['cpu_count']} cores, {blas['name']} {blas['version']} with {blas['threads']} "
              f"thread(s), numpy {machine['numpy']}, autograd {machine['autograd']}, Python {machine['python']}, "
              f"{machine['platform']}", "",
              "## Results", "", markdown_table(rows, COLUMNS), "", "Commands, one per run:", ""]
    lines += [f"- {row['name']}: `{row['command']}`" for row in rows]
    lines += ["", "![test error vs parameters](error_vs_params.png)", "",
              "Parameters count one bias per cell and the classification head (TT for TT layouts). Test accuracy "
              "is that of the epoch with the best validation accuracy, evaluated once."
              + (" The authors' points (grey) are test-selected (the best test accuracy over epochs) and count "
                 "parameters with input size 40, one bias and no head, so they are only roughly comparable."
                 if all(row["view"] == "row" for row in rows) else "")]
    (root / "README.md").write_text("\n".join(lines) + "\n")
    return root / "README.md"


def report(root):
    """Write summary.csv, error_vs_params.png and README.md under ``root``; return the rows."""
    rows = summary(root)
    if not rows:
        raise FileNotFoundError(f"no */results.json under {root}: nothing to report")
    write_csv(Path(root) / "summary.csv", rows, CSV_KEYS)
    plot(rows, Path(root) / "error_vs_params.png")
    readme(root, rows)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=ROOT, help=f"results directory (default {ROOT})")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per run (default: the recipe's 20)")
    parser.add_argument("--train-subset", type=int, default=None, help="training images per run (default all)")
    parser.add_argument("--val-subset", type=int, default=None, help="validation images per run (default all)")
    parser.add_argument("--data", choices=("full", "mini"), default=None, help="full (default) or mini")
    parser.add_argument("--seed", type=int, default=None, help="seed of every run (default 0)")
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="OpenBLAS threads per run (default: as configured; 1 when --jobs > 1)")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (worker processes, logs only)")
    parser.add_argument("--only", nargs="+", default=None, help="run only these run names")
    parser.add_argument("--extra", default="", help="more `ttrnn mnist` options for every run, one string")
    parser.add_argument("--report-only", action="store_true", help="rebuild CSV, figure and README only")
    options = parser.parse_args(argv)
    if not options.report_only:
        if options.jobs < 1:
            parser.error(f"--jobs must be >= 1, got {options.jobs}")
        if options.jobs > 1 and options.blas_threads is None:
            options.blas_threads = 1  # parallel runs share the cores: one BLAS thread each
        jobs = [run_argv(layout, d, R, options) for layout, d, R in grid()]
        if options.only is not None:
            jobs = [argv for argv in jobs if config_from_args(_parse_run(argv)).name in options.only]
        options.root.mkdir(parents=True, exist_ok=True)
        log_path = options.root / "sweep.json"
        log = json.loads(log_path.read_text()) if log_path.exists() else []
        entry = {"command": "python scripts/mnist_sweep.py " + shlex.join(sys.argv[1:] if argv is None else argv),
                 "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
        log_path.write_text(json.dumps(log + [entry], indent=1))
        quiet = options.jobs > 1
        with multiprocessing.get_context("spawn").Pool(options.jobs) if quiet else _InProcess() as pool:
            for name, status in pool.imap_unordered(_run_job, [(argv, options.root, quiet) for argv in jobs]):
                print(f"{name}: {status}", flush=True)
        entry["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        log_path.write_text(json.dumps(log + [entry], indent=1))
    rows = report(options.root)
    print(f"{len(rows)} runs → {options.root / 'summary.csv'}, {options.root / 'error_vs_params.png'}, "
          f"{options.root / 'README.md'}")
    return 0


class _InProcess:
    """A stand-in for a process pool that runs the jobs one after another in this process."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def imap_unordered(self, function, jobs):
        return (function(job) for job in jobs)


if __name__ == "__main__":
    sys.exit(main())
