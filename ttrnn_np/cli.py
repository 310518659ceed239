"""The ``ttrnn`` command (also ``python -m ttrnn_np``): thin callers of the library's functions.

Subcommands register themselves through ``SUBCOMMANDS``: each entry names a module that provides
``add_arguments(parser)`` and ``run(args) -> int`` (a module serving several commands provides
``add_<name>_arguments`` and ``run_<name>`` instead).  ``cost`` lives here; the experiments live in their
modules.  Only the chosen subcommand's module is imported, so ``ttrnn cost`` and ``ttrnn --help`` load neither
the training code nor the machine tuning of ``experiments.runtime`` (the training commands tune malloc themselves).

**Errors.**  Every expected failure ends in one line on stderr, ``ttrnn COMMAND: error: <what> ; <fix>``, in
command-line terms (option names, not Python parameters), and an exit code of ``EXIT_CODES``; a traceback is
printed only for a bug (exit 70) or when ``--debug`` is given.  Options are matched exactly (no prefixes), and
an unknown one is reported with the subcommand's usage and the closest option name.
"""
import argparse
import difflib
import errno
import importlib
import itertools
import json
import re
import sys
import traceback
import warnings

from . import __version__

SUBCOMMANDS = {
    "cost": ("ttrnn_np.cli", "Parameters, compression and FLOPs of any cell/layout/size, without training"),
    "mnist": ("ttrnn_np.experiments.mnist_cli",
              "Train and evaluate one LSTM/GRU on sequential MNIST (row, pixel, permuted pixel)"),
    "speaker": ("ttrnn_np.experiments.speaker_cli",
                "Train and evaluate a speaker encoder (GE2E) on AN4 / LibriSpeech speakers; EERs with intervals"),
    "evaluate": ("ttrnn_np.experiments.runs_cli",
                 "Evaluate a saved run: its test (or validation) metrics, reproduced from the best checkpoint, "
                 "or its predictions"),
    "runs": ("ttrnn_np.experiments.runs_cli", "List the runs below a folder with their configuration and key results"),
    "plot": ("ttrnn_np.experiments.runs_cli",
             "Draw a run's training history (loss, accuracy or EER, gradient norm) to a PNG file"),
    "compress": ("ttrnn_np.experiments.compress_cli",
                 "Turn a trained MNIST run's cell into a joint TT cell by TT-SVD; evaluate, fine-tune, evaluate again"),
    "bench": ("ttrnn_np.experiments.bench_cli",
              "Run a benchmark script (TT product, LSTM step, inference profile, memory) or all of them"),
}

EXIT_CODES = {  # the documented exit codes of every subcommand
    0: "finished",
    1: "training diverged (the last good checkpoint is kept)",
    2: "bad command line: unknown option or invalid value (or an optional package it needs is missing)",
    3: "input missing or corrupt: data, audio, checkpoint or results file (named)",
    4: "I/O failure: output folder read-only, full or in use by another run; download failed",
    70: "a bug: the traceback is printed, please report it",
    130: "interrupted (Ctrl-C); checkpoints already written are kept",
}
EXIT_DIVERGED, EXIT_USAGE, EXIT_INPUT, EXIT_IO, EXIT_BUG, EXIT_INTERRUPTED = 1, 2, 3, 4, 70, 130
EXIT_EPILOG = "exit codes:\n" + "\n".join(f"  {code:<4}{text}" for code, text in EXIT_CODES.items())

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
                                  "and benchmarks for the fully tensorized LSTM/GRU (Onu, Miller, Precup 2020).",
        epilog=EXIT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"ttrnn_np {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, summary) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=summary, description=summary, allow_abbrev=False,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(module=module)
        if name == command:
            loaded = importlib.import_module(module)
            epilog = COST_EPILOG if name == "cost" else getattr(loaded, f"{name.upper()}_EPILOG",
                                                                  getattr(loaded, "EPILOG", None))
            p.epilog = "\n".join(text for text in (epilog, EXIT_EPILOG) if text)
            getattr(loaded, f"add_{name}_arguments", getattr(loaded, "add_arguments", None))(p)
            if name != "bench":  # bench hands every option to its script
                p.add_argument("--debug", action="store_true",
                               help="show the full traceback of an error (for reporting a problem)")
    return parser


def _subparser(parser, name):
    """The sub-parser of command ``name``."""
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


def _unknown_options(parser, command, extras):
    """Report options the command does not know with its own usage and the closest known option; exits 2."""
    target = _subparser(parser, command) if command else parser
    known = [s for a in target._actions for s in a.option_strings]
    hints = []
    for word in extras:
        if word.startswith("-"):
            stem = word.split("=")[0]
            close = ([o for o in known if o.startswith(stem) and o.startswith("--")][:3]
                     or difflib.get_close_matches(stem, known, n=1, cutoff=0.6))
            if close:
                hints.append(f"{word}: did you mean {' or '.join(close)}?")
    target.error(f"unrecognized arguments: {' '.join(extras)}" + (f" ({'; '.join(hints)})" if hints else "")
                 + f"; see ttrnn {command or ''} --help".replace("  ", " "))


# Python parameter phrases in library messages, as the command line says them
_PYTHON_TERMS = [(r'source="mini"', "--data mini"), (r"\bn_cores\b", "--cores"), (r"\bdata_dir=<", "--data-dir <"),
                 (r"\bdata_dir\b", "--data-dir"), (r"\bdownload=True\b", "--download"),
                 (r"\bhidden_size\b", "--hidden-size"), (r"\ban4_dir\b", "--an4-dir"),
                 (r"\blibrispeech_dir\b", "--librispeech-dir"), (r"\bpredictions=True\b", "--predictions")]


def command_line_terms(message, parser=None):
    """``message`` with Python parameter names replaced by the option names of the command line.

    Fixed phrases (``download=True`` → ``--download``, ``source="mini"`` → ``--data mini`` …) always; with
    ``parser``, a word ``name`` in "name must …" or "name=…" becomes its option when ``parser`` has one for it.
    """
    for pattern, replacement in _PYTHON_TERMS:
        message = re.sub(pattern, replacement, message)
    if parser is not None:
        options = {}
        for action in parser._actions:
            if action.option_strings and action.help != argparse.SUPPRESS:
                options.setdefault(action.dest, next((o for o in action.option_strings if o.startswith("--")),
                                                     action.option_strings[0]))
        for dest, option in options.items():
            message = re.sub(rf"(?<![-\w]){re.escape(dest)}(?= must\b|=)", option, message)
    return message


def exit_code(error):
    """The exit code of an expected failure (``EXIT_CODES``), or ``EXIT_BUG`` for anything else."""
    from .errors import DataError
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, (DataError, FileNotFoundError, NotADirectoryError, IsADirectoryError)):
        return EXIT_INPUT
    if isinstance(error, OSError):
        return EXIT_IO
    if isinstance(error, (ValueError, TypeError, ImportError)):
        return EXIT_USAGE
    return EXIT_BUG


def error_line(error):
    """The one-line message of an expected failure (multi-line messages keep their lines)."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted; checkpoints already written are kept (resume with --resume)"
    if isinstance(error, OSError) and error.strerror and error.filename and str(error).startswith("["):
        fix = {errno.ENOSPC: "free some disk space", errno.EACCES: "check its permissions",
               errno.EPERM: "check its permissions", errno.EROFS: "the file system is read-only"}.get(error.errno)
        return f"{error.filename}: {error.strerror}" + (f"; {fix}" if fix else "")
    return str(error)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((word for word in argv if not word.startswith("-")), None)  # the first word that is no option
    parser = build_parser(command if command in SUBCOMMANDS else None)
    if command == "bench":
        args, extras = parser.parse_args(argv), []
    else:
        args, extras = parser.parse_known_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    if extras:
        _unknown_options(parser, args.command, extras)
    loaded = importlib.import_module(args.module)
    run = getattr(loaded, f"run_{args.command}", getattr(loaded, "run", None))
    try:
        return run(args)
    except BaseException as error:  # noqa: B036 — sorted into expected failures and bugs below
        code = exit_code(error)
        if isinstance(error, SystemExit) or getattr(args, "debug", False) or code == EXIT_BUG:
            if not isinstance(error, SystemExit) and code == EXIT_BUG:
                traceback.print_exc()
                print(f"ttrnn {args.command}: internal error ({type(error).__name__}: {error}); this is a bug, "
                      "please report it with the traceback above", file=sys.stderr)
                return EXIT_BUG
            raise
        message = command_line_terms(error_line(error), _subparser(parser, args.command))
        print(f"ttrnn {args.command}: error: {message}", file=sys.stderr)
        return code
