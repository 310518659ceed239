"""Run every benchmark with one command: the TT product, the LSTM (against torch when torch can be imported), where
the large LSTM's inference time goes, and the memory of full BPTT; then draw the figures and print the tables.

    python -m benchmarks.run_all                  full sizes, results in results/bench/
    python -m benchmarks.run_all --quick          tiny sizes (a smoke run), results in a new temporary folder
    python -m benchmarks.run_all --dry-run        print the commands only
    ttrnn bench all [options]                     the same, from anywhere in a source checkout

The steps, each ``python -m benchmarks.<script> …`` in a **fresh Python process**, so that no benchmark inherits
another's allocator state, BLAS or torch thread setting or imported modules (DIR is ``--out-dir``):

1. ``bench_ttmatmul --out DIR/ttmatmul.json``
2. ``bench_lstm [--torch] --threads T --out DIR/lstm.json`` (``--torch`` only if ``import torch`` works in this
   Python; the run says so when it leaves torch out)
3. ``profile_inference --out DIR/profile_inference.json`` (where the large LSTM's inference time goes)
4. ``bench_memory --dtype float32 float64 --out DIR/memory.json`` (float32 only with ``--quick``)
5. the figures ``DIR/ttmatmul_vs_rank.png`` (``bench_ttmatmul --plot``) and ``DIR/lstm.png`` (``bench_lstm --plot``
   with the memory panel), if matplotlib is installed (the run says so when it is not)
6. the tables of the four JSON files in Markdown (``--report … --markdown``)

Every process starts with OPENBLAS_NUM_THREADS = OMP_NUM_THREADS = T (``--threads``, default 1: on a shared
machine a second BLAS thread mostly waits for a core).  ``--quick`` passes ``--quick`` to each script (their
small presets) and, unless ``--out-dir`` is given, writes to a temporary folder, never over the full results.
"""
import argparse
import importlib.util
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]  # the checkout: benchmarks/ and ttrnn_np/ live here
DEFAULT_OUT_DIR = ROOT / "results" / "bench"
TORCH_HINT = "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"


def torch_importable(python=sys.executable):
    """(True, version) if ``import torch`` works in ``python``, else (False, the error's last line).

    Tried in a separate process, so this process does not load torch (hundreds of MB) only to ask."""
    done = subprocess.run([python, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True)
    if done.returncode == 0:
        return True, done.stdout.strip()
    lines = done.stderr.strip().splitlines()
    return False, lines[-1] if lines else f"exit code {done.returncode}"


def plan(out_dir, quick=False, threads=1, use_torch=False, figures=True):
    """The steps as a list of {"title", "module", "options"}; each runs as ``python -m module *options``.
    ``figures=False`` leaves out the two figure steps (they need matplotlib)."""
    out = pathlib.Path(out_dir)
    quick_flag = ["--quick"] if quick else []
    ttmatmul, lstm, profile, memory = (str(out / f"{name}.json")
                                       for name in ("ttmatmul", "lstm", "profile_inference", "memory"))
    dtypes = ["float32"] if quick else ["float32", "float64"]
    benchmarks = [
        {"title": "TT product vs dense", "module": "benchmarks.bench_ttmatmul",
         "options": [*quick_flag, "--out", ttmatmul]},
        {"title": "LSTM step and sequence" + (", with torch" if use_torch else ""), "module": "benchmarks.bench_lstm",
         "options": [*quick_flag, *(["--torch"] if use_torch else []), "--threads", str(threads), "--out", lstm]},
        {"title": "where inference time goes", "module": "benchmarks.profile_inference",
         "options": [*quick_flag, "--out", profile]},
        {"title": "peak memory of full BPTT", "module": "benchmarks.bench_memory",
         "options": [*quick_flag, "--dtype", *dtypes, "--out", memory]}]
    drawings = [
        {"title": "figure: time vs rank", "module": "benchmarks.bench_ttmatmul",
         "options": ["--plot", ttmatmul, str(out / "ttmatmul_vs_rank.png")]},
        {"title": "figure: LSTM timings and memory", "module": "benchmarks.bench_lstm",
         "options": ["--plot", lstm, str(out / "lstm.png"), "--memory", memory]}]
    tables = [
        {"title": "tables: TT product", "module": "benchmarks.bench_ttmatmul",
         "options": ["--report", ttmatmul, "--markdown"]},
        {"title": "tables: LSTM", "module": "benchmarks.bench_lstm", "options": ["--report", lstm, "--markdown"]},
        {"title": "table: inference profile", "module": "benchmarks.profile_inference",
         "options": ["--report", profile, "--markdown"]},
        {"title": "table: memory", "module": "benchmarks.bench_memory", "options": ["--report", memory, "--markdown"]}]
    return benchmarks + (drawings if figures else []) + tables


def command(step, python=sys.executable):
    """The command line of one step."""
    return [python, "-m", step["module"], *step["options"]]


def run_steps(steps, threads=1, runner=subprocess.run):
    """Run the steps one after the other in fresh processes (cwd: the checkout), stopping at the first failure.

    ``runner(command, cwd=…, env=…)`` returns an object with ``returncode`` (``subprocess.run`` by default).
    Returns 0 if every step succeeded, else the failed step's exit code."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    for number, step in enumerate(steps, 1):
        line = command(step)
        print(f"\n== [{number}/{len(steps)}] {step['title']}: python -m {step['module']} {' '.join(step['options'])}",
              flush=True)
        step_start = time.perf_counter()
        done = runner(line, cwd=str(ROOT), env=env)
        if done.returncode != 0:
            print(f"run_all: step {number} ({step['title']}) failed with exit code {done.returncode}: "
                  f"{' '.join(line)}", file=sys.stderr)
            return done.returncode
        print(f"== [{number}/{len(steps)}] done in {time.perf_counter() - step_start:.1f} s", flush=True)
    print(f"\nall {len(steps)} steps done in {time.perf_counter() - started:.1f} s", flush=True)
    return 0


def main(argv=None, runner=subprocess.run, torch_check=torch_importable):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_all", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="each script's small preset (a smoke run, well under a minute)")
    parser.add_argument("--out-dir", metavar="DIR",
                        help=f"folder for the JSON files and figures (default {DEFAULT_OUT_DIR.relative_to(ROOT)}/ "
                             "of the checkout; with --quick a new temporary folder)")
    parser.add_argument("--threads", type=int, default=1, metavar="T",
                        help="BLAS threads of every benchmark (and torch's in bench_lstm); default 1")
    parser.add_argument("--dry-run", action="store_true", help="print the commands without running them")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be a positive integer, got {args.threads}")
    if args.out_dir is not None:
        out_dir = pathlib.Path(args.out_dir).resolve()  # the steps run in the checkout, not in the caller's folder
    elif args.quick:
        out_dir = pathlib.Path("<temporary folder>" if args.dry_run else tempfile.mkdtemp(prefix="ttrnn_bench_quick_"))
    else:
        out_dir = DEFAULT_OUT_DIR
    use_torch, torch_note = torch_check()
    if use_torch:
        print(f"torch {torch_note} can be imported: bench_lstm also times torch.nn.LSTM (a reference only)")
    else:
        print(f"torch cannot be imported ({torch_note}): bench_lstm runs without --torch, the torch rows and "
              f"the torch targets are skipped (to include them: {TORCH_HINT})")
    figures = importlib.util.find_spec("matplotlib") is not None
    if not figures:
        print("matplotlib is not installed: the figures are skipped (pip install matplotlib)")
    steps = plan(out_dir, args.quick, args.threads, use_torch, figures)
    if args.dry_run:
        print(f"OPENBLAS_NUM_THREADS={args.threads} OMP_NUM_THREADS={args.threads}, in {ROOT}:")
        print("\n".join(" ".join(command(step, "python")) for step in steps))
        return 0
    print(f"results go to {out_dir}")
    status = run_steps(steps, args.threads, runner)
    if status == 0:
        print(f"results: {out_dir} (ttmatmul.json, lstm.json, profile_inference.json, memory.json"
              + (", ttmatmul_vs_rank.png, lstm.png)" if figures else ")"))
    return status


if __name__ == "__main__":
    sys.exit(main())
