"""``ttrnn bench NAME [options]``: run one of the benchmark scripts of a source checkout, or all of them.

The scripts live in ``benchmarks/`` of the source checkout, beside the package folder (they are not installed
with it: benchmarks are scripts that report numbers, never tests).  This command runs
``python -m benchmarks.<script> [options]`` as a separate process with the checkout as its working directory
(so relative paths in the options are relative to the checkout), and returns that process's exit code.  An
installed package without its checkout (no ``benchmarks/`` beside it) cannot run them, and says so.
``ttrnn bench all`` runs ``benchmarks/run_all.py``: every benchmark in a fresh process, then the figures and tables.
"""
import argparse
import subprocess
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

Run from an editable install of a source checkout (pip install -e .); relative paths are relative to it.

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
    """The source checkout this package sits in (the folder holding ``ttrnn_np/`` and ``benchmarks/``), or None."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "benchmarks" / "common.py").is_file() else None


def run(args):
    """Run the benchmark script in a fresh process in the checkout; its exit code (2: no checkout)."""
    root = checkout_root()
    if root is None:
        print(f"ttrnn bench: needs a source checkout (benchmarks/ beside the package); {Path(__file__).parents[1]} "
              "is installed without one — clone the repository and `pip install -e .` it", file=sys.stderr)
        return 2
    module, _ = BENCHMARKS[args.name]
    return subprocess.run([sys.executable, "-m", f"benchmarks.{module}", *args.options], cwd=root).returncode
