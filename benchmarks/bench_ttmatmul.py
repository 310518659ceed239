"""Benchmark the TT-matrix product Y = X·W against the dense product, and the autograd primitive against the
traced sweeps.

Index letters: b batch (B samples), N the square size (W is N×N), d cores, R the uniform inner rank, m the
modes (``auto_shape(N, d)`` for rows and columns alike).

Part 1, forward products.  For every N, d, R: the median time of ``ttmatmul.matmul(X, cores)`` (X (B, N)),
its FLOPs from the cost model (the cheaper order, ``cost.matmul_flops``), the achieved GFLOP/s, and the same
for the dense X·W.  The machine's dense-GEMM rate is measured on one large square product.  The cost model
predicts a break-even rank (the smallest R whose TT FLOPs reach the dense FLOPs, ``cost.break_even_rank``);
the measured break-even rank is the smallest R whose TT time reaches the dense time (refined by timing the
integer ranks between the two tested ranks that bracket it, against the median dense time of that N and d).
The dense and the TT product of a row are timed with their samples interleaved, so that both see the same
machine load (and so are the traced and the primitive gradient below).  Issue target:
the TT product reaches ≥ 30 % of the measured dense-GEMM GFLOP/s whenever it does ≥ 1e7 FLOPs; every row says
whether it does.

Part 2, autograd.  ``value_and_grad`` of Σ (X·W)² with respect to X and the cores, through the one-primitive
``matmul`` and through the readable ``matmul_sweep`` (autograd records every step), at the LSTM sizes 28→1024 and 256→1024.

Run from the repository root (``--help`` lists the options):

    python -m benchmarks.bench_ttmatmul --out results/bench/ttmatmul.json
    python -m benchmarks.bench_ttmatmul --plot results/bench/ttmatmul.json results/bench/ttmatmul_vs_rank.png
    python -m benchmarks.bench_ttmatmul --quick
"""
import argparse
import contextlib
import json
import math
import pathlib
import sys
import time
import warnings

import autograd
import autograd.numpy as anp
import numpy as np

from benchmarks.common import (blas_thread_limit, format_table, machine_info, measure, measure_together, tune_malloc,
                               write_json)
from ttrnn_np import cost, init, shapes, ttmatmul

TARGET_FLOPS, TARGET_FRACTION = 1e7, 0.30
FULL = {"sizes": (256, 1024, 4096), "cores": (2, 3, 4), "ranks": (1, 2, 4, 8, 16), "batch": 128, "peak_n": 2048,
        "grad_inputs": (28, 256), "grad_output": 1024, "grad_cores": (2, 3, 4), "grad_ranks": (2, 4, 8),
        "grad_batches": (1, 128), "repeats": 15, "warmup": 2}
QUICK = {"sizes": (256, 1024), "cores": (2, 4), "ranks": (1, 4, 16), "batch": 128, "peak_n": 1024,
         "grad_inputs": (28,), "grad_output": 1024, "grad_cores": (2, 4), "grad_ranks": (4,),
         "grad_batches": (1, 128), "repeats": 5, "warmup": 1}


def _tt_cores(row_modes, col_modes, rank, rng, dtype):
    with warnings.catch_warnings():  # ranks above a bond's useful maximum are kept (redundant but valid)
        warnings.simplefilter("ignore", shapes.RankWarning)
        return init.glorot(row_modes, col_modes, rank, rng, dtype)


def peak_gemm(n, repeats, dtype, rng):
    """The dense-GEMM rate of this machine: one n×n by n×n product."""
    A, C = rng.standard_normal((n, n)).astype(dtype), rng.standard_normal((n, n)).astype(dtype)  # (n, n)
    timing = measure(lambda: A @ C, warmup=1, repeats=max(3, repeats // 3))
    return {"n": n, "flops": 2 * n ** 3, **timing, "gflops": 2 * n ** 3 / timing["median_s"] / 1e9}


def product_row(N, d, R, X, W, settings, rng):
    """Time one TT product X·W (W N×N with d cores of rank R) and the dense product X·W, their samples interleaved
    so that both see the same machine load."""
    B, dtype = X.shape[0], X.dtype
    m = shapes.auto_shape(N, d, warn=False)
    cores = _tt_cores(m, m, R, rng, dtype)
    flops = cost.matmul_flops(m, m, R)
    Y = ttmatmul.matmul(X, cores)  # (B, N)
    Y_dense = ttmatmul.matmul_reference(X, cores)  # (B, N)
    timings = measure_together({"dense": lambda: X @ W, "tt": lambda: ttmatmul.matmul(X, cores)},
                               warmup=settings["warmup"], repeats=settings["repeats"])
    dense_time, timing = timings["dense"], timings["tt"]
    tt_flops = B * flops["best"]
    return {"N": N, "d": d, "modes": list(m), "rank": R, "order": ttmatmul.cheaper_order(cores), "batch": B,
            "tt_flops": tt_flops, "dense_flops": B * flops["dense"], "tt": timing, "tt_ms": 1e3 * timing["median_s"],
            "tt_gflops": tt_flops / timing["median_s"] / 1e9, "dense": dense_time,
            "dense_ms": 1e3 * dense_time["median_s"], "speedup_vs_dense": dense_time["median_s"] / timing["median_s"],
            "max_rel_error_vs_dense": float(np.max(np.abs(Y - Y_dense)) / max(np.max(np.abs(Y_dense)), 1e-300))}


def break_even(N, d, rows, X, settings, rng):
    """Predicted (cost model) and measured (timing) break-even rank for one N and d."""
    m = shapes.auto_shape(N, d, warn=False)
    slower = [row["rank"] for row in rows if row["tt_ms"] >= row["dense_ms"]]
    measured, refined = (min(slower) if slower else None), []
    if measured is not None:
        below = max([row["rank"] for row in rows if row["rank"] < measured], default=0)
        dense_s = float(np.median([row["dense"]["median_s"] for row in rows]))
        for R in range(below + 1, measured):
            cores = _tt_cores(m, m, R, rng, X.dtype)
            timing = measure(lambda: ttmatmul.matmul(X, cores), warmup=settings["warmup"], repeats=settings["repeats"])
            refined.append({"rank": R, "tt_ms": 1e3 * timing["median_s"]})
            if timing["median_s"] >= dense_s:
                measured = R
                break
    tested = sorted({row["rank"] for row in rows} | {entry["rank"] for entry in refined})
    return {"N": N, "d": d, "modes": list(m), "predicted_rank": cost.break_even_rank(m, m), "measured_rank": measured,
            "ranks_tested": tested, "refinement": refined}


def autograd_row(I, O, d, R, B, settings, rng, dtype):
    """value_and_grad of Σ (X·W)² w.r.t. X and the cores: traced sweeps against the one-primitive product."""
    m, n = shapes.auto_shape(I, d, warn=False), shapes.auto_shape(O, d, warn=False)
    cores = _tt_cores(m, n, R, rng, dtype)
    X = rng.standard_normal((B, I)).astype(dtype)  # (B, I)
    row = {"input": I, "output": O, "d": d, "rank": R, "batch": B, "order": ttmatmul.cheaper_order(cores)}
    value_and_grad = {name: autograd.value_and_grad(lambda X_, c_, product=product: anp.sum(product(X_, c_) ** 2),
                                                    argnum=(0, 1))
                      for name, product in (("traced", ttmatmul.matmul_sweep), ("primitive", ttmatmul.matmul))}
    grads = {name: fn(X, cores)[1] for name, fn in value_and_grad.items()}
    timings = measure_together({name: lambda fn=fn: fn(X, cores) for name, fn in value_and_grad.items()},
                               warmup=settings["warmup"], repeats=settings["repeats"])
    for name, timing in timings.items():
        row[name] = timing
        row[f"{name}_ms"] = 1e3 * timing["median_s"]
    row["speedup"] = row["traced_ms"] / row["primitive_ms"]
    pairs = [(grads["traced"][0], grads["primitive"][0])] + list(zip(grads["traced"][1], grads["primitive"][1]))
    row["max_abs_grad_difference"] = float(max(np.max(np.abs(a - b)) for a, b in pairs))
    return row


@contextlib.contextmanager
def _cache_budget(cache_bytes):
    """Replace ttmatmul.CACHE_BYTES inside the block (None: keep it)."""
    default = ttmatmul.CACHE_BYTES
    ttmatmul.CACHE_BYTES = default if cache_bytes is None else cache_bytes
    try:
        yield
    finally:
        ttmatmul.CACHE_BYTES = default


def run(quick=False, threads=None, malloc_tuning=False, cache_bytes=None, dtype="float64", seed=0, command=None,
        **overrides):
    """Run both parts and return the results dict.

    ``quick`` picks the smoke-run preset; keyword overrides such as ``sizes=(16,)``, ``ranks=(1, 2)``, ``batch=4``
    or ``grad_inputs=()`` replace preset entries.  ``threads`` limits the BLAS threads (threadpoolctl);
    ``malloc_tuning`` calls ``common.tune_malloc`` first, which lasts for the rest of the process; ``cache_bytes``
    replaces ``ttmatmul.CACHE_BYTES`` (the row-block budget of the primitive) during the run.
    """
    preset = dict(QUICK if quick else FULL)
    unknown = set(overrides) - set(preset)
    if unknown:
        raise ValueError(f"unknown benchmark settings {sorted(unknown)}; known: {sorted(preset)}")
    settings = {**preset, **overrides}
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(seed)
    allocator = tune_malloc() if malloc_tuning else {"tuned": False, "reason": "not requested"}
    started = time.perf_counter()
    with blas_thread_limit(threads), _cache_budget(cache_bytes):
        result = {"benchmark": "ttmatmul", "command": command or f"run(quick={quick}, threads={threads}, "
                  f"malloc_tuning={malloc_tuning}, dtype={dtype.name!r}, seed={seed}, **{overrides})",
                  "machine": machine_info(), "allocator": allocator,
                  "settings": {**{k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()},
                               "dtype": dtype.name, "seed": seed, "threads_requested": threads,
                               "cache_bytes": ttmatmul.CACHE_BYTES, "min_block_rows": ttmatmul.MIN_BLOCK_ROWS},
                  "target": {"rule": f"TT GFLOP/s ≥ {TARGET_FRACTION:.0%} of the measured dense-GEMM GFLOP/s "
                                     f"whenever the TT product does ≥ {TARGET_FLOPS:.0e} FLOPs"}}
        peaks = [peak_gemm(settings["peak_n"], settings["repeats"], dtype, rng)]
        result["rows"], result["break_even"] = [], []
        for N in settings["sizes"]:
            X = rng.standard_normal((settings["batch"], N)).astype(dtype)  # (B, N)
            W = (rng.standard_normal((N, N)) / math.sqrt(N)).astype(dtype)  # (N, N)
            for d in settings["cores"]:
                rows = [product_row(N, d, R, X, W, settings, rng) for R in settings["ranks"]]
                result["rows"] += rows
                result["break_even"].append(break_even(N, d, rows, X, settings, rng))
        peaks.append(peak_gemm(settings["peak_n"], settings["repeats"], dtype, rng))
        # the machine's rate is the better of the measurements before and after the rows: the stricter target
        result["peak_gemm"] = peak = {**max(peaks, key=lambda p: p["gflops"]), "gflops_before": peaks[0]["gflops"],
                                      "gflops_after": peaks[1]["gflops"]}
        for row in result["rows"]:
            row["percent_of_peak"] = 100 * row["tt_gflops"] / peak["gflops"]
            row["target_applies"] = row["tt_flops"] >= TARGET_FLOPS
            row["target_met"] = row["tt_gflops"] >= TARGET_FRACTION * peak["gflops"] if row["target_applies"] else None
        result["autograd"] = [autograd_row(I, settings["grad_output"], d, R, B, settings, rng, dtype)
                              for I in settings["grad_inputs"] for d in settings["grad_cores"]
                              for R in settings["grad_ranks"] for B in settings["grad_batches"]]
    applicable = [row for row in result["rows"] if row["target_applies"]]
    result["target"].update(rows_applicable=len(applicable), rows_met=sum(row["target_met"] for row in applicable))
    result["wall_time_s"] = time.perf_counter() - started
    return result


PRODUCT_COLUMNS = [("N", "N", "{}"), ("d", "d", "{}"), ("R", "rank", "{}"), ("order", "order", "{}"),
                   ("MFLOP", "tt_mflop", "{:.1f}"), ("TT ms", "tt_ms", "{:.3f}"), ("GFLOP/s", "tt_gflops", "{:.1f}"),
                   ("% peak", "percent_of_peak", "{:.0f}"), ("≥30 %?", "target", "{}"),
                   ("faults/call", "tt_faults", "{:.0f}"), ("dense ms", "dense_ms", "{:.3f}"),
                   ("dense/TT", "speedup_vs_dense", "{:.2f}")]
BREAK_EVEN_COLUMNS = [("N", "N", "{}"), ("d", "d", "{}"), ("modes", "modes_text", "{}"),
                      ("predicted R*", "predicted_rank", "{}"), ("measured R*", "measured_rank", "{}")]
AUTOGRAD_COLUMNS = [("I→O", "sizes", "{}"), ("d", "d", "{}"), ("R", "rank", "{}"), ("B", "batch", "{}"),
                    ("order", "order", "{}"), ("traced ms", "traced_ms", "{:.3f}"),
                    ("primitive ms", "primitive_ms", "{:.3f}"), ("speed-up", "speedup", "{:.2f}")]


def report(result, markdown=False):
    """The three tables and the summary lines, as text (tables in Markdown with ``markdown=True``)."""
    peak = result["peak_gemm"]
    rows = [{**row, "tt_mflop": row["tt_flops"] / 1e6, "tt_faults": row["tt"].get("page_faults_per_call"),
             "target": {True: "yes", False: "NO", None: "n/a"}[row["target_met"]]} for row in result["rows"]]
    grad_rows = [{**row, "sizes": f"{row['input']}→{row['output']}"} for row in result["autograd"]]
    blas, threads = result["machine"]["blas"], result["machine"]["blas_threads"]
    return "\n".join([
        f"machine: {result['machine']['cpu']}, {result['machine']['cores_available']} cores, BLAS {blas['name']} "
        f"{blas['version']}, threads {threads['threads']} ({threads['source']}), allocator tuned: "
        f"{result['allocator']['tuned']}",
        f"dense GEMM {peak['n']}×{peak['n']}: {peak['gflops']:.1f} GFLOP/s (better of {peak['gflops_before']:.1f} "
        f"before and {peak['gflops_after']:.1f} after the rows, each the median of {peak['repeats']})",
        "", f"TT product vs dense, B={result['settings']['batch']}, {result['settings']['dtype']}",
        format_table(rows, PRODUCT_COLUMNS, markdown),
        f"target ({result['target']['rule']}): met in {result['target']['rows_met']} of "
        f"{result['target']['rows_applicable']} applicable rows",
        "", "break-even rank R* (TT FLOPs ≥ dense FLOPs, predicted; TT time ≥ dense time, measured)",
        format_table([{**entry, "modes_text": "×".join(map(str, entry["modes"]))} for entry in result["break_even"]],
                     BREAK_EVEN_COLUMNS, markdown),
        "", "value_and_grad of Σ (X·W)², traced sweeps vs one primitive",
        format_table(grad_rows, AUTOGRAD_COLUMNS, markdown), "", f"wall time {result['wall_time_s']:.0f} s"])


def plot(result, path):
    """Time vs rank, one panel per N: the measured TT product for each d against the dense line and the cost model's
    prediction; saved to ``path``.  Returns (fig, axes).

    Solid lines: the median TT time per call at each timed rank (the ranks timed to refine the break-even
    included).  Grey line: the dense X·W, the median of the dense times of the N's rows; grey crosses: those
    dense times, each timed interleaved with one TT row.  Dashed lines: the cost model's prediction
    t̂(R) = t_dense · F_TT(R) / F_dense, i.e. the TT product running at the rate the dense product reached at that
    N (F from ``cost.matmul_flops``, the cheaper order), so it crosses the dense line at the predicted break-even
    rank.  Open circles: predicted R* (``cost.break_even_rank``), on the dense line; stars: measured R* (the first
    rank whose TT time reached the dense time of its own row), on the measured line.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    sizes = sorted({row["N"] for row in result["rows"]})
    cores = sorted({row["d"] for row in result["rows"]})
    colours = dict(zip(cores, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    fig, axes = plt.subplots(1, len(sizes), figsize=(5.2 * len(sizes), 4.8), squeeze=False)
    axes = axes.ravel()
    for ax, N in zip(axes, sizes):
        rows = [row for row in result["rows"] if row["N"] == N]
        entries = [entry for entry in result["break_even"] if entry["N"] == N]
        dense_ms = float(np.median([row["dense_ms"] for row in rows]))
        ax.axhline(dense_ms, color="0.5", lw=2.5, alpha=0.7)
        ax.plot([row["rank"] for row in rows], [row["dense_ms"] for row in rows], "x", color="0.4", ms=5)
        for entry in entries:
            d, m, colour = entry["d"], entry["modes"], colours[entry["d"]]
            timed = dict([(row["rank"], row["tt_ms"]) for row in rows if row["d"] == d]
                         + [(point["rank"], point["tt_ms"]) for point in entry["refinement"]])
            ranks_timed = sorted(timed)
            ax.plot(ranks_timed, [timed[R] for R in ranks_timed], "o-", color=colour, ms=4)
            ranks = np.arange(1, max(ranks_timed[-1], entry["predicted_rank"]) + 1)  # (R_max,)
            with warnings.catch_warnings():  # ranks above a bond's useful maximum are counted as given
                warnings.simplefilter("ignore", shapes.RankWarning)
                ratio = np.array([cost.matmul_flops(m, m, int(R))["best"] for R in ranks]) / (2 * N * N)  # (R_max,)
            ax.plot(ranks, dense_ms * ratio, "--", color=colour, lw=1)
            ax.plot(entry["predicted_rank"], dense_ms, "o", mfc="none", mec=colour, ms=10, mew=1.5)
            if entry["measured_rank"] is not None:
                ax.plot(entry["measured_rank"], timed[entry["measured_rank"]], "*", color=colour, ms=14, mec="k",
                        mew=0.6)
        ax.set_xscale("log", base=2)
        ticks = [2 ** k for k in range(int(math.log2(ax.get_xlim()[1])) + 1)]
        ax.set_xticks(ticks, [str(R) for R in ticks])
        ax.set_yscale("log")
        ax.set_xlabel("TT rank R")
        ax.set_ylabel(f"median ms per product, B = {result['settings']['batch']}")
        ax.set_title(f"N = {N}: modes " + ", ".join("×".join(map(str, entry["modes"])) for entry in entries),
                     fontsize=10)
    handles = ([Line2D([], [], color=colours[d], lw=2, label=f"d = {d}") for d in cores] + [
        Line2D([], [], color="k", marker="o", ms=4, label="TT measured"),
        Line2D([], [], color="k", ls="--", lw=1, label="TT cost model"),
        Line2D([], [], color="0.5", lw=2.5, alpha=0.7, label="dense X·W (median)"),
        Line2D([], [], color="0.4", marker="x", ls="none", label="dense, per TT row"),
        Line2D([], [], color="k", marker="o", mfc="none", ls="none", ms=9, label="R* predicted (FLOPs)"),
        Line2D([], [], color="w", marker="*", mec="k", ls="none", ms=12, label="R* measured (time)")])
    columns = min(len(handles), max(1, int(fig.get_figwidth() // 1.7)))  # legend entries are ≈ 1.7 in wide
    legend_rows = math.ceil(len(handles) / columns)
    fig.legend(handles=handles, loc="lower center", ncol=columns, fontsize=8, frameon=False)
    machine = result["machine"]
    fig.suptitle(f"TT-matrix product vs dense X·W (N×N), {result['settings']['dtype']}, {machine['blas']['name']}, "
                 f"{machine['blas_threads']['threads']} BLAS thread(s), {machine['cpu']}, {machine['date_utc'][:10]}\n"
                 "cost model: dense time × TT FLOPs / dense FLOPs", fontsize=10)
    fig.tight_layout(rect=(0, 0.055 * legend_rows, 1, 1))
    fig.savefig(path, dpi=100)
    return fig, axes


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_ttmatmul", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small subset for a smoke run (seconds)")
    parser.add_argument("--out", metavar="PATH", help="write the results as JSON to PATH")
    parser.add_argument("--threads", type=int, metavar="T",
                        help="limit BLAS to T threads (needs threadpoolctl; otherwise start Python with "
                             "OPENBLAS_NUM_THREADS=T). The thread count in use is always recorded")
    parser.add_argument("--tune-malloc", action="store_true",
                        help="keep freed memory in the process (glibc mallopt) so temporaries do not page-fault")
    parser.add_argument("--cache-bytes", type=int, metavar="BYTES",
                        help="row-block budget of the primitive (ttmatmul.CACHE_BYTES); a huge value never splits "
                             "the batch")
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--repeats", type=int, help="timed repeats per measurement (default 15, quick 5)")
    parser.add_argument("--markdown", action="store_true", help="print the tables in Markdown")
    parser.add_argument("--report", metavar="JSON", help="print the tables of an earlier run's JSON and exit")
    parser.add_argument("--plot", nargs=2, metavar=("JSON", "PNG"),
                        help="draw time vs rank (TT per d, dense, cost model, break-even ranks) of an earlier run's "
                             "JSON to PNG and exit")
    args = parser.parse_args(argv)
    if args.plot:
        plot(json.loads(pathlib.Path(args.plot[0]).read_text()), args.plot[1])
        print(f"wrote {args.plot[1]}")
        return
    if args.report:
        print(report(json.loads(pathlib.Path(args.report).read_text()), args.markdown))
        return
    overrides = {} if args.repeats is None else {"repeats": args.repeats}
    result = run(quick=args.quick, threads=args.threads, malloc_tuning=args.tune_malloc, cache_bytes=args.cache_bytes,
                 dtype=args.dtype,
                 command="python -m benchmarks.bench_ttmatmul " + " ".join(sys.argv[1:] if argv is None else argv),
                 **overrides)
    print(report(result, args.markdown))
    if args.out:
        print(f"wrote {write_json(result, args.out)}")


if __name__ == "__main__":
    main()
