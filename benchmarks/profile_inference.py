"""Where the inference time of one LSTM layer goes: input projection, recurrent products, point-wise gates.

Index letters: b batch (B), t time (T), I input size, H hidden size, G = 4 gates, d cores, R rank.
One layer's forward pass (``rnn.forward``; its 10-class head is negligible) is three kinds of work:

    input projection   Ax = X W_x + b          one product over all T·B rows, X (T·B, I) → (T·B, G·H)
    recurrence         h_{t-1} W_h             T products of B rows, (B, H) → (B, G·H)
    point-wise         gates, c_t, h_t         ≈ 10 operations per number of (T, B, G·H), no products

We time the whole forward pass and the two kinds of products on their own (interleaved rounds, CPU clock, as in
``bench_lstm``) and call the rest "point-wise and glue".  The dense/TT ratio of the whole pass is bounded by
Amdahl's law: the point-wise part is the same for both layouts.

A lead, also measured: the same TT-matrix with adjacent cores merged in pairs (cores k and k+1 contracted over
their shared rank into one core (r_k, m_k m_{k+1}, n_k n_{k+1}, r_{k+2}): the same matrix, fewer and larger
products, more FLOPs) for the input projection, in both orders.

    python -m benchmarks.profile_inference --out results/bench/profile_inference.json
    python -m benchmarks.profile_inference --report results/bench/profile_inference.json --markdown
    python -m benchmarks.profile_inference --quick
"""
import argparse
import json

import numpy as np

from benchmarks.bench_lstm import SIZES, TINY, NumpyLSTM, interleaved
from benchmarks.common import format_table, machine_info, write_json
from ttrnn_np import cells, cost, ttmatmul
from ttrnn_np.experiments.runtime import set_blas_threads, tune_malloc


def merge_pairs(cores):
    """The TT-matrix with cores (2j, 2j+1) merged: [(r_k, m_k m_{k+1}, n_k n_{k+1}, r_{k+2})], same full matrix."""
    merged = []
    for k in range(0, len(cores) - 1, 2):
        G, F = cores[k], cores[k + 1]  # (r_k, m_k, n_k, r_{k+1}), (r_{k+1}, m_{k+1}, n_{k+1}, r_{k+2})
        P = np.einsum("aijb,bklc->aikjlc", G, F)  # (r_k, m_k, m_{k+1}, n_k, n_{k+1}, r_{k+2})
        merged.append(P.reshape(G.shape[0], G.shape[1] * F.shape[1], G.shape[2] * F.shape[2], F.shape[3]))
    return merged + ([cores[-1]] if len(cores) % 2 else [])


def _flops(cores, order):
    m, n = [G.shape[1] for G in cores], [G.shape[2] for G in cores]
    r = [G.shape[0] for G in cores] + [1]
    return cost.matmul_flops(m, n, r)[order]


def contenders(dims, layout, R, dtype, seed=0):
    """{name: (callable, FLOPs per call or None)} of one model: the whole pass and its products."""
    B, T, I, H, d = dims["B"], dims["T"], dims["I"], dims["H"], dims["d"]
    model = NumpyLSTM(B, T, I, H, layout, d, R, dtype, seed=seed)
    cell = model.params["layers"][0]
    rng = np.random.default_rng(seed + 1)
    X = rng.standard_normal((T * B, I)).astype(dtype)  # (T·B, I), time-major rows
    h = rng.standard_normal((B, H)).astype(dtype)  # (B, H)
    name = "dense" if layout == "dense" else f"joint d={d} R={R}"
    if layout == "dense":
        W_x, W_h = cells.dense_weights(cell)  # (I, G·H), (H, G·H)
        return {f"{name}: whole forward": (model.infer, None),
                f"{name}: input projection": (lambda: X @ W_x + cell["b"], 2 * T * B * I * 4 * H),
                f"{name}: {T} recurrent products": (lambda: [h @ W_h for _ in range(T)], 2 * T * B * H * 4 * H)}
    (W_x,), (W_h,) = cell["W_x"], cell["W_h"]  # one TT-matrix block each (joint layout)
    x_order, h_order = ttmatmul.cheaper_order(W_x), ttmatmul.cheaper_order(W_h)
    fns = {f"{name}: whole forward": (model.infer, None),
           f"{name}: input projection ({x_order})": (lambda: ttmatmul.matmul(X, W_x) + cell["b"],
                                                     T * B * _flops(W_x, x_order)),
           f"{name}: {T} recurrent products ({h_order})": (lambda: [ttmatmul.matmul(h, W_h) for _ in range(T)],
                                                          T * B * _flops(W_h, h_order))}
    merged = merge_pairs(W_x)
    for order in ("ltr", "rtl"):
        fns[f"{name}: input projection, cores merged in pairs ({order})"] = (
            lambda order=order: ttmatmul.matmul(X, merged, order=order) + cell["b"], T * B * _flops(merged, order))
    return fns


def run(size="large", quick=False, rank=4, repeats=7, dtype="float32"):
    """Interleaved medians of every contender of the dense and the joint TT model at one size."""
    dims = TINY if quick else SIZES[size]
    fns = {**contenders(dims, "dense", rank, dtype), **contenders(dims, "joint", rank, dtype)}
    timings = interleaved({name: fn for name, (fn, _) in fns.items()}, 2 if quick else repeats)
    rows = []
    for name, (_, flops) in fns.items():
        ms = timings[name]["median_ms"]
        rows.append({"name": name, "median_ms": ms, "flops": flops,
                     "gflops": None if flops is None else flops / ms / 1e6, **timings[name]})
    return {"size": "tiny" if quick else size, "dims": dims, "rank": rank, "dtype": dtype, "rows": rows}


COLUMNS = [("part", "name", "{}"), ("CPU ms (median)", "median_ms", "{:.1f}"), ("GFLOP/s", "gflops", "{:.1f}"),
           ("share of whole %", "share", "{:.0f}")]


def summary(result):
    """The rows with each part's share of its model's whole pass, plus 'point-wise and glue' = whole − the
    input projection − the recurrent products (the merged-core lead is not part of the pass)."""
    rows = []
    for model in ("dense", f"joint d={result['dims']['d']} R={result['rank']}"):
        mine = [r for r in result["rows"] if r["name"].startswith(f"{model}: ")]
        whole = next(r["median_ms"] for r in mine if r["name"].endswith("whole forward"))
        parts = [r["median_ms"] for r in mine if "recurrent" in r["name"]
                 or ("input projection" in r["name"] and "merged" not in r["name"])]
        rows += [{**r, "share": None if "merged" in r["name"] else 100 * r["median_ms"] / whole} for r in mine]
        rest = whole - sum(parts)
        rows.append({"name": f"{model}: point-wise and glue (whole − products)", "median_ms": rest,
                     "share": 100 * rest / whole})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="large", help="model size (default large)")
    parser.add_argument("--rank", type=int, default=4, help="TT rank R (default 4)")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved rounds (default 7)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 2 rounds (a smoke test)")
    parser.add_argument("--out", help="write the results as JSON to this path")
    parser.add_argument("--report", metavar="JSON", help="print the table of an existing results file instead")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)
    if args.report:
        with open(args.report) as f:
            result = json.load(f)
        print(format_table(summary(result), COLUMNS, markdown=args.markdown))
        return
    tune_malloc()
    set_blas_threads(1)
    result = run(args.size, args.quick, args.rank, args.repeats)
    result["machine"] = machine_info()
    print(format_table(summary(result), COLUMNS, markdown=args.markdown))
    if args.out:
        write_json(result, args.out)


if __name__ == "__main__":
    main()
