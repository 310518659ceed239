"""Checkers for tutorial 08: the FLOPs of an LSTM layer, and an interleaved timing harness."""
import time

from ttrnn_np import cells, sizes

from ._verdict import require, verdict


def lstm_forward_flops(student):
    """student(B, T, I, H, G) → T·B·(2·I·G·H + 2·H·G·H + 10·G·H): the two products plus ~10 point-wise FLOPs."""
    def body():
        for B, T, I, H, G in ((128, 28, 28, 256, 4), (32, 8, 28, 64, 4), (7, 3, 5, 11, 3), (1, 1, 1, 1, 4)):
            kind = "lstm" if G == 4 else "gru"
            products = sizes.model_sizes(cells.CellConfig(kind, "dense", I, H))["flops_per_step"]["dense"]
            expected = T * B * (products + 10 * G * H)
            given = student(B, T, I, H, G)
            require(given == expected, f"B = {B}, T = {T}, I = {I}, H = {H}, G = {G}: {expected:,} expected, "
                    f"got {given:,}" if isinstance(given, int) else f"an integer expected, got {given!r}")
        return "4 sizes, LSTM and GRU, against sizes.model_sizes' product FLOPs"
    return verdict("the forward FLOPs", "per row and step: x·W_x is 2·I·G·H FLOPs, h·W_h is 2·H·G·H, the gates "
                   "about 10·G·H; multiply by B rows and T steps", body)


def interleaved_medians(student):
    """student(functions, rounds) → {name: median seconds}: one untimed warm-up call each, then ``rounds``
    rounds that call every function once, in turn."""
    def body():
        calls = []

        def busy(name, seconds):
            def f():
                calls.append(name)
                end = time.perf_counter() + seconds
                while time.perf_counter() < end:
                    pass
            return f

        functions = {"short": busy("short", 0.002), "long": busy("long", 0.006)}
        result = student(functions, 5)
        require(isinstance(result, dict) and set(result) == set(functions),
                f"a dict with keys {sorted(functions)} expected, got {result!r}")
        require(len(calls) == 12, f"6 calls of each function expected (1 warm-up + 5 rounds), got "
                f"{calls.count('short')} and {calls.count('long')}")
        require(calls[2:] == ["short", "long"] * 5, f"rounds must alternate the functions, got the order {calls}")
        for name, seconds in (("short", 0.002), ("long", 0.006)):
            require(seconds * 0.95 <= result[name] <= seconds * 5,
                    f"'{name}' busy-waits {1e3 * seconds:.0f} ms, got a median of {1e3 * result[name]:.2f} ms")
        return "the call order and the medians of two functions busy for 2 and 6 ms"
    return verdict("the interleaved timer", "call each function once untimed, then for every round loop over the "
                   "functions, timing each call with time.perf_counter; return the median per function", body)
