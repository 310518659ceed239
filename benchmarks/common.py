"""Shared helpers for the benchmarks: timing, the machine's description, BLAS threads, allocator tuning, JSON.

Timing follows docs/method.md §10: ``time.perf_counter``, warm-up calls first, then many repeats, reported as the
median (the headline number) with the spread (min, quartiles, max).  Only the call under test is timed.
"""
import contextlib
import datetime
import json
import math
import os
import pathlib
import sys
import time

try:
    import resource
except ImportError:  # not on Windows
    resource = None

import numpy as np

from ttrnn_np.experiments import runtime

__all__ = ["measure", "measure_together", "machine_info", "blas_threads", "blas_thread_limit", "tune_malloc",
           "write_json", "format_table"]

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


def _minor_faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt if resource else None


def measure(fn, warmup=2, repeats=15, min_sample_s=0.002):
    """Seconds per call of ``fn()``: median, min, max and quartiles over ``repeats`` samples after ``warmup`` calls,
    and the page faults per timed call (first touches of fresh memory; None where ``resource`` is missing).

    A fast ``fn`` is called ``inner`` times per sample so that one sample lasts at least ``min_sample_s`` (the
    clock's resolution and the loop then cost < 0.1 %); times are divided back to one call.  The first call (a
    warm-up call, made even with ``warmup=0``) sets ``inner``.
    """
    return measure_together({"fn": fn}, warmup, repeats, min_sample_s)["fn"]


def measure_together(fns, warmup=2, repeats=15, min_sample_s=0.002):
    """``measure`` for several functions {name: fn} at once, their samples interleaved (a, b, a, b, …) so that
    all of them see the same machine load: comparisons stay fair on a shared machine.  Returns {name: statistics}."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats ≥ 1 and warmup ≥ 0, got repeats={repeats}, warmup={warmup}")
    inner = {}
    for name, fn in fns.items():
        start = time.perf_counter()
        fn()
        first = time.perf_counter() - start
        inner[name] = max(1, math.ceil(min_sample_s / max(first, 1e-9))) if first < min_sample_s else 1
        for _ in range(max(warmup - 1, 0)):
            fn()
    samples, faults = {name: [] for name in fns}, {name: 0 for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            before, start = _minor_faults(), time.perf_counter()
            for _ in range(inner[name]):
                fn()
            samples[name].append((time.perf_counter() - start) / inner[name])
            faults[name] = None if before is None else faults[name] + _minor_faults() - before
    statistics = {}
    for name, times in samples.items():
        q25, median, q75 = np.percentile(times, [25, 50, 75])
        statistics[name] = {
            "median_s": float(median), "min_s": float(min(times)), "max_s": float(max(times)), "q25_s": float(q25),
            "q75_s": float(q75), "repeats": repeats, "inner": inner[name], "warmup": warmup,
            "page_faults_per_call": None if faults[name] is None else faults[name] / (repeats * inner[name])}
    return statistics


def blas_threads():
    """{"threads": int or None, "source": how it was found} for the BLAS numpy uses at run time: threadpoolctl if
    installed (also the library and the kernel architecture), else OpenBLAS's own count
    (``runtime.blas_info``), else the *_NUM_THREADS environment variables."""
    try:
        import threadpoolctl
    except ImportError:
        threads = runtime.blas_info()["threads"]
        if threads is not None:
            return {"threads": threads, "source": "OpenBLAS get_num_threads (threadpoolctl is not installed)"}
        for variable in THREAD_VARIABLES:
            if os.environ.get(variable):
                return {"threads": int(os.environ[variable]), "source": f"environment {variable}"}
        return {"threads": None, "source": "unknown: threadpoolctl is not installed, the BLAS is not OpenBLAS and "
                                           f"no *_NUM_THREADS is set (a BLAS may then use {os.cpu_count()} threads)"}
    pools = [pool for pool in threadpoolctl.threadpool_info() if pool.get("user_api") == "blas"]
    if not pools:
        return {"threads": None, "source": "threadpoolctl found no BLAS"}
    return {"threads": pools[0]["num_threads"], "source": "threadpoolctl", "library": pools[0].get("filepath"),
            "internal_api": pools[0].get("internal_api"), "architecture": pools[0].get("architecture")}


@contextlib.contextmanager
def blas_thread_limit(threads):
    """Limit the BLAS threads inside the block (``threads=None``: leave them as they are).  Needs threadpoolctl;
    without it set OPENBLAS_NUM_THREADS (or OMP_NUM_THREADS) before Python starts."""
    if threads is None:
        yield
        return
    try:
        import threadpoolctl
    except ImportError as error:
        raise RuntimeError(f"--threads {threads} needs the threadpoolctl package; without it, start Python with "
                           f"OPENBLAS_NUM_THREADS={threads} (or OMP_NUM_THREADS={threads}) instead") from error
    with threadpoolctl.threadpool_limits(limits=threads, user_api="blas"):
        yield


def tune_malloc(threshold_bytes=1 << 30):
    """Stop glibc from returning freed memory to the OS between calls (``runtime.tune_malloc``).

    Every large NumPy temporary otherwise comes back as fresh pages, and each first touch is a page fault; on
    virtual machines that can cost more than the arithmetic of a small product.  Same effect as starting Python
    with MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ set.  Returns a description of what was done.
    """
    if not runtime.tune_malloc(threshold_bytes, threshold_bytes):
        return {"tuned": False, "reason": f"mallopt needs glibc on Linux, platform is {sys.platform}"}
    return {"tuned": True, "M_MMAP_THRESHOLD": threshold_bytes, "M_TRIM_THRESHOLD": threshold_bytes}


def machine_info():
    """The record of ``runtime.machine_info`` (CPU, cores, versions, BLAS and its build, malloc tuning, BLAS/malloc
    environment variables) plus what a timing needs on top: the date, the load average (other jobs on the cores),
    this process's command line, and the BLAS thread count with how it was found (``blas_threads``)."""
    return {**runtime.machine_info(),
            "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "load_average_1_5_15": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "command_line": [sys.executable, *sys.argv], "blas_threads": blas_threads()}


def write_json(result, path):
    """Write ``result`` as indented JSON to ``path`` (parent folders created), atomically; return the path."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(result, indent=1) + "\n")
    partial.replace(path)
    return path


def progress_line(row, columns):
    """One measured row as a line of "header value" pairs (for stderr while a benchmark runs)."""
    return "measured: " + ", ".join(f"{header} {'—' if row.get(key) is None else fmt.format(row[key])}"
                                    for header, key, fmt in columns)


def format_table(rows, columns, markdown=False):
    """A fixed-width text table (or a Markdown table): ``columns`` is a list of (header, key, format), format like
    "{:.2f}"; a missing value prints as "—"."""
    cells = [[header for header, _, _ in columns]]
    for row in rows:
        cells.append(["—" if row.get(key) is None else fmt.format(row[key]) for _, key, fmt in columns])
    if markdown:
        lines = ["| " + " | ".join(line) + " |" for line in cells]
        lines.insert(1, "|" + "|".join("---:" for _ in columns) + "|")
        return "\n".join(lines)
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(line, widths)) for line in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
