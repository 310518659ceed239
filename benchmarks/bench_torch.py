"""Reference timings: PyTorch's fused ``torch.nn.LSTM`` (+ ``nn.Linear`` head) at the sizes of ``bench_lstm``.

Index letters: b batch (B), t time (T), I input size, H hidden size, K classes.  One training step is the forward
pass, the cross-entropy on the logits of h_T, and ``loss.backward()`` (no optimizer update, as in ``bench_lstm``);
inference is the forward pass under ``torch.no_grad()``.  ``torch.set_num_threads`` pins torch's threads to the
number given, the same as the BLAS threads of the NumPy runs it is compared with.

This module is optional: ``ttrnn_np`` never imports torch.  ``bench_lstm --torch`` imports the functions below
and times them interleaved with the NumPy runs (same machine load); run alone it prints torch's times:

    python -m benchmarks.bench_torch --threads 1
"""
import argparse
import time

import numpy as np
import torch

__all__ = ["TorchLSTM", "torch_version"]


def torch_version():
    return torch.__version__


class TorchLSTM:
    """nn.LSTM(I, H, batch_first) + nn.Linear(H, K) with a fixed random batch X (B, T, I) and labels y (B,)."""

    def __init__(self, B, T, I, H, K=10, dtype="float32", seed=0):
        torch.manual_seed(seed)
        self.dtype = getattr(torch, dtype)
        self.lstm = torch.nn.LSTM(I, H, batch_first=True).to(self.dtype)
        self.head = torch.nn.Linear(H, K).to(self.dtype)
        self.X = torch.randn(B, T, I, dtype=self.dtype)  # (B, T, I)
        self.y = torch.randint(0, K, (B,))  # (B,)
        self.parameters = list(self.lstm.parameters()) + list(self.head.parameters())

    def _logits(self):
        hs, _ = self.lstm(self.X)  # (B, T, H)
        return self.head(hs[:, -1])  # (B, K)

    def train_step(self):
        """Forward, cross-entropy, backward; returns the loss."""
        for p in self.parameters:
            p.grad = None
        loss = torch.nn.functional.cross_entropy(self._logits(), self.y)
        loss.backward()
        return float(loss.detach())

    def infer(self):
        """The logits (B, K) without recording a graph."""
        with torch.no_grad():
            return self._logits()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    for name, (B, T, I, H) in {"row-MNIST": (128, 28, 28, 256), "large": (128, 28, 256, 1024)}.items():
        model = TorchLSTM(B, T, I, H)
        for mode in ("infer", "train_step"):
            fn = getattr(model, mode)
            fn()
            samples = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                fn()
                samples.append(time.perf_counter() - start)
            print(f"{name:10s} {mode:10s} torch {torch.__version__}, {args.threads} thread(s): "
                  f"median {1e3 * np.median(samples):8.2f} ms")


if __name__ == "__main__":
    main()
