"""``ttrnn bench NAME [options]``: run one of the benchmark scripts of a source checkout, or all of them.

The scripts live in ``benchmarks/`` beside the package (they are not installed with it: benchmarks are scripts
that report numbers, never tests).  This command finds that folder — in the current directory or beside the
installed package (an editable install) — and hands the remaining options to the script's own ``main``.
``ttrnn bench all`` runs ``benchmarks/run_all.py``: every benchmark in a fresh process, then the figures and tables.
"""
import argparse
import importlib
import sys
from pathlib import Path

BENCHMARKS = {  # name: (module in benchmarks/, what it measures)
    "all": ("run_all", "every benchmark below, each in a fresh process, then the figures and the Markdown tables"),
    "ttmatmul": ("bench_ttmatmul", "the TT-matrix product vs the dense product: time, FLOPs, GFLOP/s, break-even rank"),
    "lstm": ("bench_lstm", "one LSTM step and a whole sequence, inference and training, dense vs joint TT "
                           "(optionally torch)"),
    "profile": ("profile_inference", "where the large LSTM's inference time goes: input projection, recurrent "
                                     "products, point-wise"),
    "memory": ("bench_memory", "peak memory of a training step vs sequence length, each in a fresh process"),
}

EPILOG = "benchmarks:\n" + "\n".join(f"  {name:<10}{text}" for name, (_, text) in BENCHMARKS.items()) + """

examples:
  ttrnn bench all                           every benchmark at full size, results in results/bench/
  ttrnn bench all --quick                   every benchmark on tiny sizes (well under a minute)
  ttrnn bench ttmatmul --quick              a smoke run in seconds
  ttrnn bench ttmatmul --plot results/bench/ttmatmul.json results/bench/ttmatmul_vs_rank.png
  ttrnn bench lstm --torch --out results/bench/lstm.json
  ttrnn bench memory --help                 the script's own options
"""


def add_arguments(parser):
    parser.add_argument("name", choices=tuple(BENCHMARKS), help="which benchmark (all: every one)")
    parser.add_argument("options", nargs=argparse.REMAINDER, help="options passed to the benchmark script")


def checkout_root():
    """The folder holding ``benchmarks/``: the current directory, else the installed package's parent."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (root / "benchmarks" / "common.py").is_file():
            return root
    raise FileNotFoundError("the benchmarks/ folder was not found in the current directory nor beside the "
                            "installed package; run `ttrnn bench` from a source checkout of ttrnn_np")


def run(args):
    root = str(checkout_root())
    if root not in sys.path:
        sys.path.insert(0, root)
    module, _ = BENCHMARKS[args.name]
    status = importlib.import_module(f"benchmarks.{module}").main(args.options)
    return status or 0
