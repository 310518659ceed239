"""Timing for the tutorials: functions measured in turn, round after round, so a busy machine slows all alike.

One untimed warm-up call of each function first (it pays for allocation and BLAS start-up), then ``rounds``
rounds that call every function once, in turn.  The median ignores the occasional slow call caused by other
work on the machine; the minimum is the best the machine did.  ``clock`` is ``time.perf_counter`` (wall time)
or ``time.process_time`` (this process's CPU time: with one BLAS thread, the cost of the call even when other
jobs share the cores).
"""
import time

import numpy as np

__all__ = ["interleaved_times"]


def interleaved_times(functions, rounds, clock=time.perf_counter):
    """{name: {"median", "min", "max", "samples"}} in seconds, for every ``f()`` of ``functions`` {name: f}."""
    if rounds < 1:
        raise ValueError(f"rounds must be a positive integer, got {rounds}")
    for f in functions.values():
        f()
    samples = {name: [] for name in functions}
    for _ in range(rounds):
        for name, f in functions.items():
            start = clock()
            f()
            samples[name].append(clock() - start)
    return {name: {"median": float(np.median(s)), "min": min(s), "max": max(s), "samples": s}
            for name, s in samples.items()}
