"""``ttrnn evaluate RUN``, ``ttrnn runs [DIR]`` and ``ttrnn plot RUN``: the commands that read saved runs.

All three are thin callers of ``experiments.runs`` (``load_run``, ``evaluate_run``, ``run_row``,
``plot_history``).  ``evaluate`` recomputes a run's test metrics from its best checkpoint — an MNIST run's
accuracy and loss, a speaker run's EERs with their intervals and the baseline's on the same trials — and says
whether they reproduce the recorded numbers (exit 3 if not: the checkpoint or data differ from the run's).
"""
import json
import sys
from pathlib import Path

from .report import format_table

__all__ = ["EVALUATE_EPILOG", "RUNS_EPILOG", "PLOT_EPILOG", "add_evaluate_arguments", "run_evaluate",
           "add_runs_arguments", "run_runs", "add_plot_arguments", "run_plot"]

EVALUATE_EPILOG = """\
examples:
  ttrnn evaluate runs/mnist/lstm_joint_d2_R2_row
      the test accuracy of the run's best-validation parameters, checked against the recorded number
  ttrnn evaluate runs/mnist/lstm_joint_d2_R2_row --split val --json
  ttrnn evaluate runs/mnist/lstm_joint_d2_R2_row --predictions predictions.csv
      also write one line per test image: index, label, predicted class
  ttrnn evaluate results/speaker/study/models/an4-joint-d3-R2-H128-T80-f1-s11
      a speaker run: the EERs of both protocols with 95 % intervals on AN4's held-out speakers (and
      LibriSpeech test-other), beside the no-training baseline, checked against the recorded numbers

The data are found as for the training run.  MNIST: --data-dir, $TTRNN_DATA/mnist, the user cache; MINI runs
read the shipped subset.  Speaker runs: --an4-dir ($TTRNN_DATA/an4) and --librispeech-dir
($TTRNN_DATA/librispeech-sample); the run's split seed gives the same held-out speakers and trials, and the
training frames the same normalisation, so the training corpora are read too (features cached, --cache-dir).
A speaker run reproduces when every EER and interval bound is within 1e-9 of the recorded one (the EER only
changes if the trials' order does; on one machine they are bit-identical).
"""
RUNS_EPILOG = """\
examples:
  ttrnn runs                 every run below runs/ (the default --out of the training commands)
  ttrnn runs results/mnist_full --json

status: complete, diverged, running (its run.lock is held), interrupted (checkpoints but no results.json).
"""
PLOT_EPILOG = """\
examples:
  ttrnn plot runs/mnist/lstm_joint_d2_R2_row            writes runs/mnist/lstm_joint_d2_R2_row/history.png
  ttrnn plot runs/mnist/lstm_joint_d2_R2_row --png curves.png

Three panels: the training loss of every step (and the validation loss per epoch), accuracy (MNIST) or EER
(speaker) per evaluation, and the pre-clipping global gradient norm per step (log scale).  Needs matplotlib.
"""


def add_evaluate_arguments(parser):
    parser.add_argument("run", metavar="RUN", help="a run folder (the --out of ttrnn mnist or ttrnn speaker)")
    parser.add_argument("--split", choices=("test", "val", "train"), default="test",
                        help="which split to evaluate (default test; speaker runs: test or val)")
    parser.add_argument("--data-dir", default=None, help="MNIST runs: the folder holding the four MNIST IDX files")
    parser.add_argument("--predictions", default=None, metavar="CSV",
                        help="MNIST runs: write index,label,predicted for every image of the split")
    parser.add_argument("--an4-dir", default=None, help="speaker runs: the AN4 corpus (default $TTRNN_DATA/an4)")
    parser.add_argument("--librispeech-dir", default=None,
                        help="speaker runs: the LibriSpeech sample (default $TTRNN_DATA/librispeech-sample)")
    parser.add_argument("--cache-dir", default=None,
                        help="speaker runs: feature cache (default $TTRNN_CACHE or ~/.cache/ttrnn_np)")
    parser.add_argument("--blas-threads", type=int, default=None, metavar="N",
                        help="OpenBLAS threads (default: as many as the run trained with, which reproduces its "
                             "numbers bit for bit)")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")


def run_evaluate(args):
    """Evaluate a saved run; 0 when the recorded test numbers are reproduced (or none are recorded), 3 if not."""
    from .runs import evaluate_run, recorded_blas_threads
    from .runtime import set_blas_threads
    set_blas_threads(args.blas_threads or recorded_blas_threads(args.run))
    out = evaluate_run(args.run, split=args.split, data_dir=args.data_dir, predictions=bool(args.predictions),
                       an4_dir=args.an4_dir, librispeech_dir=args.librispeech_dir, cache_dir=args.cache_dir)
    if out["kind"] == "speaker":
        _print_speaker(args, out)
    else:
        _print_mnist(args, out)
    if out["reproduced"] is False:
        print(f"ttrnn evaluate: error: {args.run}: the {args.split} numbers differ from the recorded ones; the "
              "checkpoint, the data or the BLAS (its kernel or thread count, --blas-threads) changed since the run",
              file=sys.stderr)
        return 3
    return 0


def _print_mnist(args, out):
    if args.predictions:
        from ..checkpoint import write_atomic
        rows = ["index,label,predicted"] + [f"{i},{y},{p}" for i, (y, p) in
                                            enumerate(zip(out["labels"].tolist(), out["predictions"].tolist()))]
        write_atomic(args.predictions, ("\n".join(rows) + "\n").encode())
    recorded = out["recorded"]
    if args.json:
        print(json.dumps({"run": args.run, "split": args.split, "loss": out["loss"], "accuracy": out["accuracy"],
                          "recorded": recorded, "reproduced": out["reproduced"]}))
        return
    print(f"{args.run}: {args.split} accuracy {100 * out['accuracy']:.2f} % (loss {out['loss']:.4f}) "
          "with the best-validation parameters")
    if recorded is not None:
        print("reproduces the recorded test numbers exactly" if out["reproduced"] else
              f"differs from the recorded test numbers: accuracy {100 * recorded['accuracy']:.2f} %, "
              f"loss {recorded['loss']:.4f}")
    if args.predictions:
        print(f"predictions: {args.predictions}")


def _print_speaker(args, out):
    from .runs import EER_TOLERANCE
    differences = out["differences"]
    if args.json:
        print(json.dumps({"run": args.run, "split": args.split, "scores": out["scores"], "recorded": out["recorded"],
                          "differences": differences, "reproduced": out["reproduced"],
                          "tolerance": EER_TOLERANCE}))
        return
    from .speaker_cli import test_table
    config, scores = out["config"], out["scores"]
    print(f"{args.run}: speaker run {config.name}, {args.split} EERs with the best-validation parameters")
    if args.split == "val":
        print(f"  validation EER {100 * scores['enrolment']:.2f} % (enrolment), {100 * scores['pairwise']:.2f} % "
              "(pairwise)")
    else:
        for name, encoder in scores["tests"].items():
            trials = out["trials"][name]
            print("\n".join(test_table(name, trials, encoder, scores["baseline"][name])))
    if differences is None:
        return
    largest = max(abs(d["difference"]) for d in differences.values())
    if out["reproduced"]:
        what = "EERs and interval bounds" if args.split == "test" else "EERs"
        print(f"reproduces the {len(differences)} recorded numbers ({what}): largest difference {largest:.2g}, "
              f"tolerance {EER_TOLERANCE:g}")
        return
    print(f"differs from the recorded numbers (tolerance {EER_TOLERANCE:g}):")
    for key, d in differences.items():
        if abs(d["difference"]) > EER_TOLERANCE:
            print(f"  {key}: {100 * d['recomputed']:.3f} % now, {100 * d['recorded']:.3f} % recorded "
                  f"({100 * d['difference']:+.4f} points)")


def add_runs_arguments(parser):
    parser.add_argument("dir", metavar="DIR", nargs="?", default="runs", help="folder searched for runs (runs)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")


def run_runs(args):
    """Print a table of the runs below ``DIR``."""
    from .runfolder import find_runs
    from .runs import run_row
    root = Path(args.dir)
    rows, problems = [], []
    for path in find_runs(root):
        try:
            rows.append(run_row(path, root))
        except (ValueError, OSError) as error:  # one damaged run does not hide the others
            problems.append(f"{path}: {error}")
    if args.json:
        print(json.dumps(rows, indent=1))
    elif not rows:
        print(f"no runs below {root}")
    else:
        print(format_table(rows, [("run", "run", None), ("kind", "kind", None), ("status", "status", None),
                                  ("model", "model", None), ("params", "params", ",d"),
                                  ("epochs", "epochs/steps", "d"), ("best_val", "best validation", None),
                                  ("test", "test", None)]))
    for problem in problems:
        print(f"ttrnn runs: skipped {problem}", file=sys.stderr)
    return 0


def add_plot_arguments(parser):
    parser.add_argument("run", metavar="RUN", help="a run folder")
    parser.add_argument("--png", default=None, help="where to write the figure (default RUN/history.png)")


def run_plot(args):
    """Draw the run's history to a PNG file."""
    from .runs import plot_history
    print(f"wrote {plot_history(args.run, args.png)}")
    return 0

