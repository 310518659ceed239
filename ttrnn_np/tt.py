"""TT tensors: a d-way array stored as a chain of 3-D cores, and the algebra that never densifies it.

Index letters: d (number of modes = number of cores), k (core index 0…d−1), n_k (mode sizes),
r_k (TT ranks, r_0 = r_d = 1), i_k (an index into mode k).

Core k has shape (r_k, n_k, r_{k+1}) and the tensor is the product of matrix slices

    A[i_0, …, i_{d-1}] = G_0[:, i_0, :] · G_1[:, i_1, :] ⋯ G_{d-1}[:, i_{d-1}, :].

A TT tensor *is* its list of cores; modes, ranks and size are read off the core shapes.

Unfoldings.  The k-th unfolding A⟨k⟩ is A reshaped to (n_0⋯n_k) × (n_{k+1}⋯n_{d-1}); the TT ranks can be as
small as rank(A⟨k⟩) and no smaller.  TT-SVD peels the cores off one unfolding at a time with truncated SVDs.

Accuracy.  ``tt_svd`` and ``tt_round`` take a *relative* accuracy eps and cut every one of the d−1 SVDs at

    δ = eps · ‖A‖_F / √(d−1),

keeping the smallest rank whose discarded singular values have norm ≤ δ.  The d−1 errors are orthogonal,
so ‖A − full(TT)‖_F² ≤ (d−1)·δ², i.e. ‖A − full(TT)‖_F ≤ eps·‖A‖_F (up to floating-point round-off).
A ``max_rank`` cap may cut deeper than δ, and then this guarantee no longer holds.

Orthogonality.  A core is left-orthogonal when its (r_k·n_k) × r_{k+1} unfolding L has LᵀL = I, and
right-orthogonal when its r_k × (n_k·r_{k+1}) unfolding R has RRᵀ = I.

These functions use plain NumPy and run outside autograd (rounding and orthogonalization are not
differentiated).  They keep the cores' dtype, so float32 cores stay float32.
"""
import math
import numbers

import numpy as np

from . import pytree

__all__ = ["modes", "ranks", "compression", "describe", "full", "tt_svd", "tt_round", "left_orthogonalize",
           "right_orthogonalize", "add", "scale", "hadamard", "dot", "norm"]


# ---------------------------------------------------------------------------------------------------------
# Checking inputs
# ---------------------------------------------------------------------------------------------------------

def validate_cores(cores):
    """Check that ``cores`` is a valid TT tensor and return it as a list of NumPy arrays.

    Raises TypeError for a non-list or non-real cores, ValueError for no cores, a non-3-D or empty core, boundary ranks
    r_0, r_d ≠ 1, neighbouring cores whose ranks do not chain (both shapes named), or NaN/inf entries.
    """
    if not isinstance(cores, (list, tuple)):
        raise TypeError(f"a TT tensor is a list of 3-D cores (r_k, n_k, r_k+1), got {type(cores).__name__}")
    if len(cores) == 0:
        raise ValueError("a TT tensor needs at least one core, got an empty list")
    cores = [np.asarray(G) for G in cores]
    for k, G in enumerate(cores):
        if G.ndim != 3:
            raise ValueError(f"TT core {k} must be 3-D (r_k, n_k, r_k+1), got shape {G.shape}")
        if G.size == 0:
            raise ValueError(f"TT core {k} is empty: shape {G.shape} (every rank and mode must be ≥ 1)")
        if not (np.issubdtype(G.dtype, np.floating) or np.issubdtype(G.dtype, np.integer)):
            raise TypeError(f"TT core {k} must hold real numbers, got dtype {G.dtype}")
        if not np.all(np.isfinite(G)):
            raise ValueError(f"TT core {k} (shape {G.shape}) contains NaN or inf")
    if cores[0].shape[0] != 1 or cores[-1].shape[2] != 1:
        raise ValueError(f"TT boundary ranks must be 1: first core has shape {cores[0].shape} "
                         f"(r_0 = {cores[0].shape[0]}), last core has shape {cores[-1].shape} "
                         f"(r_d = {cores[-1].shape[2]})")
    for k in range(len(cores) - 1):
        if cores[k].shape[2] != cores[k + 1].shape[0]:
            raise ValueError(f"TT cores {k} and {k + 1} do not chain: shapes {cores[k].shape} and "
                             f"{cores[k + 1].shape} (need r_{k + 1}: {cores[k].shape[2]} == {cores[k + 1].shape[0]})")
    return cores


def _check_eps(eps):
    if not isinstance(eps, numbers.Real) or isinstance(eps, bool):
        raise TypeError(f"eps must be a real number (relative accuracy), got {type(eps).__name__}")
    if not eps >= 0:
        raise ValueError(f"eps is a relative accuracy and must be ≥ 0, got {eps}")


def _rank_caps(max_rank, d):
    """Per-bond rank caps [cap_1, …, cap_{d-1}] from None, an int, or a list of d−1 ints."""
    if max_rank is None:
        return [math.inf] * (d - 1)
    if isinstance(max_rank, numbers.Integral) and not isinstance(max_rank, bool):
        caps = [int(max_rank)] * (d - 1)
    elif isinstance(max_rank, (list, tuple, np.ndarray)):
        if len(max_rank) != d - 1:
            raise ValueError(f"a per-bond max_rank needs d-1 = {d - 1} entries (one per bond), "
                             f"got {len(max_rank)}: {list(max_rank)}")
        if not all(isinstance(R, numbers.Integral) and not isinstance(R, bool) for R in max_rank):
            raise TypeError(f"max_rank entries must be integers, got {list(max_rank)}")
        caps = [int(R) for R in max_rank]
    else:
        raise TypeError(f"max_rank must be None, an int or a list of d-1 ints, got {type(max_rank).__name__}")
    if min(caps, default=1) < 1:
        raise ValueError(f"max_rank must be ≥ 1 on every bond, got {max_rank}")
    return caps


def _check_same_shape(a, b, op):
    if modes(a) != modes(b):
        raise ValueError(f"{op}: the TT tensors must have the same modes, got {modes(a)} and {modes(b)}")


# ---------------------------------------------------------------------------------------------------------
# Reading the size story off the cores
# ---------------------------------------------------------------------------------------------------------

def ranks(cores):
    """The full rank tuple (1, r_1, …, r_{d-1}, 1)."""
    cores = validate_cores(cores)
    return tuple(int(G.shape[0]) for G in cores) + (1,)


def modes(cores):
    """The modes (n_0, …, n_{d-1}): the shape of the dense tensor."""
    return tuple(int(G.shape[1]) for G in validate_cores(cores))


def compression(cores):
    """Dense size / TT size, ∏ n_k / Σ r_k n_k r_{k+1} (> 1 means the TT is smaller)."""
    return math.prod(modes(cores)) / pytree.num_params(validate_cores(cores))


def describe(cores):
    """One line: e.g. ``TT tensor 4×4×4×4, ranks 1-3-4-3-1, 120 params (2.13× compression)``."""
    mode_str = "×".join(str(n) for n in modes(cores))
    rank_str = "-".join(str(r) for r in ranks(cores))
    return (f"TT tensor {mode_str}, ranks {rank_str}, {pytree.num_params(validate_cores(cores))} params "
            f"({compression(cores):.3g}× compression)")


# ---------------------------------------------------------------------------------------------------------
# Dense ⇄ TT
# ---------------------------------------------------------------------------------------------------------

def full(cores):
    """The dense tensor A of shape (n_0, …, n_{d-1}): chain the cores as matrix products."""
    cores = validate_cores(cores)
    P = cores[0].reshape(-1, cores[0].shape[2])  # (n_0, r_1)
    for G in cores[1:]:
        P = P @ G.reshape(G.shape[0], -1)  # (n_0⋯n_{k-1}, n_k·r_{k+1})
        P = P.reshape(-1, G.shape[2])  # (n_0⋯n_k, r_{k+1})
    return P.reshape(modes(cores))  # (n_0, …, n_{d-1})


def _truncated_svd(C, delta, cap):
    """SVD of the matrix C cut to the smallest rank r ≥ 1 with ‖σ_{r:}‖ ≤ δ, then to at most ``cap``."""
    U, s, Vt = np.linalg.svd(C, full_matrices=False)  # U (p, q), s (q,), Vt (q, p')
    tail = np.sqrt(np.cumsum(s[::-1] ** 2)[::-1])  # (q,)  tail[j] = ‖σ_{j:}‖
    dropped = np.append(tail[1:], 0.0)  # (q,)  dropped[r-1] = error of keeping rank r
    r = min(int(np.argmax(dropped <= delta)) + 1, cap)
    return U[:, :r], s[:r], Vt[:r]  # (p, r), (r,), (r, p')


def tt_svd(A, eps=1e-12, max_rank=None):
    """TT-SVD: the cores of a TT tensor within relative accuracy ``eps`` of the dense array A.

    For k = 0 … d−2 the remainder C (r_k, n_k⋯n_{d-1}) is reshaped to (r_k·n_k) × (n_{k+1}⋯n_{d-1}) and
    factorized C = U S Vᵀ; U becomes core k (r_k, n_k, r_{k+1}) and S Vᵀ the next remainder.  Each SVD keeps the
    smallest rank r_{k+1} whose discarded singular values have norm ≤ δ = eps·‖A‖_F/√(d−1), which guarantees

        ‖A − full(tt_svd(A, eps))‖_F ≤ eps · ‖A‖_F.

    The default eps = 1e-12 is a numerically exact decomposition in float64 that still drops ranks made of
    round-off; for float32 data use eps ≳ 1e-6.  ``max_rank`` (an int for every bond, or a list of d−1 ints)
    caps the ranks as well; a cap that binds cuts deeper than δ and the eps guarantee no longer holds.
    Cores 0 … d−2 come out left-orthogonal.  Rank r_{k+1} never exceeds min(r_k·n_k, n_{k+1}⋯n_{d-1}).
    """
    A = np.asarray(A)
    if A.ndim == 0 or A.size == 0:
        raise ValueError(f"tt_svd needs an array with at least one mode and one entry, got shape {A.shape}")
    if np.issubdtype(A.dtype, np.integer) or A.dtype == bool:
        A = A.astype(np.float64)  # (n_0, …, n_{d-1})
    if not np.issubdtype(A.dtype, np.floating):
        raise TypeError(f"tt_svd needs a real array, got dtype {A.dtype}")
    if not np.all(np.isfinite(A)):
        raise ValueError(f"tt_svd: the array of shape {A.shape} contains NaN or inf")
    _check_eps(eps)
    n, d = A.shape, A.ndim
    caps = _rank_caps(max_rank, d)
    if d == 1:
        return [A.reshape(1, n[0], 1).copy()]  # (1, n_0, 1)
    delta = eps * np.linalg.norm(A) / math.sqrt(d - 1)
    cores = []
    C = A.reshape(1, -1)  # (r_0, n_0⋯n_{d-1})
    for k in range(d - 1):
        r_k = C.shape[0]
        U, s, Vt = _truncated_svd(C.reshape(r_k * n[k], -1), delta, caps[k])  # (r_k·n_k, r_{k+1}), …
        cores.append(U.reshape(r_k, n[k], -1))  # (r_k, n_k, r_{k+1})
        C = s[:, None] * Vt  # (r_{k+1}, n_{k+1}⋯n_{d-1})
    cores.append(C.reshape(C.shape[0], n[d - 1], 1))  # (r_{d-1}, n_{d-1}, 1)
    return cores


# ---------------------------------------------------------------------------------------------------------
# Orthogonalization and rounding
# ---------------------------------------------------------------------------------------------------------

def left_orthogonalize(cores):
    """QR sweep left → right: cores 0 … d−2 become left-orthogonal, core d−1 carries the norm.

    Each step writes core k's unfolding (r_k·n_k) × r_{k+1} as QR, keeps Q as core k and pushes R into
    core k+1.  The tensor is unchanged; a rank can only shrink (to r_k·n_k when that is smaller).
    """
    cores = validate_cores(cores)
    out = []
    G = cores[0]  # (1, n_0, r_1)
    for k in range(len(cores) - 1):
        r_k, n_k, _ = G.shape
        Q, R = np.linalg.qr(G.reshape(r_k * n_k, -1))  # Q (r_k·n_k, q), R (q, r_{k+1})
        out.append(Q.reshape(r_k, n_k, -1))  # (r_k, n_k, q)
        G = np.tensordot(R, cores[k + 1], axes=(1, 0))  # (q, n_{k+1}, r_{k+2})
    out.append(G)
    return out


def right_orthogonalize(cores):
    """QR sweep right → left: cores 1 … d−1 become right-orthogonal, core 0 carries the norm.

    Each step writes core k's unfolding r_k × (n_k·r_{k+1}) as RᵀQᵀ (a QR of its transpose), keeps Qᵀ as core k
    and pushes Rᵀ into core k−1.  The tensor is unchanged; afterwards ‖A‖_F = ‖G_0‖_F.
    """
    cores = validate_cores(cores)
    out = []
    G = cores[-1]  # (r_{d-1}, n_{d-1}, 1)
    for k in range(len(cores) - 1, 0, -1):
        _, n_k, r_next = G.shape
        Q, R = np.linalg.qr(G.reshape(G.shape[0], -1).T)  # Q (n_k·r_{k+1}, q), R (q, r_k)
        out.append(Q.T.reshape(-1, n_k, r_next))  # (q, n_k, r_{k+1})
        G = np.tensordot(cores[k - 1], R.T, axes=(2, 0))  # (r_{k-1}, n_{k-1}, q)
    out.append(G)
    return out[::-1]


def tt_round(cores, eps=1e-12, max_rank=None):
    """Recompress a TT tensor to relative accuracy ``eps``: ‖A − full(tt_round(A))‖_F ≤ eps·‖A‖_F.

    Right-orthogonalize (so ‖A‖_F = ‖G_0‖_F), then sweep left → right: the unfolding (r_k·n_k) × r_{k+1} of
    the current core is cut by a truncated SVD at δ = eps·‖A‖_F/√(d−1) (as in ``tt_svd``), U becomes core k
    and S Vᵀ is pushed into core k+1.  Because everything left of the cut is left-orthogonal and everything right of
    it right-orthogonal, each cut costs exactly its discarded singular values.  Ranks never increase.
    ``max_rank`` (int or list of d−1 ints) caps the ranks too; a binding cap voids the eps guarantee.
    Cost O(d·n·r³), the dense tensor is never formed.
    """
    cores = validate_cores(cores)
    _check_eps(eps)
    d = len(cores)
    caps = _rank_caps(max_rank, d)
    if d == 1:
        return [cores[0].copy()]
    cores = right_orthogonalize(cores)
    delta = eps * np.linalg.norm(cores[0]) / math.sqrt(d - 1)
    out = []
    G = cores[0]  # (1, n_0, r_1)
    for k in range(d - 1):
        r_k, n_k, _ = G.shape
        U, s, Vt = _truncated_svd(G.reshape(r_k * n_k, -1), delta, caps[k])  # (r_k·n_k, r'), (r',), (r', r_{k+1})
        out.append(U.reshape(r_k, n_k, -1))  # (r_k, n_k, r')
        G = np.tensordot(s[:, None] * Vt, cores[k + 1], axes=(1, 0))  # (r', n_{k+1}, r_{k+2})
    out.append(G)
    return out


# ---------------------------------------------------------------------------------------------------------
# Arithmetic without densifying
# ---------------------------------------------------------------------------------------------------------

def add(a, b):
    """A + B as block cores; ranks add (r_k^A + r_k^B), so round afterwards.

    First core [G_0^A  G_0^B] (side by side), last core [G^A; G^B] (stacked), middle cores block-diagonal
    diag(G_k^A, G_k^B).  For d = 1 the single cores simply add.
    """
    a, b = validate_cores(a), validate_cores(b)
    _check_same_shape(a, b, "add")
    if len(a) == 1:
        return [a[0] + b[0]]  # (1, n_0, 1)
    out = [np.concatenate([a[0], b[0]], axis=2)]  # (1, n_0, ra_1 + rb_1)
    for A_k, B_k in zip(a[1:-1], b[1:-1]):
        (ra, n_k, ra_next), (rb, _, rb_next) = A_k.shape, B_k.shape
        dtype = np.result_type(A_k, B_k)
        top = np.concatenate([A_k, np.zeros((ra, n_k, rb_next), dtype)], axis=2)  # (ra_k, n_k, ra_k+1 + rb_k+1)
        bottom = np.concatenate([np.zeros((rb, n_k, ra_next), dtype), B_k], axis=2)  # (rb_k, n_k, ra_k+1 + rb_k+1)
        out.append(np.concatenate([top, bottom], axis=0))  # (ra_k + rb_k, n_k, ra_k+1 + rb_k+1)
    out.append(np.concatenate([a[-1], b[-1]], axis=0))  # (ra_{d-1} + rb_{d-1}, n_{d-1}, 1)
    return out


def scale(a, alpha):
    """α·A: multiply the first core by the scalar α (ranks unchanged)."""
    a = validate_cores(a)
    if not isinstance(alpha, numbers.Real) or isinstance(alpha, bool):
        raise TypeError(f"scale: alpha must be a real number, got {type(alpha).__name__}")
    if not math.isfinite(alpha):
        raise ValueError(f"scale: alpha must be finite, got {alpha}")
    return [alpha * a[0]] + a[1:]  # (1, n_0, r_1), …


def hadamard(a, b):
    """The elementwise product A ⊙ B: Kronecker cores C_k[(α,β), i, (α',β')] = A_k[α,i,α']·B_k[β,i,β'].

    Ranks multiply (r_k^A · r_k^B), so round afterwards.
    """
    a, b = validate_cores(a), validate_cores(b)
    _check_same_shape(a, b, "hadamard")
    out = []
    for A_k, B_k in zip(a, b):
        (ra, n_k, ra_next), (rb, _, rb_next) = A_k.shape, B_k.shape
        C_k = np.einsum("aix,biy->abixy", A_k, B_k)  # (ra_k, rb_k, n_k, ra_k+1, rb_k+1)
        out.append(C_k.reshape(ra * rb, n_k, ra_next * rb_next))  # (ra_k·rb_k, n_k, ra_k+1·rb_k+1)
    return out


def dot(a, b):
    """The inner product ⟨A, B⟩ = Σ_i A[i]·B[i] by one left → right sweep of small contractions.

    M_0 = [[1]];  M_{k+1}[α', β'] = Σ_{α,β,i} M_k[α, β] · A_k[α, i, α'] · B_k[β, i, β'];  ⟨A, B⟩ = M_d.
    Cost O(d·n·r³) instead of ∏ n_k.
    """
    a, b = validate_cores(a), validate_cores(b)
    _check_same_shape(a, b, "dot")
    M = np.ones((1, 1), dtype=np.result_type(a[0], b[0]))  # (ra_0, rb_0)
    for A_k, B_k in zip(a, b):
        M = np.tensordot(M, A_k, axes=(0, 0))  # (rb_k, n_k, ra_k+1)
        M = np.tensordot(M, B_k, axes=([0, 1], [0, 1]))  # (ra_k+1, rb_k+1)
    return M[0, 0]


def norm(a):
    """The Frobenius norm ‖A‖_F, computed as ‖G_0‖_F after right-orthogonalization.

    Equal to √⟨A, A⟩ in exact arithmetic, but accurate to round-off relative to ‖A‖ even when the cores
    cancel (e.g. A + (−A)), where √dot would only be accurate to √(round-off).
    """
    return np.linalg.norm(right_orthogonalize(a)[0])
