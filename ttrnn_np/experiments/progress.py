"""What a training run shows while it runs: a bar per epoch and one line per epoch.

``training.fit`` calls three things each epoch: ``train_batches(epoch, rng)`` (the batches), the loss on
every batch, and ``on_step(record)`` after every update; then ``evaluate(params)``.  ``EpochProgress`` hooks
into all of them:

    bar = EpochProgress(epochs)
    train_batches = lambda e, rng: bar.wrap(e, minibatches(...))     # starts the epoch's bar
    loss:           bar.count(logits, y)                             # running training accuracy
    on_step:        bar.on_step                                      # loss, accuracy, examples/s
    evaluate:       ... then bar.epoch_line(metrics)                 # one line per epoch

The bar shows the running means over the epoch so far: loss L̄ = Σ L_s B_s / Σ B_s, training accuracy
(correct arg-max over examples seen, measured on the logits before each update) and examples per second.
Without tqdm (or with TQDM_DISABLE=1, or ``bar=False``) there is no bar; the epoch lines remain.
"""
import sys
import time

import numpy as np
from autograd.tracer import getval

try:
    from tqdm import tqdm
except ImportError:
    tqdm = None

__all__ = ["EpochProgress"]


class EpochProgress:
    """A bar per epoch on stderr and one summary line per epoch on ``stream`` (default stdout).

    ``best``: the best validation accuracy so far (set it when resuming); ``bar=False``: lines only.
    """

    def __init__(self, epochs, stream=None, bar=True, best=None):
        self.epochs, self.stream, self.show_bar, self.best = epochs, stream or sys.stdout, bar, best
        self._start_epoch(0)

    def _start_epoch(self, epoch):
        self.epoch, self.bar, self.start = epoch, None, time.perf_counter()
        self.examples, self.correct, self.loss_sum, self.pending = 0, 0, 0.0, None

    def wrap(self, epoch, batches):
        """Start epoch ``epoch`` (0-based) and return ``batches`` wrapped in its bar."""
        self._start_epoch(epoch)
        if not (self.show_bar and tqdm is not None):
            return batches
        self.bar = tqdm(batches, total=len(batches), desc=f"epoch {epoch + 1}/{self.epochs}", leave=False,
                        file=sys.stderr, unit="batch", dynamic_ncols=True)
        return self.bar

    def count(self, logits, labels):
        """Record a batch's logits (B, K) and labels (B,) from inside the loss; returns nothing."""
        self.pending = (int(np.sum(np.argmax(getval(logits), axis=1) == labels)), len(labels))

    def on_step(self, record):
        """``fit``'s per-step callback: fold the batch into the running means and refresh the bar."""
        correct, size = self.pending if self.pending is not None else (0, 0)
        self.pending = None
        self.examples += size
        self.correct += correct
        self.loss_sum += record["loss"] * size
        if self.bar is not None:
            self.bar.set_postfix(self.running(), refresh=False)

    def running(self):
        """{"loss", "acc", "ex/s"} of the epoch so far, formatted for display."""
        n = max(self.examples, 1)
        rate = self.examples / max(time.perf_counter() - self.start, 1e-9)
        return {"loss": f"{self.loss_sum / n:.4f}", "acc": f"{100 * self.correct / n:.2f}%", "ex/s": f"{rate:.0f}"}

    def train_metrics(self):
        """{"train_accuracy", "examples_per_s"} of the finished epoch's training pass."""
        return {"train_accuracy": self.correct / max(self.examples, 1),
                "examples_per_s": self.examples / max(time.perf_counter() - self.start, 1e-9)}

    def close(self):
        """Close the current bar, if any (also after an error in the middle of an epoch)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def epoch_line(self, metrics):
        """Close the bar and write one line: training loss/accuracy, validation loss/accuracy, speed, best mark."""
        self.close()
        improved = self.best is None or metrics["val_accuracy"] > self.best
        self.best = metrics["val_accuracy"] if improved else self.best
        n = max(self.examples, 1)
        line = (f"epoch {self.epoch + 1}/{self.epochs}  train loss {self.loss_sum / n:.4f} "
                f"acc {100 * self.correct / n:.2f} %  |  val loss {metrics['val_loss']:.4f} "
                f"acc {100 * metrics['val_accuracy']:.2f} %  |  {metrics['examples_per_s']:.0f} ex/s, "
                f"eval {metrics['eval_time']:.1f} s" + ("  *best" if improved else ""))
        print(line, file=self.stream, flush=True)
