"""Tutorial 08: the forward FLOPs of an LSTM layer, and an interleaved timing harness."""
import time

import numpy as np


def lstm_forward_flops(B, T, I, H, G):
    """T·B·(2·I·G·H + 2·H·G·H + 10·G·H): the two products per row and step, plus ~10 point-wise FLOPs."""
    return T * B * (2 * I * G * H + 2 * H * G * H + 10 * G * H)


def interleaved_medians(functions, rounds):
    """{name: median seconds}: a warm-up call each, then ``rounds`` rounds calling every function in turn."""
    for f in functions.values():
        f()
    samples = {name: [] for name in functions}
    for _ in range(rounds):
        for name, f in functions.items():
            start = time.perf_counter()
            f()
            samples[name].append(time.perf_counter() - start)
    return {name: float(np.median(values)) for name, values in samples.items()}
