"""Peak memory (RSS) of one full-BPTT training step against the sequence length T.

Index letters: b batch (B = 128), t time (T steps), I = 784 / T pixels per step (T = 28 is row-MNIST, T = 784
pixel-MNIST), H hidden size.  One training step is ``value_and_grad`` of the cross-entropy of a 10-class head on
h_T through all T steps (full BPTT).  Each measurement runs in a fresh Python process, which builds the model and
a random batch, records its peak resident set size so far (``resource.getrusage(RUSAGE_SELF).ru_maxrss``), runs
one step, and records the peak again: the table reports both and their difference (the step's own memory).

Paths: "layer" (``rnn.unroll``, the whole-layer primitive) and "traced" (``rnn.unroll_reference``, one readable
``cells.step`` per step recorded by autograd; runs stored before the refactor of 2026-12 used a fused point-wise
primitive per step there).  Issue target: the pixel-MNIST step
(T = 784, B = 128, H = 256, joint TT) peaks at ≤ 2 GB.

    python -m benchmarks.bench_memory --out results/bench/memory.json
    python -m benchmarks.bench_memory --quick
"""
import argparse
import json
import os
import subprocess
import sys
import time

from benchmarks.common import format_table, machine_info, progress_line, write_json

TARGET_BYTES = 2e9
FULL = {"lengths": (28, 196, 784), "layouts": ("dense", "joint"), "paths": ("layer", "traced"), "batch": 128,
        "hidden_size": 256, "cores": 3, "rank": 4}
QUICK = {"lengths": (28, 56), "layouts": ("dense", "joint"), "paths": ("layer", "traced"), "batch": 16,
         "hidden_size": 32, "cores": 2, "rank": 2}


def child(T, layout, path, B, H, d, R, dtype):
    """One training step in this process: {"rss_setup_bytes", "rss_peak_bytes", "seconds"} (Linux: KiB → bytes)."""
    import resource

    import autograd
    import numpy as np

    from ttrnn_np import cells, losses, rnn
    from ttrnn_np.experiments.runtime import set_blas_threads
    from ttrnn_np.heads import HeadConfig

    set_blas_threads(1)
    I = 784 // T
    kw = {} if layout == "dense" else {"n_cores": d, "rank": R}
    config = rnn.ModelConfig(cells.CellConfig("lstm", layout, I, H, **kw), head=HeadConfig("classify", 10))
    rng = np.random.default_rng(0)
    params = rnn.init_model(config, rng, dtype)
    X = rng.random((B, T, I)).astype(dtype)  # (B, T, I) pixel intensities
    y = rng.integers(0, 10, B)  # (B,)
    traced = path == "traced"
    step = autograd.value_and_grad(lambda p: losses.softmax_cross_entropy(rnn.forward(config, p, X, reference=traced),
                                                                          y))
    setup = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    loss, _ = step(params)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"rss_setup_bytes": setup, "rss_peak_bytes": peak, "seconds": seconds, "loss": float(loss)}


def measure_in_subprocess(T, layout, path, settings, dtype):
    """Run ``child`` in a fresh interpreter and return its record, plus the configuration."""
    args = [sys.executable, "-m", "benchmarks.bench_memory", "--child", json.dumps(
        {"T": T, "layout": layout, "path": path, "B": settings["batch"], "H": settings["hidden_size"],
         "d": settings["cores"], "R": settings["rank"], "dtype": dtype})]
    done = subprocess.run(args, capture_output=True, text=True, check=True, env={**os.environ,
                                                                                    "OPENBLAS_NUM_THREADS": "1"})
    record = json.loads(done.stdout.strip().splitlines()[-1])
    step_bytes = record["rss_peak_bytes"] - record["rss_setup_bytes"]
    return {"T": T, "I": 784 // T, "layout": layout, "path": path, "dtype": dtype, **record,
            "peak_GB": record["rss_peak_bytes"] / 1e9, "step_GB": step_bytes / 1e9}


COLUMNS = [("T", "T", "{}"), ("I", "I", "{}"), ("layout", "layout", "{}"), ("path", "path", "{}"),
           ("dtype", "dtype", "{}"), ("peak GB", "peak_GB", "{:.3f}"), ("step GB", "step_GB", "{:.3f}"),
           ("step s", "seconds", "{:.2f}")]


def run(quick=False, dtypes=("float32",), command=None):
    settings = QUICK if quick else FULL
    start = time.perf_counter()
    rows = []
    for dtype in dtypes:
        for T in settings["lengths"]:
            for layout in settings["layouts"]:
                for path in settings["paths"]:
                    rows.append(measure_in_subprocess(T, layout, path, settings, dtype))
                    print(progress_line(rows[-1], COLUMNS), file=sys.stderr, flush=True)
    target = [row for row in rows if row["T"] == 784 and row["layout"] == "joint" and row["path"] == "layer"]
    return {"benchmark": "memory", "command": command, "settings": settings, "machine": machine_info(),
            "wall_s": time.perf_counter() - start, "rows": rows,
            "target": {"limit_bytes": TARGET_BYTES,
                       "met": {row["dtype"]: row["rss_peak_bytes"] <= TARGET_BYTES for row in target}}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    parser.add_argument("--dtype", nargs="+", default=["float32"], choices=["float32", "float64"])
    parser.add_argument("--out", help="write the results as JSON to this path")
    parser.add_argument("--report", help="print the table of an existing JSON file instead of measuring")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        print(json.dumps(child(**spec)))
        return
    if args.report:
        with open(args.report) as file:
            result = json.load(file)
    else:
        result = run(args.quick, tuple(args.dtype), command="python -m benchmarks.bench_memory " + " ".join(
            argv if argv is not None else sys.argv[1:]))
        if args.out:
            write_json(result, args.out)
    print(format_table(result["rows"], COLUMNS, markdown=args.markdown))
    met = result["target"]["met"]
    print("target (pixel-MNIST joint TT, layer path, peak ≤ 2 GB): " + (
        ", ".join(f"{dtype} {'met' if ok else 'not met'}" for dtype, ok in met.items()) if met else
        "not measured at these sizes (it needs T = 784; a --quick run measures short sequences only)"))


if __name__ == "__main__":
    main()
