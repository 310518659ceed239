"""``ttrnn mnist``: the command-line face of ``experiments.mnist`` (options, the end-of-run table, exit codes).

Options that a recipe sets (``--lr --schedule --step-size --gamma --epochs --clip``) override the recipe only
when given.  Every option is checked (``MnistConfig``) before any data is read; the run folder (``--out``, by
default ``runs/mnist/<name>``) is locked and proven writable before training.  Exit codes (``cli.EXIT_CODES``):
0 finished, 1 diverged (results and checkpoints of the last good epoch are kept), 2 bad options, 3 missing or
corrupt data, 4 I/O failure (failures are raised for ``cli.main`` to print in one line).
"""
import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path

from ..cli import add_deprecated_alias
from .mnist import CHOICES, RECIPES, MnistConfig, run_experiment
from .report import format_table
from .runfolder import checkpoint_dir

__all__ = ["EPILOG", "add_arguments", "config_from_args", "summary_rows", "run"]

EPILOG = """\
examples:
  ttrnn mnist --data mini --hidden-size 32 --epochs 2
      a quick joint TT-LSTM run on the MINI subset shipped with the package (4,000 train images; said so),
      written to runs/mnist/lstm_joint_d2_R2_row (then: ttrnn evaluate / ttrnn plot that folder, ttrnn runs)
  ttrnn mnist --layout joint --cores 3 --rank 4 --out results/mnist_row/lstm_joint_d3_R4_row
      the paper's row-MNIST TT-LSTM (H=256, TT head); results.json and checkpoints/ go to --out
  ttrnn mnist --layout dense --recipe paper --out runs/dense_paper
      the dense LSTM baseline with the authors' recipe (lr 1e-2, ×0.1 every 10 epochs, no clipping)
  ttrnn mnist --view permuted --tbptt 196 --cores 4 --rank 4 --train-subset 10000 --epochs 5
      permuted pixel MNIST (784 steps, forget bias 1.0), gradients through the last 196 steps
  ttrnn mnist --layout dense --recipe paper --out runs/dense_paper --resume --epochs 30
      continue that run from its last checkpoint up to 30 epochs in total (other options must match)

protocol: 50,000 train / 10,000 validation images (seeded split of the training file), batches reshuffled
every epoch, the epoch with the best validation accuracy is kept and only it is evaluated on the test set,
once.  The authors' published row-MNIST numbers are the best *test* accuracy over epochs (test-selected).

recipes: "ours" (default) Adam lr 2e-3, ×0.1 every 10 epochs, 20 epochs, clip 5; "paper" the authors' lr 1e-2,
same schedule, no clipping (fragile for the dense LSTM, which stalls near 97 %).  float32 is the default:
float64 gave the same losses and accuracies to 4 digits over a 4-epoch check and is up to 2× slower.
Data: --data-dir, else $TTRNN_DATA/mnist, else the user cache (--download fetches it); --data mini is only
ever used when asked for.  On busy cores --blas-threads 1 is often faster.

cost (2-core CPU, float32, batch 128, H=256): a row-view step takes about 0.1 s (dense or joint d=3 R=4), so
an epoch of 50,000 images is 1–2 min.  A pixel-view step (784 steps) takes about 4 s with full BPTT (1.7 GB
peak memory, measured in float32 at B=128) and 1.4 s with --tbptt 196; truncation also limits what the
gradient can see (the last K pixels).

run folder (--out, default runs/mnist/<cell>_<layout>[_d<d>_R<R>]_<view>): results.json and checkpoints/best,
checkpoints/last; a second run into a folder in use is refused, an existing run is continued only with --resume.
Divergence: a NaN/inf loss or gradient, or a loss above 100 × the first step's, stops the run (exit 1).
"""


def _clip(text):
    """--clip: a number > 0, or "none" for no clipping."""
    if text.lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0 or 'none', got {text!r}") from None


def _positive(text):
    """An integer ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def default_out(config):
    """The run folder when --out is not given: runs/mnist/<run name>."""
    return str(Path("runs") / "mnist" / config.name)


def add_arguments(parser):
    """Options of ``ttrnn mnist``."""
    model = parser.add_argument_group("model")
    model.add_argument("--cell", choices=CHOICES["cell"], default="lstm", help="recurrent cell (default lstm)")
    model.add_argument("--layout", choices=CHOICES["layout"], default="joint",
                       help="weights: dense, naive (one TT per gate), joint (one TT for all gates, the paper's, "
                            "default) or joint_gate_core (a leading core carries the gate index)")
    model.add_argument("--cores", "-d", type=int, default=2, help="TT factor cores d (default 2)")
    model.add_argument("--rank", "-R", type=int, default=2, help="TT rank R (default 2)")
    model.add_argument("--hidden-size", "-H", type=int, default=256, help="hidden units H (default 256)")
    add_deprecated_alias(model, "--hidden", "--hidden-size", dest="hidden_size", type=int)
    model.add_argument("--layers", type=int, default=1, help="stacked layers (default 1)")
    model.add_argument("--head", choices=CHOICES["head"], default=None,
                       help="classifier on h_T: dense or tt (default: tt for TT layouts, dense for dense)")
    model.add_argument("--init", choices=CHOICES["init"], default="glorot",
                       help="glorot (default: the same full-matrix variance for every layout) or reference "
                            "(PyTorch's U(±1/√fan_in) for dense weights, as the authors)")
    model.add_argument("--forget-bias", type=float, default=None,
                       help="added to the LSTM forget-gate bias (default 1.0 for pixel views, else 0)")
    data = parser.add_argument_group("data")
    data.add_argument("--view", choices=CHOICES["view"], default="row",
                      help="row: 28 steps × 28 pixels (default); pixel: 784 × 1; permuted: 784 × 1, fixed order")
    data.add_argument("--perm-seed", type=int, default=0, help="seed of the permuted view's pixel order (0)")
    data.add_argument("--data", choices=CHOICES["data"], default="full",
                      help="full MNIST (default) or mini, the 5,000-image subset shipped with the package")
    data.add_argument("--data-dir", default=None, help="folder holding the four MNIST IDX files")
    data.add_argument("--download", action="store_true", help="download missing MNIST files (verified)")
    data.add_argument("--train-subset", type=int, default=None, metavar="N",
                      help="train on a seeded random N-image subset of the 50,000 training images")
    data.add_argument("--val-subset", type=int, default=None, metavar="N",
                      help="validate on a seeded random N-image subset of the 10,000 validation images")
    train = parser.add_argument_group("training (the recipe's values unless given)")
    train.add_argument("--recipe", choices=tuple(RECIPES), default="ours",
                       help="ours (default): lr 2e-3, clip 5; paper: the authors' lr 1e-2, no clipping")
    sup = argparse.SUPPRESS
    train.add_argument("--epochs", type=int, default=sup, help="epochs (recipe: 20)")
    train.add_argument("--lr", type=float, default=sup, help="Adam learning rate (recipe: 2e-3 / paper 1e-2)")
    train.add_argument("--schedule", choices=CHOICES["schedule"], default=sup,
                       help="step (×gamma every step-size epochs; recipe), cosine (per step) or constant")
    train.add_argument("--step-size", type=int, default=sup, help="epochs between step decays (recipe: 10)")
    train.add_argument("--gamma", type=float, default=sup, help="step decay factor (recipe: 0.1)")
    train.add_argument("--clip", type=_clip, default=sup, help="max global gradient norm or 'none' (recipe: 5)")
    train.add_argument("--batch-size", type=int, default=128, help="training batch size (default 128)")
    train.add_argument("--seed", type=int, default=0, help="seed of initialisation, shuffling, subsets (0)")
    train.add_argument("--tbptt", type=int, default=None, metavar="K",
                       help="truncated BPTT: gradients through the last K steps only (default: full BPTT)")
    train.add_argument("--dtype", choices=CHOICES["dtype"], default="float32", help="float32 (default) or float64")
    train.add_argument("--eval-batch-size", type=int, default=1000, help="images per evaluation batch (1000)")
    run_group = parser.add_argument_group("run")
    run_group.add_argument("--out", default=None, metavar="DIR",
                           help="run folder: results.json and checkpoints/ (default runs/mnist/<run name>)")
    run_group.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    run_group.add_argument("--blas-threads", type=_positive, default=None, metavar="N",
                           help="OpenBLAS threads (default: as configured; 1 is often faster on busy cores)")
    run_group.add_argument("--json", action="store_true",
                           help="print the results as JSON on stdout (progress and tables go to stderr)")


def config_from_args(args):
    """The ``MnistConfig`` of parsed options: the recipe, overridden by the recipe options given."""
    fields = {f.name for f in dataclasses.fields(MnistConfig)}
    given = {name: value for name, value in vars(args).items() if name in fields}
    return MnistConfig(**{**RECIPES[args.recipe], **given})


def summary_rows(results):
    """The end-of-run table as rows {"quantity", "value"} for ``report.format_table``."""
    parts, sizes, best, test = results["sizes"]["parts"], results["sizes"], results["best"], results["test"]
    rows = [("model", results["model"]), ("data", f"{results['data']['source']} MNIST, {results['data']['view']} "
                                                  f"view, {results['data']['n_train']:,} training images"),
            ("status", results["status"])]
    rows += [(f"parameters {name}", f"{parts[key]:,}") for key, name in
             (("W_x", "W_x"), ("W_h", "W_h"), ("bias", "bias"), ("head_W", "head W"), ("head_b", "head b"))]
    rows += [("parameters total", f"{sizes['total']:,} ({sizes['total_no_bias']:,} without biases)"),
             ("dense equivalent", f"{sizes['dense_total']:,} → compression {sizes['compression']:,.1f}×"),
             ("best validation accuracy", "-" if best is None else
              f"{100 * best['val_accuracy']:.2f} % at epoch {best['epoch'] + 1} of {results['epochs_run']}"),
             ("test accuracy (best-val params)", "-" if test is None else
              f"{100 * test['accuracy']:.2f} % (error {test['error_pct']:.2f} %), evaluated once")]
    seconds, rate = results["seconds_per_epoch"], results["examples_per_s"]
    if seconds["train"] is not None:
        rows.append(("seconds per epoch", f"{seconds['train']:.1f} training + {seconds['eval']:.1f} validation "
                                          f"({rate:,.0f} training examples/s)"))
    rows.append(("wall time", f"{results['wall_time_s']:.1f} s" + (f", results in {results['out']}"
                                                                     if results["out"] else "")))
    return [{"quantity": quantity, "value": value} for quantity, value in rows]


def run(args):
    """Train and evaluate one configuration; print the table (or JSON); 0 finished, 1 diverged."""
    from .runtime import set_blas_threads, tune_malloc
    tune_malloc()  # keep NumPy's large temporaries mapped between steps (measured: up to 40 % faster training)
    config = config_from_args(args)
    if args.blas_threads is not None and not set_blas_threads(args.blas_threads):
        print(f"ttrnn mnist: note: could not set the BLAS threads to {args.blas_threads} (not OpenBLAS?)",
              file=sys.stderr)
    stream = sys.stderr if args.json else sys.stdout
    command = "ttrnn " + shlex.join(sys.argv[1:])
    out = args.out or default_out(config)
    results = run_experiment(config, out=out, resume=args.resume, data_dir=args.data_dir,
                             download=args.download, stream=stream, command=command)
    print(format_table(summary_rows(results), [("quantity", "result", None), ("value", "", None)]), file=stream)
    if args.json:
        print(json.dumps(results))
    if results["status"] == "diverged":
        last = checkpoint_dir(out) / "last"
        kept = (f"the last good checkpoint is {last}" if (checkpoint_dir(out) / "last.json").exists() else
                "no checkpoint was written: the run diverged in its first epoch")
        print(f"ttrnn mnist: {results['diverged']['message']}; {kept}. Try a smaller --lr or --clip.",
              file=sys.stderr)
        return 1
    return 0
