"""The ``ttrnn`` command (also ``python -m ttrnn_np``): thin callers of the library's functions.

Subcommands register themselves through ``SUBCOMMANDS``: each entry names a module that provides
``add_arguments(parser)`` and ``run(args) -> int``.  ``cost`` lives here; the experiments live in their modules.
Only the chosen subcommand's module is imported, so ``ttrnn cost`` and ``ttrnn --help`` load neither the training
code nor the machine tuning of ``experiments.runtime`` (the training commands tune malloc themselves).
"""
import argparse
import importlib
import itertools
import json
import sys
import warnings

from . import __version__

SUBCOMMANDS = {
    "cost": ("ttrnn_np.cli", "Parameters, compression and FLOPs of any cell/layout/size, without training"),
    "mnist": ("ttrnn_np.experiments.mnist_cli",
              "Train and evaluate one LSTM/GRU on sequential MNIST (row, pixel, permuted pixel)"),
    "speaker": ("ttrnn_np.experiments.speaker_cli",
                "Train and evaluate a speaker encoder (GE2E) on AN4 / LibriSpeech speakers; EERs with intervals"),
    "bench": ("ttrnn_np.experiments.bench_cli", "Run a benchmark script (TT product, LSTM step, memory)"),
    "compress": ("ttrnn_np.experiments.compress_cli",
                 "Turn a trained MNIST run's cell into a joint TT cell by TT-SVD; evaluate, fine-tune, evaluate again"),
}

COST_EPILOG = """\
examples:
  ttrnn cost --input-size 28 --hidden-size 256 --cores 3 --rank 4
      the size story of one joint TT-LSTM cell (the paper's row-MNIST cell at d=3, R=4)
  ttrnn cost --input-size 28 --hidden-size 256 --cores 2 3 4 --rank 1 2 4 8 --head tt
      a table over cores × ranks, each with a TT classification head 256→10
  ttrnn cost --layout dense joint naive joint_gate_core --json
      machine-readable counts for all four layouts

Parameters are counted with one bias per cell (4H for the LSTM, 3H for the GRU) and reported with and without
biases.  FLOPs are per sample and time step for both products x·W_x and h·W_h (a multiply-add counts 2); "best"
takes the cheaper contraction order of each product.  Ranks above a bond's useful maximum are kept (never capped)
and shown with their useful values.
"""


class _DeprecatedAlias(argparse.Action):
    """An old option name that still works and says, in one line on stderr, which name replaced it."""

    def __init__(self, option_strings, dest, new_option, **kwargs):
        super().__init__(option_strings, dest, **kwargs)
        self.new_option = new_option

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog}: note: {option_string} is deprecated; use {self.new_option}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_deprecated_alias(parser, old_option, new_option, dest, type=None):
    """Accept ``old_option`` as a hidden synonym of ``new_option`` (same ``dest``), with a deprecation note."""
    parser.add_argument(old_option, dest=dest, type=type, action=_DeprecatedAlias, new_option=new_option,
                        default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def add_arguments(parser):
    """Options of ``ttrnn cost``."""
    from .cells import LAYOUTS
    parser.add_argument("--cell", choices=("lstm", "gru"), default="lstm", help="recurrent cell (default lstm)")
    parser.add_argument("--layout", nargs="+", choices=LAYOUTS, default=["joint"],
                        help="weight layout(s): dense, naive (one TT per gate), joint (one TT for all gates, the "
                             "paper's), joint_gate_core (a first core carrying the gate index), lowrank (W = U V of "
                             "rank R; --cores then shapes a TT head only); default joint")
    parser.add_argument("--input-size", "-I", type=int, default=28, help="input features per step I (default 28)")
    parser.add_argument("--hidden-size", "-H", type=int, default=256, help="hidden units H (default 256)")
    parser.add_argument("--cores", "-d", type=int, nargs="+", default=[2], help="TT factor cores d (default 2)")
    parser.add_argument("--rank", "-R", type=int, nargs="+", default=[2], help="TT rank R (default 2)")
    parser.add_argument("--layers", type=int, default=1, help="stacked layers (default 1)")
    parser.add_argument("--head", choices=("none", "dense", "tt"), default="none",
                        help="classification head on h_T: none (cell only, default), dense or tt")
    parser.add_argument("--head-out", type=int, default=10, help="head output size (default 10 classes)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def _config(args, layout, d, R):
    from .cells import CellConfig
    from .heads import HeadConfig
    from .rnn import ModelConfig
    cell = CellConfig(kind=args.cell, layout=layout, input_size=args.input_size, hidden_size=args.hidden_size,
                      n_cores=d, rank=R)
    head = None if args.head == "none" else HeadConfig(kind="classify", out_size=args.head_out, layout=args.head)
    return ModelConfig(cell, num_layers=args.layers, head=head)


def run(args):
    """Print the size story of one configuration, or a table over every layout × cores × rank asked for."""
    from .sizes import model_sizes, size_story
    combos = []
    for layout, d, R in itertools.product(args.layout, args.cores, args.rank):
        if layout == "dense" and any(c[0] == "dense" for c in combos):
            continue  # cores and rank do not apply to the dense layout
        combos.append((layout, d, R))
    rows = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for layout, d, R in combos:
            config = _config(args, layout, d, R)
            rows.append((layout, d, R, config, model_sizes(config)))
    notes = sorted({str(w.message) for w in caught})
    if args.json:
        print(json.dumps([{"cell": args.cell, "layout": layout, "cores": None if layout == "dense" else d,
                           "rank": None if layout == "dense" else R, "input_size": args.input_size,
                           "hidden_size": args.hidden_size, "layers": args.layers, "head": args.head,
                           **{k: s[k] for k in ("parts", "total", "total_no_bias", "dense_total", "dense_no_bias",
                                                "compression", "compression_no_bias", "flops_per_step",
                                                "head_flops", "ranks")}}
                          for layout, d, R, _, s in rows], indent=2, default=list))
        return 0
    if len(rows) == 1:
        print(size_story(rows[0][3]))
    else:
        header = f"{'layout':<16}{'d':>3}{'R':>4}{'params':>12}{'no bias':>11}{'compress':>10}{'FLOPs/step':>13}"
        print(header)
        print("-" * len(header))
        for layout, d, R, _, s in rows:
            dR = ("-", "-") if layout == "dense" else (d, R)
            print(f"{layout:<16}{dR[0]:>3}{dR[1]:>4}{s['total']:>12,}{s['total_no_bias']:>11,}"
                  f"{s['compression']:>9.1f}×{s['flops_per_step']['best']:>13,}")
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return 0


def build_parser(command=None):
    """The ``ttrnn`` parser; only ``command``'s module is imported (its options and epilog), None: no module."""
    parser = argparse.ArgumentParser(
        prog="ttrnn", description="Tensor-train recurrent networks in pure NumPy: size accounting, experiments "
                                  "and benchmarks for the fully tensorized LSTM/GRU (Onu, Miller, Precup 2020).")
    parser.add_argument("--version", action="version", version=f"ttrnn_np {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, summary) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=summary, description=summary,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(module=module)
        if name == command:
            loaded = importlib.import_module(module)
            p.epilog = COST_EPILOG if name == "cost" else getattr(loaded, "EPILOG", None)
            loaded.add_arguments(p)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((word for word in argv if not word.startswith("-")), None)  # the first word that is no option
    parser = build_parser(command if command in SUBCOMMANDS else None)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return importlib.import_module(args.module).run(args)
    except (ValueError, FileNotFoundError, TypeError) as error:
        print(f"ttrnn {args.command}: error: {error}", file=sys.stderr)
        return 2
