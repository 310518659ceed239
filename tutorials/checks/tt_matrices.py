"""Checkers for tutorial 02: one entry of a TT-matrix, the product in one order, the break-even rank."""
import numpy as np

from ttrnn_np import cost, init, ttmatmul, ttmatrix

from ._verdict import forbidden, require, require_close, verdict

_SHAPES = [((2, 3), (2, 4), 2), ((4, 3, 2), (2, 3, 4), 3), ((2, 2, 3, 1), (3, 1, 2, 2), 2)]  # (m, n, R)


def entry(student):
    """student(cores, i, j) → W[i, j] from the core slices, without full()."""
    def body():
        rng = np.random.default_rng(21)
        for m, n, R in _SHAPES:
            cores = init.normal(m, n, R, std=1.0, rng=rng)
            W = ttmatrix.full(cores)  # (M, N)
            for i, j in zip(rng.integers(0, W.shape[0], 5), rng.integers(0, W.shape[1], 5)):
                with forbidden(ttmatrix, ["full"], "compute the entry from one slice of each core, not from full(W)"):
                    given = float(np.squeeze(student(cores, int(i), int(j))))
                require(np.isclose(given, W[i, j], rtol=1e-10, atol=1e-12),
                        f"W[{i}, {j}] of the {W.shape[0]}×{W.shape[1]} TT-matrix with modes {m}×{n}: "
                        f"{W[i, j]:.6f} expected, got {given:.6f}")
        return "15 entries of 3 TT-matrices with 2, 3 and 4 cores"
    return verdict("a TT-matrix entry", "split i and j into digits with np.unravel_index(i, m) (C order, mode 0 "
                   "most significant) and multiply the matrices G_k[:, i_k, j_k, :]", body)


def matmul_one_order(student):
    """student(X, cores) → X·W (B, N) by a sweep over the cores, never forming W."""
    def body():
        rng = np.random.default_rng(22)
        for m, n, R in _SHAPES:
            cores = init.glorot(m, n, R, rng)
            X = rng.standard_normal((5, int(np.prod(m))))  # (B, M)
            expected = X @ ttmatrix.full(cores)  # (B, N)
            advice = "write the sweep yourself: no full(W), no ttmatmul functions"
            with forbidden(ttmatrix, ["full"], advice), \
                    forbidden(ttmatmul, ["matmul", "matmul_sweep", "matmul_reference"], advice):
                Y = student(X.copy(), cores)
            require_close(Y, expected, f"X·W for modes {m}×{n}, rank {R}")
        return "3 TT-matrices with 2, 3 and 4 cores, batch 5"
    return verdict("the TT product", "reshape X to (B, m_0, …, m_{d−1}); at step k contract the axes (r_k, m_k) "
                   "of the carry with core k's first two axes, and move n_k to the produced outputs", body)


def break_even_rank(student):
    """student(m, n) → the smallest uniform rank R whose cheaper order needs ≥ 2MN FLOPs per sample."""
    def body():
        cases = [((4, 8, 8), (8, 8, 16)), ((8, 8, 16), (8, 8, 16)), ((4, 7), (16, 16)), ((2, 2, 7), (4, 8, 8)),
                 ((1, 2, 2, 7), (4, 4, 8, 8))]
        for m, n in cases:
            expected = cost.break_even_rank(m, n)
            with forbidden(cost, ["break_even_rank", "matmul_flops"], "add up the FLOPs of both sweeps yourself"):
                given = student(m, n)
            require(given == expected, f"modes {m}×{n}: break-even rank {expected} expected, got {given}")
        return "5 shapes, 2 to 4 cores"
    return verdict("the break-even rank", "step k costs 2·r_k·r_k+1·(n_0⋯n_k)·(m_k⋯m_{d−1}) left to right and "
                   "2·r_k·r_k+1·(m_0⋯m_k)·(n_k⋯n_{d−1}) right to left; raise R until the cheaper sum reaches 2MN",
                   body)
