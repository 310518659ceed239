"""Row-MNIST: can a trained dense LSTM be compressed into a joint TT-LSTM?  Accuracy against rank, three ways.

For d ∈ ``--cores`` and R ∈ ``--ranks``, beside the trained dense LSTM (H = 256, dense head; ``--source RUN`` or
trained here into ``ROOT/source`` with the "ours" recipe):

* compressed (``ROOT/compress/d<d>_R<R>``): ``ttrnn compress SOURCE --cores d --rank R --finetune-epochs K``:
  TT-SVD of W_x and W_h with the joint modes, validation/test right after, then K epochs of fine-tuning with the
  source's recipe (lr ``--finetune-lr``, default the source's), the best validation epoch tested once;
* from scratch (``ROOT/scratch/<run>_e<epochs>``): ``ttrnn mnist --layout joint --cores d --rank R --head dense``
  with the source's recipe for ``--scratch-epochs`` epochs (default: the source's): the same architecture, so the
  same parameter count as the compressed model.  ``--scratch-epochs K`` with K the fine-tuning epochs compares
  the two at the same training compute after the dense model exists;
* spectra (``ROOT/spectra.json``, ``ROOT/spectra.png``): the singular values of every unfolding of the trained
  W_x and W_h with the joint modes of each d (``compress.unfolding_spectra``, the bonds TT-SVD cuts), against a
  Gaussian matrix of the same shape and Frobenius norm (seeded): a spectrum that decays faster than the random
  one is structure that TT-SVD can keep at low rank.

Report: ``ROOT/summary.csv``, ``ROOT/README.md`` (table, commands, machine) and ``ROOT/compress.png`` (test accuracy
against R per d: compressed, fine-tuned, from scratch; the dense source as a line).  Resumable: finished runs are
skipped (a compression without its results.json is redone).

    python scripts/mnist_compress.py --jobs 2                                    # everything (hours on 2 cores)
    python scripts/mnist_compress.py --source results/mnist_budget/final/... --report-only
    python scripts/mnist_compress.py --root /tmp/compress_dry --data mini --hidden-size 16 --epochs 1 \\
        --train-subset 500 --cores 2 3 --ranks 1 4 --finetune-epochs 1      # a dry run in a minute
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

from ttrnn_np.cells import CellConfig, dense_weights
from ttrnn_np.checkpoint import load_checkpoint
from ttrnn_np.compress import unfolding_spectra
from ttrnn_np.experiments.compress_cli import compress_run
from ttrnn_np.experiments.mnist import RECIPES, MnistConfig, run_experiment
from ttrnn_np.experiments.report import markdown_table, write_csv
from ttrnn_np.experiments.runfolder import checkpoint_dir
from ttrnn_np.experiments.runtime import machine_info, set_blas_threads, tune_malloc
from ttrnn_np.rnn import upgrade_params

from mnist_budget import command as mnist_command  # this folder: scripts are run as `python scripts/…`

ROOT = Path("results/mnist_compress")
COLUMNS = [("cores", "d", "d"), ("rank", "R", "d"), ("params", "params", ",d"),
           ("error_W_x", "‖ΔW_x‖/‖W_x‖", ".3f"), ("error_W_h", "‖ΔW_h‖/‖W_h‖", ".3f"),
           ("compressed_test", "compressed test %", ".2f"), ("finetune_epochs", "fine-tune epochs", "d"),
           ("finetuned_test", "fine-tuned test %", ".2f"),
           ("scratch_params", "scratch params", ",d"), ("scratch_epochs", "scratch epochs", "d"),
           ("scratch_test", "scratch test %", ".2f")]


RANK_COLUMNS = [("matrix", "matrix", None), ("cut", "cut", None), ("max_rank", "max rank", "d"),
                ("r90_trained", "90 % trained", "d"), ("r90_random", "90 % Gaussian", "d"),
                ("r99_trained", "99 % trained", "d"), ("r99_random", "99 % Gaussian", "d")]


def work(job):
    """One job in a worker: ("train", config dict, out) or ("compress", source, d, R, K, lr, out); (out, status)."""
    tune_malloc()
    if job[-1] is not None:
        set_blas_threads(job[-1])
    kind, *args, _ = job
    if kind == "train":
        config, out = MnistConfig(**args[0]), Path(args[1])
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "log.txt", "a") as log:
            results = run_experiment(config, out=out, resume=True, progress=False, stream=log,
                                     command=mnist_command(config, out))
        test = results["test"]
        return str(out), results["status"] + ("" if test is None else f", test {100 * test['accuracy']:.2f} %")
    source, d, R, epochs, lr, out = args
    if (Path(out) / "results.json").exists():
        return out, "done before"
    command = (f"ttrnn compress {source} --cores {d} --rank {R} --finetune-epochs {epochs}"
               + ("" if lr is None else f" --lr {lr}") + f" --out {out}")
    results = compress_run(source, d, R, finetune_epochs=epochs, lr=lr, out=out, stream=io.StringIO(),
                           command=command)
    tuned = results["finetuned"]
    return out, (f"compressed test {100 * results['compressed']['test']['accuracy']:.2f} %"
                 + ("" if tuned is None else f", fine-tuned test {100 * tuned['test']['accuracy']:.2f} %"))


def run_all(jobs, workers):
    if workers == 1:
        yield from map(work, jobs)
        return
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap_unordered(work, jobs)


def source_config(options):
    return MnistConfig(**{**RECIPES["ours"], "epochs": options.epochs}, layout="dense", head="dense",
                       hidden_size=options.hidden_size, data=options.data, train_subset=options.train_subset)


def scratch_config(source, d, R, epochs):
    return dataclasses.replace(source, layout="joint", cores=d, rank=R, head="dense", epochs=epochs)


def scratch_dir(options, source, d, R):
    """ROOT/scratch/<run name>_e<epochs>: the from-scratch run of (d, R)."""
    config = scratch_config(source, d, R, options.scratch_epochs or source.epochs)
    return options.root / "scratch" / f"{config.name}_e{config.epochs}"


def trained_weights(source_dir):
    """(source config, {"W_x": (I, 4H), "W_h": (H, 4H)}) of the source run's best checkpoint."""
    stored = json.loads((Path(source_dir) / "results.json").read_text())
    params = upgrade_params(load_checkpoint(checkpoint_dir(source_dir) / "best")[0])
    return MnistConfig.from_dict(stored["config"]), dict(zip(("W_x", "W_h"), dense_weights(params["layers"][0])))


def gaussian_like(W, rng):
    """A Gaussian matrix with W's shape and Frobenius norm."""
    random = rng.standard_normal(W.shape)  # (M, N)
    return random * (np.linalg.norm(W) / np.linalg.norm(random))


def spectra(source_dir, cores, rng):
    """{"d": {"W_x" | "W_h": {"row_modes", "col_modes", "trained": [σ per bond], "random": [σ per bond]}}}."""
    config, W = trained_weights(source_dir)
    out = {}
    for d in cores:
        joint = CellConfig(config.cell, "joint", W["W_x"].shape[0], config.hidden_size, n_cores=d)
        out[d] = {}
        for name, ((row_modes, col_modes),) in joint.weight_shapes.items():
            trained = np.asarray(W[name], dtype=np.float64)  # (M, 4H)
            random = gaussian_like(trained, rng)  # (M, 4H)
            out[d][name] = {"row_modes": row_modes, "col_modes": col_modes,
                            "trained": [s.tolist() for s in unfolding_spectra(trained, row_modes, col_modes)],
                            "random": [s.tolist() for s in unfolding_spectra(random, row_modes, col_modes)]}
    return out


def energy_rank(sigma, fraction):
    """The smallest r whose leading singular values keep ``fraction`` of Σ σ² (a rank-r truncation's share)."""
    energy = np.cumsum(np.asarray(sigma) ** 2)  # (n_σ,)
    return int(np.searchsorted(energy, fraction * energy[-1]) + 1)


def rank_rows(source_dir, data, rng):
    """Per cut (each matrix as a plain matrix, then every bond of each d): the ranks keeping 90 % and 99 % of
    ‖W‖², trained against Gaussian, and the most the cut allows."""
    _, W = trained_weights(source_dir)
    rows = []
    for name, matrix in W.items():
        trained = np.linalg.svd(np.asarray(matrix, dtype=np.float64), compute_uv=False)  # (min(M, 4H),)
        random = np.linalg.svd(gaussian_like(np.asarray(matrix, dtype=np.float64), rng), compute_uv=False)
        cuts = [("matrix (low-rank UV)", trained, random)]
        cuts += [(f"d = {d}, bond {k + 1}", np.array(t), np.array(g)) for d, matrices in data.items()
                 for k, (t, g) in enumerate(zip(matrices[name]["trained"], matrices[name]["random"]))]
        rows += [{"matrix": name, "cut": cut, "max_rank": len(t), "r90_trained": energy_rank(t, 0.9),
                  "r90_random": energy_rank(g, 0.9), "r99_trained": energy_rank(t, 0.99),
                  "r99_random": energy_rank(g, 0.99)} for cut, t, g in cuts]
    return rows


def plot_spectra(data, path):
    """σ_α / σ_1 against α, per matrix (rows) and d (columns): trained solid, random dashed, one colour per bond."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cores = list(data)
    fig, axes = plt.subplots(2, len(cores), figsize=(3.6 * len(cores), 6), squeeze=False)
    for j, d in enumerate(cores):
        for i, name in enumerate(("W_x", "W_h")):
            ax, entry = axes[i][j], data[d][name]
            for k, (trained, random) in enumerate(zip(entry["trained"], entry["random"])):
                color = f"C{k}"
                ax.semilogy(np.arange(1, len(trained) + 1), np.array(trained) / trained[0], color=color,
                            label=f"bond {k + 1} trained")
                ax.semilogy(np.arange(1, len(random) + 1), np.array(random) / random[0], color=color, ls="--",
                            label=f"bond {k + 1} random")
            modes = f"({','.join(map(str, entry['row_modes']))})→({','.join(map(str, entry['col_modes']))})"
            ax.set_title(f"{name}, d = {d}: {modes}", fontsize=9)
            ax.set_xlabel("α")
            ax.grid(True, which="both", alpha=0.3)
            if j == 0:
                ax.set_ylabel("σ_α / σ_1")
            ax.legend(fontsize=6)
    fig.suptitle("Singular values of the unfoldings TT-SVD cuts: trained dense LSTM vs Gaussian", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def rows(options, source):
    """One row per (d, R) with the compression, fine-tuning and from-scratch numbers found under ROOT."""
    out = []
    for d in options.cores:
        for R in options.ranks:
            row = {"cores": d, "rank": R}
            path = options.root / "compress" / f"d{d}_R{R}" / "results.json"
            if path.exists():
                r = json.loads(path.read_text())
                errors = {m["matrix"]: m["rel_error"] for m in r["compression"]["matrices"]}
                row.update(params=r["params"], error_W_x=errors["W_x"], error_W_h=errors["W_h"],
                           compressed_test=100 * r["compressed"]["test"]["accuracy"],
                           finetune_epochs=None if r["finetuned"] is None else r["finetuned"]["epochs"],
                           finetuned_test=None if r["finetuned"] is None else 100 * r["finetuned"]["test"]["accuracy"],
                           compress_command=r["command"])
            scratch = scratch_dir(options, source, d, R) / "results.json"
            if scratch.exists():
                r = json.loads(scratch.read_text())
                row.update(scratch_params=r["sizes"]["total"], scratch_epochs=r["config"]["epochs"],
                           scratch_test=None if r["test"] is None else 100 * r["test"]["accuracy"])
            out.append(row)
    return out


def plot_accuracy(table, dense_test, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for k, d in enumerate(sorted({row["cores"] for row in table})):
        mine = [row for row in table if row["cores"] == d]
        for key, style, marker, label in (("compressed_test", ":", "o", "compressed"),
                                          ("finetuned_test", "-", "s", "fine-tuned"),
                                          ("scratch_test", "--", "^", "from scratch")):
            points = [(row["rank"], row[key]) for row in mine if row.get(key) is not None]
            if points:
                ax.plot(*zip(*points), ls=style, marker=marker, color=f"C{k}", label=f"d={d} {label}")
    if dense_test is not None:
        ax.axhline(dense_test, color="k", lw=1, label=f"dense source {dense_test:.2f} %")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("TT rank R")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("Compressing a trained dense LSTM into a joint TT-LSTM (row-MNIST)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def report(options, source_dir, source):
    table = rows(options, source)
    stored = json.loads((Path(source_dir) / "results.json").read_text())
    dense_test = None if stored.get("test") is None else 100 * stored["test"]["accuracy"]
    write_csv(options.root / "summary.csv", table, [key for key, _, _ in COLUMNS] + ["compress_command"])
    plot_accuracy(table, dense_test, options.root / "compress.png")
    data = spectra(source_dir, options.cores, np.random.default_rng(0))
    (options.root / "spectra.json").write_text(json.dumps(data))
    plot_spectra(data, options.root / "spectra.png")
    ranks = rank_rows(source_dir, data, np.random.default_rng(1))
    log = json.loads((options.root / "compress.json").read_text()) if (options.root / "compress.json").exists() else []
    compressions = sorted((options.root / "compress").glob("*/results.json"))  # the machine that ran the study
    machine = json.loads(compressions[0].read_text())["machine"] if compressions else machine_info()
    lines = ["# Compressing a trained dense LSTM into a joint TT-LSTM (row-MNIST)", "",
             "Generated by `scripts/mnist_compress.py` (the protocol is in its docstring).", "", "## How it was run", ""]
    lines += [f"- `{entry['command']}` ({entry['started']} → {entry.get('finished', 'interrupted')})" for entry in log]
    lines += [f"- source: `{source_dir}` ({stored['model']}), test accuracy "
              f"{'-' if dense_test is None else f'{dense_test:.2f} %'}, command `{stored.get('command')}`",
              f"- machine: {machine['cpu_count']} cores, {machine['blas']['name']} with {machine['blas']['threads']} "
              "BLAS thread(s)", "", "## Results", "", markdown_table(table, COLUMNS), "",
              "![accuracy against rank](compress.png)", "", "## Do the trained weights have low TT rank?", "",
              "The rank each cut needs to keep 90 % and 99 % of ‖W‖² (a rank-r truncation of that unfolding keeps "
              "the r largest σ²), for the trained weights and for a Gaussian matrix of the same shape and norm; "
              "the first row of each matrix is the plain matrix, the cut of the low-rank family:", "",
              markdown_table(ranks, RANK_COLUMNS), "", "![unfolding spectra](spectra.png)", ""]
    (options.root / "README.md").write_text("\n".join(lines) + "\n")
    return table


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=ROOT, help=f"results directory (default {ROOT})")
    parser.add_argument("--source", type=Path, default=None, help="a finished dense `ttrnn mnist` run (default: "
                                                                 "train one into ROOT/source)")
    parser.add_argument("--report-only", action="store_true", help="write the table, figures and README only")
    parser.add_argument("--cores", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--finetune-epochs", type=int, default=3)
    parser.add_argument("--finetune-lr", type=float, default=None, help="default: the source run's lr")
    parser.add_argument("--hidden-size", type=int, default=256, help="H of the source trained here (default 256)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs of the source trained here (default 20)")
    parser.add_argument("--scratch-epochs", type=int, default=None, help="epochs of the from-scratch runs "
                                                                         "(default: the source's)")
    parser.add_argument("--train-subset", type=int, default=None, help="training images (default all 50,000)")
    parser.add_argument("--data", choices=("full", "mini"), default="full")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (worker processes, one BLAS thread)")
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="BLAS threads per run (default: 1 with --jobs > 1, else the BLAS library's default)")
    return parser.parse_args(argv)


def main(argv=None):
    options = parse(argv)
    options.root.mkdir(parents=True, exist_ok=True)
    source_dir = options.source or options.root / "source"
    source = (MnistConfig.from_dict(json.loads((source_dir / "results.json").read_text())["config"])
              if options.source else source_config(options))
    if not options.report_only:
        log_path = options.root / "compress.json"
        log = json.loads(log_path.read_text()) if log_path.exists() else []
        entry = {"command": "python scripts/mnist_compress.py " + shlex.join(sys.argv[1:] if argv is None else argv),
                 "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
        log_path.write_text(json.dumps(log + [entry], indent=1))
        blas = options.blas_threads or (1 if options.jobs > 1 else None)
        if options.source is None:
            print("source:", work(("train", dataclasses.asdict(source), str(source_dir), blas))[1], flush=True)
        jobs = [("compress", str(source_dir), d, R, options.finetune_epochs, options.finetune_lr,
                 str(options.root / "compress" / f"d{d}_R{R}"), blas) for d in options.cores for R in options.ranks]
        jobs += [("train", dataclasses.asdict(scratch_config(source, d, R, options.scratch_epochs or source.epochs)),
                  str(scratch_dir(options, source, d, R)), blas)
                 for d in options.cores for R in options.ranks]
        for out, status in run_all(jobs, options.jobs):
            print(f"  {out}: {status}", flush=True)
        # read again: an invocation running beside this one may have added its own entry since
        log = [e for e in json.loads(log_path.read_text()) if e != entry]
        entry["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        log_path.write_text(json.dumps(sorted(log + [entry], key=lambda e: e["started"]), indent=1))
    table = report(options, source_dir, source)
    print(f"{len(table)} (d, R) rows → {options.root / 'summary.csv'}, compress.png, spectra.png, README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
