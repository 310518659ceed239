"""Is a change slower?  The row-MNIST training step of two checkouts of ttrnn_np, timed interleaved.

Index letters: b batch (B = 128), t time (T = 28), I = 28 inputs, H = 256 hidden units, K = 10 classes.
One step is ``value_and_grad`` of the cross-entropy of an LSTM + dense head through all T steps (``rnn.forward``,
float32, one BLAS thread), for the dense LSTM and the joint TT-LSTM d = 3, R = 4.  Each checkout runs in its own
worker process (its ``ttrnn_np`` first on ``sys.path``, malloc tuned as ``ttrnn mnist`` does), which builds both
models from the same seed; the parent
then asks the workers in turn, round after round, for one sample each — so a shared machine's load hits both
checkouts alike — and reports the median over the rounds of the process CPU time and the wall time per step.

    python -m benchmarks.compare_checkouts OLD_CHECKOUT NEW_CHECKOUT [--rounds 15] [--steps 5]

Unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE in the command (they slow OpenBLAS on this kind of machine).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

WORKER = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
import autograd, numpy as np
from threadpoolctl import threadpool_info, threadpool_limits
threadpool_limits(1)
from ttrnn_np import cells, losses, rnn
from ttrnn_np.experiments.runtime import tune_malloc
tune_malloc()  # as the training commands do
from ttrnn_np.heads import HeadConfig
B, T, I, H = 128, 28, 28, 256
steps = {}
for name, kw in (("dense", dict(layout="dense")), ("joint d=3 R=4", dict(layout="joint", n_cores=3, rank=4))):
    config = rnn.ModelConfig(cells.CellConfig("lstm", input_size=I, hidden_size=H, **kw), head=HeadConfig("classify", 10))
    rng = np.random.default_rng(0)
    params = rnn.init_model(config, rng, "float32")
    X, y = rng.standard_normal((B, T, I)).astype("float32"), rng.integers(0, 10, B)
    step = autograd.value_and_grad(lambda p, c=config, X=X, y=y: losses.softmax_cross_entropy(rnn.forward(c, p, X), y))
    for _ in range(3):
        step(params)  # warm-up
    steps[name] = (step, params)
blas = [(i.get("internal_api"), i.get("architecture"), i.get("num_threads")) for i in threadpool_info()]
print(json.dumps({"ready": True, "file": rnn.__file__, "blas": blas}), flush=True)
for line in sys.stdin:
    name, n = json.loads(line)
    step, params = steps[name]
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        step(params)
    print(json.dumps({"cpu": (time.process_time() - cpu) / n, "wall": (time.perf_counter() - wall) / n}), flush=True)
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkouts", nargs=2, metavar="CHECKOUT", help="two source checkouts: old, new")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    parser.add_argument("--steps", type=int, default=5, help="training steps per sample (default 5)")
    args = parser.parse_args(argv)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, os.path.abspath(path)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, env=env) for path in args.checkouts]
    for path, worker in zip(args.checkouts, workers):
        info = json.loads(worker.stdout.readline())
        print(f"{path}: {info['file']}, BLAS {info['blas']}")
    models = ("dense", "joint d=3 R=4")
    samples = {(k, model): [] for k in range(2) for model in models}
    for _ in range(args.rounds):
        for model in models:
            for k, worker in enumerate(workers):
                worker.stdin.write(json.dumps([model, args.steps]) + "\n")
                worker.stdin.flush()
                samples[k, model].append(json.loads(worker.stdout.readline()))
    for worker in workers:
        worker.stdin.close()
        worker.wait()
    print(f"\nmedian ms per training step over {args.rounds} interleaved rounds of {args.steps} steps "
          "(float32, 1 BLAS thread, B=128 T=28 I=28 H=256)")
    print(f"{'model':>15} {'clock':>5} {'old':>8} {'new':>8} {'new/old':>8}")
    for model in models:
        for clock in ("cpu", "wall"):
            old, new = (statistics.median(s[clock] for s in samples[k, model]) * 1e3 for k in range(2))
            print(f"{model:>15} {clock:>5} {old:8.1f} {new:8.1f} {new / old:8.3f}")


if __name__ == "__main__":
    main()
