"""Checkers for tutorial 01: TT-SVD, rounding, and the sum tensor's cores."""
import numpy as np

from ttrnn_np import tt

from ._verdict import forbidden, require, require_close, verdict


def _test_tensors():
    """(name, A, eps): a smooth tensor, a random one, an exact rank-(1, 2, 3, 1) TT, a matrix."""
    rng = np.random.default_rng(11)
    grids = np.meshgrid(*[np.arange(6.0)] * 4, indexing="ij")  # 4 × (6, 6, 6, 6)
    smooth = 1.0 / (1.0 + sum(grids))  # (6, 6, 6, 6)
    low_rank = tt.full([rng.standard_normal((1, 5, 2)), rng.standard_normal((2, 4, 3)),
                        rng.standard_normal((3, 6, 1))])  # (5, 4, 6)
    return [("smooth 6×6×6×6", smooth, 1e-6), ("smooth 6×6×6×6", smooth, 3e-2),
            ("random 4×4×4×4", rng.standard_normal((4, 4, 4, 4)), 0.9),
            ("random 3×4×5", rng.standard_normal((3, 4, 5)), 1e-12),
            ("rank-(1, 2, 3, 1) 5×4×6", low_rank, 1e-10), ("random 7×9 matrix", rng.standard_normal((7, 9)), 0.3)]


def _check_cores(cores, shape, what):
    require(isinstance(cores, (list, tuple)) and len(cores) == len(shape),
            f"{what}: a list of {len(shape)} cores expected, got {type(cores).__name__}"
            f"{f' of length {len(cores)}' if isinstance(cores, (list, tuple)) else ''}")
    for k, G in enumerate(cores):
        require(np.ndim(G) == 3, f"{what}: core {k} must be 3-D (r_k, n_k, r_k+1), got shape {np.shape(G)}")
    require(tuple(np.shape(G)[1] for G in cores) == tuple(shape),
            f"{what}: modes {tuple(shape)} expected, got {tuple(np.shape(G)[1] for G in cores)}")
    require(np.shape(cores[0])[0] == 1 and np.shape(cores[-1])[2] == 1,
            f"{what}: the outer ranks r_0 and r_d must be 1, got {np.shape(cores[0])[0]} and {np.shape(cores[-1])[2]}")
    for k in range(len(cores) - 1):
        require(np.shape(cores[k])[2] == np.shape(cores[k + 1])[0],
                f"{what}: core {k} ends with rank {np.shape(cores[k])[2]} but core {k + 1} starts with "
                f"{np.shape(cores[k + 1])[0]}")


def tt_svd(student):
    """student(A, eps) → cores; same ranks as tt.tt_svd and relative error ≤ eps."""
    def body():
        for name, A, eps in _test_tensors():
            cores = student(A.copy(), eps)
            what = f"the {name} tensor at eps = {eps:g}"
            _check_cores(cores, A.shape, what)
            expected = tt.ranks(tt.tt_svd(A, eps=eps))
            require(tt.ranks(cores) == expected, f"{what}: ranks {expected} expected, got {tt.ranks(cores)}")
            error = np.linalg.norm(tt.full(cores) - A) / np.linalg.norm(A)
            require(error <= eps * (1 + 1e-9) + 1e-13, f"{what}: relative error {error:.2e} exceeds eps = {eps:g}")
        return "6 tensors: ranks equal tt.tt_svd's, every error within eps"
    return verdict("TT-SVD", "at step k reshape the remainder to (r_k·n_k, rest), keep the smallest rank whose "
                   "dropped singular values have norm ≤ δ = eps·‖A‖_F/√(d − 1), and carry S·Vᵀ on", body)


def tt_round(student):
    """student(cores, eps) → cores; ranks equal tt.tt_round's, error ≤ eps·‖T‖, without densifying."""
    def body():
        rng = np.random.default_rng(12)
        grids = np.meshgrid(*[np.arange(7.0)] * 4, indexing="ij")  # 4 × (7, 7, 7, 7)
        T = tt.tt_svd(1.0 / (1.0 + sum(grids)), eps=1e-9)
        R = [rng.standard_normal((1, 3, 2)), rng.standard_normal((2, 4, 3)), rng.standard_normal((3, 5, 1))]
        cases = [("T + T (smooth, 7^4)", tt.add(T, T), 1e-10), ("T + T (smooth, 7^4)", tt.add(T, T), 1e-3),
                 ("R + 0.5 R (random ranks 1-2-3-1)", tt.add(R, tt.scale(R, 0.5)), 1e-12)]
        for name, cores, eps in cases:
            expected = tt.ranks(tt.tt_round(cores, eps=eps))
            reference = tt.full(cores)
            with forbidden(tt, ["full", "tt_svd"], "round without densifying: orthogonalize from the right, then "
                           "sweep left to right with truncated SVDs of the small core unfoldings"):
                rounded = student([G.copy() for G in cores], eps)
            what = f"{name} at eps = {eps:g}"
            _check_cores(rounded, reference.shape, what)
            require(tt.ranks(rounded) == expected, f"{what}: ranks {expected} expected, got {tt.ranks(rounded)}")
            error = np.linalg.norm(tt.full(rounded) - reference) / np.linalg.norm(reference)
            require(error <= eps * (1 + 1e-9) + 1e-13, f"{what}: relative error {error:.2e} exceeds eps = {eps:g}")
        return "3 cases: ranks equal tt.tt_round's, errors within eps, nothing densified"
    return verdict("tt_round", "right-orthogonalize first (QR sweep from the last core), so that ‖T‖ sits in core 0; "
                   "then truncate each (r_k·n_k) × r_k+1 unfolding at δ = eps·‖T‖/√(d − 1) and push S·Vᵀ right", body)


def sum_tensor_cores(student):
    """student(n, d) → rank-2 cores of S[i_0, …, i_{d-1}] = i_0 + … + i_{d-1}."""
    def body():
        for n, d in ((3, 2), (4, 3), (5, 5)):
            cores = student(n, d)
            what = f"n = {n}, d = {d}"
            _check_cores(cores, (n,) * d, what)
            S = sum(np.meshgrid(*[np.arange(float(n))] * d, indexing="ij"))  # (n,)*d
            require_close(tt.full(cores), S, f"{what}: full(cores) against i_0 + … + i_(d−1)")
            require(max(tt.ranks(cores)) == 2, f"{what}: ranks (1, 2, …, 2, 1) expected, got {tt.ranks(cores)}")
        return "(n, d) = (3, 2), (4, 3), (5, 5)"
    return verdict("the sum tensor's cores", "the state (1, running sum) is carried along: first core (i, 1), "
                   "middle cores [[1, 0], [i, 1]], last core (1, i)ᵀ", body)
