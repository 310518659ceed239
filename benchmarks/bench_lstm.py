"""Benchmark the LSTM layer: one cell step and a whole sequence, inference and training, dense vs joint TT, against
the per-step traced path (the readable ``rnn.unroll_reference``) and (optionally) PyTorch's fused ``torch.nn.LSTM``.

Index letters: b batch (B), t time (T), I input size, H hidden size, d cores, R rank, K = 10 classes.
Sizes: "row" is row-MNIST (B = 128, T = 28, I = 28, H = 256), "large" is B = 128, T = 28, I = 256, H = 1024.
Models: NumPy dense and joint TT (d = 3 at "row", d = 4 at "large", rank R) through ``rnn.forward`` with a dense
10-class head; at "row" also the per-step path that autograd traces step by step (``forward(..., reference=True)``:
one ``cells.step`` per step; runs stored before the refactor of 2026-12 timed the fused per-step primitive there); with ``--torch``,
``torch.nn.LSTM`` + ``nn.Linear`` (``benchmarks.bench_torch``).  "step" runs the model on one time step (T = 1),
"sequence" on all T.  "infer" is the forward pass; "train" is ``value_and_grad`` of the cross-entropy (torch:
forward + ``backward()``), no optimizer update.

Timing: the contenders of one group (size, scope, mode, dtype, threads) are warmed up, then timed **interleaved**
— round after round, each contender once per round — so that a shared machine's load hits all of them alike;
the headline is the median over the rounds (a call shorter than 2 ms is looped within its sample).  Each sample
records the wall time and the process's CPU time; on a machine shared with other jobs the CPU time (default
headline, ``--clock``) leaves out the time the core is held by others, which at one thread is the honest cost.
NumPy's OpenBLAS threads are set with ``set_blas_threads`` and torch's with ``torch.set_num_threads``, equal
(default 1; ``--threads 1 2``).

Issue targets (float32, sequence): train joint TT d=3 R=4 ≤ 3 × torch and train dense ≤ 4 × torch at "row";
infer joint TT d=4 R=4 ≥ 5 × faster than NumPy dense at "large".

    python -m benchmarks.bench_lstm --torch --out results/bench/lstm.json
    python -m benchmarks.bench_lstm --report results/bench/lstm.json --markdown
    python -m benchmarks.bench_lstm --plot results/bench/lstm.json results/bench/lstm.png
    python -m benchmarks.bench_lstm --quick
"""
import argparse
import json
import math
import os
import sys
import time

import autograd
import numpy as np

from benchmarks.common import format_table, machine_info, progress_line, write_json
from ttrnn_np import cells, losses, rnn
from ttrnn_np.experiments.runtime import set_blas_threads, tune_malloc
from ttrnn_np.heads import HeadConfig

SIZES = {"row": {"B": 128, "T": 28, "I": 28, "H": 256, "d": 3},
         "large": {"B": 128, "T": 28, "I": 256, "H": 1024, "d": 4}}
FULL = {"sizes": {"row": ("float32", "float64"), "large": ("float32",)}, "threads": (1,), "rank": 4,
        "repeats": {"row": 9, "large": 5}, "traced_at": ("row",)}
QUICK = {"sizes": {"tiny": ("float32", "float64")}, "threads": (1,), "rank": 2, "repeats": {"tiny": 3},
         "traced_at": ("tiny",)}
TINY = {"B": 8, "T": 5, "I": 6, "H": 16, "d": 2}
MIN_SAMPLE_S = 0.002


class NumpyLSTM:
    """An LSTM + dense head from ``ttrnn_np`` with a fixed random batch: ``infer()`` and ``train_step()``."""

    def __init__(self, B, T, I, H, layout, d=None, R=None, dtype="float32", traced=False, seed=0):
        kw = {} if layout == "dense" else {"n_cores": d, "rank": R}
        self.config = rnn.ModelConfig(cells.CellConfig("lstm", layout, I, H, **kw), head=HeadConfig("classify", 10))
        rng = np.random.default_rng(seed)
        self.params = rnn.init_model(self.config, rng, dtype)
        self.X = rng.standard_normal((B, T, I)).astype(dtype)  # (B, T, I)
        self.y = rng.integers(0, 10, B)  # (B,)
        self.traced = traced
        self._step = autograd.value_and_grad(lambda p: losses.softmax_cross_entropy(
            rnn.forward(self.config, p, self.X, reference=traced), self.y))

    def infer(self):
        return rnn.forward(self.config, self.params, self.X, reference=self.traced)  # (B, 10)

    def train_step(self):
        return self._step(self.params)


def _contenders(size, dims, scope, dtype, settings, use_torch):
    """{name: model} for one group; T = 1 for the "step" scope."""
    dims = dict(dims, T=1) if scope == "step" else dims
    B, T, I, H, d, R = dims["B"], dims["T"], dims["I"], dims["H"], dims["d"], settings["rank"]
    models = {"numpy dense": NumpyLSTM(B, T, I, H, "dense", dtype=dtype),
              f"numpy joint d={d} R={R}": NumpyLSTM(B, T, I, H, "joint", d, R, dtype)}
    if size in settings["traced_at"]:
        models["numpy dense traced"] = NumpyLSTM(B, T, I, H, "dense", dtype=dtype, traced=True)
        models[f"numpy joint d={d} R={R} traced"] = NumpyLSTM(B, T, I, H, "joint", d, R, dtype, traced=True)
    if use_torch:
        from benchmarks.bench_torch import TorchLSTM
        models["torch dense"] = TorchLSTM(B, T, I, H, dtype=dtype)
    return models


def _stats(values, prefix):
    q25, median, q75 = np.percentile(values, [25, 50, 75])
    return {f"{prefix}median_ms": 1e3 * median, f"{prefix}q25_ms": 1e3 * q25, f"{prefix}q75_ms": 1e3 * q75,
            f"{prefix}min_ms": 1e3 * min(values), f"{prefix}max_ms": 1e3 * max(values)}


def interleaved(fns, repeats, clock="cpu", warmup=2):
    """{name: timing} for the callables ``fns``, timed round-robin: each round calls every one once (looped up to
    ``MIN_SAMPLE_S``).  Both clocks are kept: wall time (``perf_counter``) and this process's CPU time
    (``process_time``, which leaves out the time other jobs hold the core); ``median_ms`` etc. use ``clock``."""
    inner = {}
    for name, fn in fns.items():
        start = time.perf_counter()
        fn()
        first = time.perf_counter() - start
        for _ in range(warmup - 1):
            fn()
        inner[name] = max(1, math.ceil(MIN_SAMPLE_S / max(first, 1e-9)))
    wall, cpu = {name: [] for name in fns}, {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(inner[name]):
                fn()
            cpu[name].append((time.process_time() - start_cpu) / inner[name])
            wall[name].append((time.perf_counter() - start) / inner[name])
    chosen = cpu if clock == "cpu" else wall
    return {name: {**_stats(chosen[name], ""), **_stats(wall[name], "wall_"), **_stats(cpu[name], "cpu_"),
                   "clock": clock, "inner": inner[name]} for name in fns}


def _set_threads(threads, use_torch):
    set_blas_threads(threads)
    if use_torch:
        import torch
        torch.set_num_threads(threads)


def run(quick=False, use_torch=False, threads=None, clock="cpu", rank=None, cores=None, command=None):
    """Time every group of the settings (``QUICK`` or ``FULL``; ``threads``, ``rank`` and ``cores`` (d at every
    size) override them) and return the results with the machine, the load average and the targets."""
    settings = dict(QUICK if quick else FULL, clock=clock, cores=cores)
    if threads is not None:
        settings["threads"] = tuple(threads)
    if rank is not None:
        settings["rank"] = rank
    tune_malloc()
    start, load_start = time.perf_counter(), os.getloadavg()
    rows = []
    for size, dtypes in settings["sizes"].items():
        dims = TINY if size == "tiny" else SIZES[size]
        dims = dims if cores is None else dict(dims, d=cores)
        for dtype in dtypes:
            for threads in settings["threads"]:
                _set_threads(threads, use_torch)
                for scope in ("step", "sequence"):
                    models = _contenders(size, dims, scope, dtype, settings, use_torch)
                    for mode in ("infer", "train"):
                        fns = {name: getattr(model, "infer" if mode == "infer" else "train_step")
                               for name, model in models.items()}
                        timings = interleaved(fns, settings["repeats"][size], clock)
                        group = {"size": size, "scope": scope, "mode": mode, "dtype": dtype, "threads": threads}
                        for name, timing in timings.items():
                            rows.append({**group, **dims, "rank": settings["rank"], "model": name, **timing})
                            print(progress_line(rows[-1], COLUMNS), file=sys.stderr, flush=True)
    _add_ratios(rows)
    return {"benchmark": "lstm", "command": command, "settings": {**settings, "dims": SIZES},
            "machine": machine_info(), "load_average_start": list(load_start), "load_average_end":
            list(os.getloadavg()), "torch": _torch_version() if use_torch else None,
            "wall_s": time.perf_counter() - start, "rows": rows, "targets": targets(rows)}


def _torch_version():
    from benchmarks.bench_torch import torch_version
    return torch_version()


def _add_ratios(rows):
    """Each row's time over torch's and over NumPy dense's in its group (None where absent)."""
    key = lambda row: (row["size"], row["scope"], row["mode"], row["dtype"], row["threads"])  # noqa: E731
    by_group = {}
    for row in rows:
        by_group.setdefault(key(row), {})[row["model"]] = row["median_ms"]
    for row in rows:
        group = by_group[key(row)]
        row["vs_torch"] = row["median_ms"] / group["torch dense"] if "torch dense" in group else None
        row["vs_numpy_dense"] = row["median_ms"] / group["numpy dense"]


def targets(rows):
    """The issue's timing targets, one entry per thread count: measured ratio and met or not."""
    found = []
    for row in rows:
        if row["dtype"] != "float32" or row["scope"] != "sequence" or row["size"] not in ("row", "large"):
            continue
        joint = f"numpy joint d={row['d']} R={row['rank']}"
        if row["size"] == "row" and row["mode"] == "train" and row["vs_torch"] is not None:
            if row["model"] == joint:
                found.append({"target": f"train joint TT d={row['d']} R={row['rank']} ≤ 3× torch (row)",
                              "threads": row["threads"],
                              "ratio": row["vs_torch"], "met": bool(row["vs_torch"] <= 3)})
            if row["model"] == "numpy dense":
                found.append({"target": "train NumPy dense ≤ 4× torch (row)", "threads": row["threads"],
                              "ratio": row["vs_torch"], "met": bool(row["vs_torch"] <= 4)})
        if row["size"] == "large" and row["mode"] == "infer" and row["model"] == joint:
            speedup = 1 / row["vs_numpy_dense"]
            found.append({"target": f"infer joint TT d={row['d']} R={row['rank']} ≥ 5× faster than NumPy dense "
                                    "(large)",
                          "threads": row["threads"], "ratio": speedup, "met": bool(speedup >= 5)})
    return found


COLUMNS = [("size", "size", "{}"), ("scope", "scope", "{}"), ("mode", "mode", "{}"), ("dtype", "dtype", "{}"),
           ("thr", "threads", "{}"), ("model", "model", "{}"), ("median ms", "median_ms", "{:.2f}"),
           ("wall ms", "wall_median_ms", "{:.2f}"),
           ("q25", "q25_ms", "{:.2f}"), ("q75", "q75_ms", "{:.2f}"), ("/torch", "vs_torch", "{:.2f}"),
           ("/dense", "vs_numpy_dense", "{:.2f}")]


def plot(result, path, memory=None):
    """Bars of the float32 sequence medians (fewest threads) per size and mode, and the memory of full BPTT against
    T from a ``bench_memory`` result if given; saved to ``path``.  Returns (fig, axes)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    threads = min(result["settings"]["threads"])
    rows = [row for row in result["rows"] if row["dtype"] == "float32" and row["scope"] == "sequence"
            and row["threads"] == threads]
    groups = [(size, mode) for size in result["settings"]["sizes"] for mode in ("train", "infer")]
    panels = len(groups) + (memory is not None)  # as many panels as there is data (a --quick run has one size)
    cols, rows_of_panels = min(panels, 3), -(-panels // 3)
    fig, axes = plt.subplots(rows_of_panels, cols, figsize=(5 * cols, 3.75 * rows_of_panels), squeeze=False)
    axes = axes.ravel()
    for ax, (size, mode) in zip(axes, groups):
        chosen = [row for row in rows if row["size"] == size and row["mode"] == mode]
        ax.barh([row["model"] for row in chosen], [row["median_ms"] for row in chosen],
                xerr=[[row["median_ms"] - row["q25_ms"] for row in chosen],
                      [row["q75_ms"] - row["median_ms"] for row in chosen]],
                color=["tab:orange" if "torch" in row["model"] else "tab:gray" if "traced" in row["model"]
                       else "tab:blue" for row in chosen])
        ax.set_xlabel(f"median {result['settings'].get('clock', 'wall')} ms per call")
        ax.set_title(f"{size} size: {mode}, float32, {threads} thread")
    if memory is not None:
        ax = axes[len(groups)]
        for layout in ("dense", "joint"):
            for path_name, style in (("layer", "-o"), ("traced", "--s")):
                chosen = [row for row in memory["rows"] if row["layout"] == layout and row["path"] == path_name
                          and row["dtype"] == "float32"]
                ax.plot([row["T"] for row in chosen], [row["peak_GB"] for row in chosen], style,
                        label=f"{layout}, {path_name}")
        ax.axhline(2.0, color="k", lw=0.8, ls=":", label="target 2 GB")
        settings = memory["settings"]
        H = settings.get("hidden_size", settings.get("hidden"))  # files written before the rename say "hidden"
        ax.set_xlabel(f"T (B = {settings['batch']}, H = {H}, I = 784/T)")
        ax.set_ylabel("peak RSS of one training step (GB)")
        ax.set_title("memory of full BPTT, float32")
        ax.legend(fontsize=8)
    for ax in axes[len(groups) + (memory is not None):]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return fig, axes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few repeats (a smoke test)")
    parser.add_argument("--torch", action="store_true", help="also time torch.nn.LSTM (needs torch installed)")
    parser.add_argument("--threads", type=int, nargs="+", help="BLAS (and torch) thread counts to run (default 1)")
    parser.add_argument("--rank", type=int, help="TT rank R of the joint models (default 4)")
    parser.add_argument("--cores", type=int, help="TT cores d of the joint models at every size (default 3 at row, "
                                                  "4 at large)")
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                        help="the headline clock: this process's CPU time (default; robust on a shared machine) or "
                             "wall time; both are stored")
    parser.add_argument("--out", help="write the results as JSON to this path")
    parser.add_argument("--report", help="print the tables of an existing JSON file instead of measuring")
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    parser.add_argument("--plot", nargs=2, metavar=("JSON", "PNG"), help="draw the figure of a results file")
    parser.add_argument("--memory", help="with --plot: a bench_memory JSON to draw beside the timings")
    args = parser.parse_args(argv)
    if args.plot:
        with open(args.plot[0]) as file:
            result = json.load(file)
        memory = None
        if args.memory:
            with open(args.memory) as file:
                memory = json.load(file)
        plot(result, args.plot[1], memory)
        return
    if args.report:
        with open(args.report) as file:
            result = json.load(file)
    else:
        command = "python -m benchmarks.bench_lstm " + " ".join(argv if argv is not None else sys.argv[1:])
        result = run(args.quick, args.torch, args.threads, args.clock, args.rank, args.cores, command)
        if args.out:
            write_json(result, args.out)
    print(format_table(result["rows"], COLUMNS, markdown=args.markdown))
    print()
    if not result["targets"]:
        print("targets: none at these sizes (they are defined at the \"row\" and \"large\" sizes and against torch; "
              "a --quick run measures tiny sizes only, and torch rows need torch)")
        return
    print(format_table(result["targets"], [("target", "target", "{}"), ("threads", "threads", "{}"),
                                           ("ratio", "ratio", "{:.2f}"), ("met", "met", "{}")], args.markdown))


if __name__ == "__main__":
    main()
