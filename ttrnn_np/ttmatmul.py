"""The product Y = X·W of a dense batch X (B, M) with a TT-matrix W (M, N), without ever forming W.

Index letters: b batch, m/n row/column modes, r ranks, α_k a rank index of bond k, k core index, d number of
cores.  M_{<k} = ∏_{l<k} m_l, M_{>k} = ∏_{l>k} m_l, and likewise N_{<k}, N_{>k}.  With i = (i_0, …, i_{d-1})
and j = (j_0, …, j_{d-1}) read in C order (mode 0 most significant),

    Y[b, j] = Σ_i X[b, i] W[i, j],     W[i, j] = Σ_α ∏_k G_k[α_k, i_k, j_k, α_{k+1}]     (α_0 = α_d = 1).

**Forward.**  The sweep works on Xᵀ (M, B), so that the batch is the last, least significant index: then every
step is one batched BLAS product and every reshape between steps is free (no data moves).  Two contraction
orders give the same Y (docs/method.md §3):

* left-to-right, k = 0, 1, …, d−1.  The carry before step k ("operand" P_k) is a stack of N_{<k} matrices,

    A_k[(n_k, r_{k+1}), (r_k, m_k)] @ P_k[n_{<k}][(r_k, m_k), (m_{>k}, b)] --> (n_{≤k}, r_{k+1}, m_{k+1}, m_{>k+1}, b)

  which read as (N_{≤k}, r_{k+1}·m_{k+1}, M_{>k+1}·B) is P_{k+1}.
  FLOPs per sample: Σ_k 2 r_k r_{k+1} N_{≤k} M_{≥k}.
* right-to-left, k = d−1, …, 0, the mirror image with a stack of M_{<k} matrices:

    A_k[(r_k, n_k), (m_k, r_{k+1})] @ C_k[m_{<k}][(m_k, r_{k+1}), (n_{>k}, b)] --> (m_{<k}, r_k, n_k, n_{>k}, b)

  read as (M_{<k-1}, m_{k-1}·r_k, N_{≥k}·B).  FLOPs per sample: Σ_k 2 r_k r_{k+1} M_{≤k} N_{≥k}.

Both end with Yᵀ (N, B).  The primitive returns a C-ordered Y: left-to-right, BLAS writes the last product straight into it; right-to-left it costs one transposed
copy.  The primitive also sweeps the batch in blocks of rows small enough for the carries to stay in cache.

**Backward (the VJP).**  Given the cotangent Ȳ = ∂L/∂Y (B, N), the input gradient is

    X̄[b, i] = Σ_j Ȳ[b, j] W[i, j],  i.e.  X̄ = Ȳ Wᵀ,  and Wᵀ is the TT-matrix with cores G_k transposed to
    (r_k, n_k, m_k, r_{k+1}) — so X̄ is again a TT product, never forming W.

W is linear in each core: with the partial chains L_k[i_{<k}, j_{<k}, α_k] = (G_0 ⋯ G_{k-1}) and
R_k[α_{k+1}, i_{>k}, j_{>k}] = (G_{k+1} ⋯ G_{d-1}) (L_0 = R_{d-1} = 1),

    ∂W[i, j] / ∂G_k[a, p, q, a'] = δ(i_k, p) δ(j_k, q) L_k[i_{<k}, j_{<k}, a] R_k[a', i_{>k}, j_{>k}],
    Ḡ_k[a, p, q, a'] = Σ_{b, i, j} Ȳ[b, j] X[b, i] ∂W[i, j] / ∂G_k[a, p, q, a'].

Sum over i_{<k} together with X and over j_{>k} together with Ȳ:

    P_k[j_{<k}][(a, p), (i_{>k}, b)]  = Σ_{i_{<k}} X[b, (i_{<k}, p, i_{>k})] L_k[i_{<k}, j_{<k}, a]   (X, cores < k)
    Q_k[j_{<k}][(q, a'), (i_{>k}, b)] = Σ_{j_{>k}} Ȳ[b, (j_{<k}, q, j_{>k})] R_k[a', i_{>k}, j_{>k}]  (Ȳ, cores > k)
    Ḡ_k[a, p, q, a'] = Σ_{j_{<k}} Σ_{(i_{>k}, b)} Q_k[j_{<k}][(q, a'), ·] P_k[j_{<k}][(a, p), ·],  i.e.
    Ā_k = Σ_{n_{<k}} Q_k P_kᵀ   (n_k·r_{k+1}, r_k·m_k), which is Ḡ_k with its axes regrouped.

P_k (N_{<k}, r_k·m_k, M_{>k}·B) is exactly the left-to-right operand of step k, stored by the forward pass.
Q_k (N_{<k}, n_k·r_{k+1}, M_{>k}·B) has the shape of step k's output, and it is exactly the operand of step k when
Ȳ·Wᵀ is computed *right-to-left* with the matrices A_kᵀ: one backward sweep gives every Q_k and, at its end, X̄.
Mirror image: after a right-to-left forward pass (storing C_k, X through the cores > k) the backward pass is a
left-to-right sweep of Ȳ through Wᵀ, whose operands D_k (M_{<k}, r_k·n_k, N_{>k}·B) carry Ȳ through the cores
< k, and Ā_k = Σ_{m_{<k}} D_k C_kᵀ (r_k·n_k, m_k·r_{k+1}).  Each Ā_k costs exactly forward step k, and so does
each backward sweep step: forward + backward = 3× the forward FLOPs, as for a dense layer, so the cheaper forward
order is also the cheaper backward order.  When X is not differentiated, the sweep's last product (the one that
would produce X̄) is skipped.

Three paths compute the same Y, and the tests hold them equal in values and gradients:

* ``matmul_reference`` — X·full(W): forms the dense matrix; slow, obviously correct.
* ``matmul_sweep`` — the sweep written core by core with ``tensordot`` on named axes (the readable path, the one
  the tutorials print step by step); autograd differentiates it operation by operation.
* ``matmul`` — the same sweep as flat batched BLAS products (``_plan``, ``_sweep`` below), wrapped as one autograd
  primitive with the VJP derived above: autograd pays a fixed cost for every traced operation, and the readable
  sweep records about four per core.  A one-core TT-matrix is a dense matrix, so its product is one GEMM.
  The primitive supports first derivatives (reverse mode) only.

The contraction order is an argument of every path: "ltr", "rtl" or "auto" (the cheaper by ``cost.matmul_flops``;
ties go to "ltr").  See docs/method.md §3 (product and FLOPs) and §7 (the VJP).
"""
import functools
import itertools
import math

import autograd.numpy as np
from autograd.builtins import SequenceBox
from autograd.extend import defvjp_argnums, primitive

from . import cost
from .ttmatrix import full, validate

CACHE_BYTES = 1 << 18  # rows are swept in blocks whose largest carry fits in this many bytes (tuned: benchmarks/)
MIN_BLOCK_ROWS = 8  # … but never fewer rows than this (thinner products lose more to call overheads)

__all__ = ["matmul_reference", "matmul_sweep", "matmul", "cheaper_order"]


def matmul_reference(X, cores):
    """X · full(W): forms the dense matrix.  Readable and slow; the fast paths are tested against it."""
    return np.dot(X, full(cores))  # (B, N)


def _plan(cores, m, n, r, order):
    """The sweep of one order: core indices in visiting order, the core matrices A_k and the stack sizes S_k."""
    if order == "ltr":
        visit = list(range(len(cores)))
        mats = [cores[k].transpose((2, 3, 0, 1)).reshape(n[k] * r[k + 1], r[k] * m[k])  # (n_k·r_{k+1}, r_k·m_k)
                for k in visit]
        stacks = [math.prod(n[:k]) for k in visit]  # N_{<k}
    else:
        visit = list(reversed(range(len(cores))))
        mats = [cores[k].transpose((0, 2, 1, 3)).reshape(r[k] * n[k], m[k] * r[k + 1])  # (r_k·n_k, m_k·r_{k+1})
                for k in visit]
        stacks = [math.prod(m[:k]) for k in visit]  # M_{<k}
    return visit, mats, stacks


def _sweep(Zt, mats, stacks, last=True, into=None):
    """Apply the core matrices in turn to Zt (M, B), a batch stored samples-last; return (Yt (N, B), operands).

    Before step s the carry is read as a stack of ``stacks[s]`` matrices (S_s, in_s, rest) — a free reshape —
    and kept as operands[s]; the step is A_s @ carry (S_s, out_s, rest), written into the flat array ``into[s]``
    when given (the primitive's preallocated memory).  ``last=False`` skips the final product and returns
    Yt = None.  Runs on plain arrays only: it is the inside of the primitive.
    """
    B = Zt.shape[1]
    operands = []
    for s, (A, S) in enumerate(zip(mats, stacks)):
        Zt = Zt.reshape(S, A.shape[1], -1)  # (S_s, in_s, rest)
        operands.append(Zt)
        if s + 1 == len(mats) and not last:
            return None, operands
        if into is None:
            Zt = np.matmul(A, Zt)  # (S_s, out_s, rest)
        else:
            Zt = np.matmul(A, Zt, out=into[s].reshape(S, A.shape[0], -1))  # (S_s, out_s, rest)
    return Zt.reshape(-1, B), operands  # (N, B)


@functools.lru_cache(maxsize=1024)
def _structure(dims):
    """(m, n, r, cheaper order) of the TT-matrix whose cores have shapes ``dims``; validated once per shape list."""
    validate([np.broadcast_to(0.0, dim) for dim in dims])
    m, n = tuple(dim[1] for dim in dims), tuple(dim[2] for dim in dims)
    r = tuple(dim[0] for dim in dims) + (dims[-1][3],)
    flops = cost.matmul_flops(m, n, r)
    return m, n, r, ("ltr" if flops["ltr"] <= flops["rtl"] else "rtl")


def _structure_of(cores):
    """The cores as a plain list, and their (m, n, r, cheaper order).  A traced list is unpacked once: every
    iteration over it would record one more tape node per core."""
    if not isinstance(cores, (list, tuple, SequenceBox)) or len(cores) == 0:
        validate(cores)
    cores = list(cores)
    return cores, _structure(tuple(np.shape(G) for G in cores))


def cheaper_order(cores):
    """"ltr" or "rtl": the order with fewer FLOPs (cost.matmul_flops); ties go to "ltr"."""
    return _structure_of(cores)[1][3]


def _finish(A, Z, left_to_right, out):
    """The last product of a sweep, A @ Z for the last operand Z, written into the C-ordered (b, N) array ``out``.

    Left-to-right, the stack index s and A's rows are the leading and trailing parts of the output index, so BLAS
    writes Z[s]ᵀ (b, in_s) @ Aᵀ (in_s, out_s) straight into columns s·out_s … (s+1)·out_s; right-to-left (one
    stack, the batch inside the columns) the (N, b) product is copied over transposed.
    """
    b = out.shape[0]
    if left_to_right:
        np.matmul(Z.transpose((0, 2, 1)), A.T, out=out.reshape(b, len(Z), -1).transpose((1, 0, 2)))  # (S, b, out_s)
    else:
        out[...] = np.matmul(A, Z).reshape(-1, b).T  # (b, N)


def _carry_sizes(M, mats):
    """Numbers per sample of the sweep's input and of every product's output: M, then × out_s / in_s per step."""
    return list(itertools.accumulate(mats, lambda size, A: size * A.shape[0] // A.shape[1], initial=M))


def _row_blocks(B, sizes, itemsize):
    """Slices of the batch rows, each block small enough that its largest carry fits in ``CACHE_BYTES``."""
    rows = min(B, max(MIN_BLOCK_ROWS, CACHE_BYTES // (max(sizes) * itemsize)))  # B ≥ 1, so rows ≥ 1
    return [slice(start, min(start + rows, B)) for start in range(0, B, rows)]


@primitive
def _product(X, *cores, order, structure, saved):
    """Y = X·W as one autograd primitive, swept block of rows by block of rows.  Keeps the core matrices and
    forward operands in the dict ``saved``: a fresh dict per call, which autograd hands, as the same keyword
    argument, to the VJP maker below.

    Every carry of every block lives in one flat array per step (a block owns rows·size consecutive numbers),
    so the call allocates d + 1 arrays whatever the number of blocks: fresh memory costs page faults."""
    saved["visit"], mats, stacks = _plan(cores, *structure, order)
    dtype = np.result_type(X, *cores)
    sizes = _carry_sizes(X.shape[1], mats)
    memory = [np.empty(X.shape[0] * size, dtype=dtype) for size in sizes[:-1]]  # (B·size_s,) per step input
    Y = np.empty((X.shape[0], sizes[-1]), dtype=dtype)  # (B, N)
    saved.update(mats=mats, stacks=stacks, sizes=sizes, blocks=_row_blocks(X.shape[0], sizes, Y.itemsize))
    saved["operands"] = []
    for rows in saved["blocks"]:
        into = [flat[rows.start * size:rows.stop * size] for flat, size in zip(memory, sizes)]  # (b·size_s,) views
        Xt = into[0].reshape(-1, rows.stop - rows.start)  # (M, b), a view of the block's memory
        Xt[...] = X[rows].T
        _, operands = _sweep(Xt, mats, stacks, last=False, into=into[1:])
        _finish(mats[-1], operands[-1], order == "ltr", out=Y[rows])
        saved["operands"].append(operands)
    return Y


def _product_vjp(argnums, Y, args, kwargs):
    """The VJP of ``_product`` for the differentiated arguments ``argnums`` (0 is X, k + 1 is core k)."""
    X, cores = args[0], args[1:]
    order, (m, n, r), saved = kwargs["order"], kwargs["structure"], kwargs["saved"]
    back_mats = [A.T for A in reversed(saved["mats"])]  # Wᵀ's matrices, in the backward sweep's order
    back_stacks, back_sizes = saved["stacks"][::-1], saved["sizes"][::-1]
    step_of = {k: s for s, k in enumerate(saved["visit"]) if k + 1 in argnums}  # differentiated core → its step

    def vjp(Y_bar):
        X_bar = np.empty(X.shape, dtype=X.dtype) if 0 in argnums else None  # (B, M)
        A_bars = {k: 0.0 for k in step_of}
        dtype, first = np.result_type(Y_bar, *back_mats), saved["blocks"][0]
        scratch = [np.empty((first.stop - first.start) * size, dtype=dtype)  # (b·size_s,), reused by every block
                   for size in back_sizes[:-1]]
        for rows, operands in zip(saved["blocks"], saved["operands"]):
            into = [flat[:(rows.stop - rows.start) * size] for flat, size in zip(scratch, back_sizes)]  # (b·size_s,)
            Yt_bar = into[0].reshape(-1, rows.stop - rows.start)  # (N, b), a view of the scratch memory
            Yt_bar[...] = Y_bar[rows].T
            _, cotangents = _sweep(Yt_bar, back_mats, back_stacks, last=False, into=into[1:])  # Q_k or D_k
            if X_bar is not None:
                _finish(back_mats[-1], cotangents[-1], order == "rtl", out=X_bar[rows])
            for k, s in step_of.items():
                Q, P = cotangents[-1 - s], operands[s]  # (S_s, out_s, rest), (S_s, in_s, rest)
                A_bars[k] = A_bars[k] + np.matmul(Q, P.transpose((0, 2, 1))).sum(axis=0)  # (out_s, in_s)
        grads = []
        for argnum in argnums:
            if argnum == 0:
                grads.append(X_bar)
                continue
            k = argnum - 1
            if order == "ltr":
                G_bar = A_bars[k].reshape(n[k], r[k + 1], r[k], m[k]).transpose((2, 3, 0, 1))  # (r_k, m_k, n_k, r')
            else:
                G_bar = A_bars[k].reshape(r[k], n[k], m[k], r[k + 1]).transpose((0, 2, 1, 3))  # (r_k, m_k, n_k, r')
            grads.append(np.ascontiguousarray(G_bar, dtype=cores[k].dtype))  # (r_k, m_k, n_k, r_{k+1})
        return tuple(grads)

    return vjp


defvjp_argnums(_product, _product_vjp)


def _checked(X, cores, order):
    """Validate X, the cores and the order; return (cores as a list, (m, n, r), order with "auto" resolved)."""
    cores, (m, n, r, cheaper) = _structure_of(cores)
    M, N = math.prod(m), math.prod(n)
    if np.ndim(X) != 2 or np.shape(X)[1] != M:
        raise ValueError(f"X must have shape (B, {M}) to multiply a {M}×{N} TT-matrix, got {np.shape(X)}")
    if np.shape(X)[0] == 0:
        raise ValueError(f"X has no rows (shape {np.shape(X)}): the batch size B must be at least 1")
    if order not in ("auto", "ltr", "rtl"):
        raise ValueError(f"order must be 'auto', 'ltr' or 'rtl', got {order!r}")
    return cores, (m, n, r), cheaper if order == "auto" else order


def matmul_sweep(X, cores, order="auto", steps=None):
    """Y = X · W core by core with ``tensordot``: the readable path, differentiated by autograd as written.

    Left to right the carry before step k is Z[b, n_{<k}, r_k, m_k, m_{>k}]; contracting (r_k, m_k) with core k
    and moving n_k next to n_{<k} gives the next carry.  Right to left is the mirror image, with the carry
    Z[b, m_{<k}, m_k, r_{k+1}, n_{>k}].  Pass a list as ``steps`` to have every step's carry shape and FLOPs
    appended to it (the tutorials print them).
    """
    cores, (m, n, r), order = _checked(X, cores, order)
    B, d = np.shape(X)[0], len(cores)
    if order == "ltr":
        Z = np.reshape(X, (B, 1, 1, m[0], -1))  # (B, N_<0 = 1, r_0 = 1, m_0, M_>0)
        for k in range(d):
            carry = np.shape(Z)
            Z = np.tensordot(Z, cores[k], axes=([2, 3], [0, 1]))  # (B, N_<k, M_>k, n_k, r_{k+1})
            Z = np.transpose(Z, (0, 1, 3, 4, 2))  # (B, N_<k, n_k, r_{k+1}, M_>k)
            m_next = m[k + 1] if k + 1 < d else 1
            Z = np.reshape(Z, (B, -1, r[k + 1], m_next, np.shape(Z)[4] // m_next))  # (B, N_≤k, r_{k+1}, m_{k+1}, M_>k+1)
            if steps is not None:
                steps.append({"k": k, "carry": carry, "flops": 2 * B * carry[1] * carry[4] * r[k] * m[k] * n[k] * r[k + 1]})
        return np.reshape(Z, (B, -1))  # (B, N)
    Z = np.reshape(X, (B, -1, m[-1], 1, 1))  # (B, M_<d-1, m_{d-1}, r_d = 1, N_>d-1 = 1)
    for k in reversed(range(d)):
        carry = np.shape(Z)
        Z = np.tensordot(Z, cores[k], axes=([2, 3], [1, 3]))  # (B, M_<k, N_>k, r_k, n_k)
        Z = np.transpose(Z, (0, 1, 3, 4, 2))  # (B, M_<k, r_k, n_k, N_>k)
        m_prev = m[k - 1] if k > 0 else 1
        Z = np.reshape(Z, (B, -1, m_prev, r[k], n[k] * carry[4]))  # (B, M_<k-1, m_{k-1}, r_k, N_≥k)
        if steps is not None:
            steps.append({"k": k, "carry": carry, "flops": 2 * B * carry[1] * carry[4] * r[k] * m[k] * n[k] * r[k + 1]})
    return np.reshape(Z, (B, -1))  # (B, N)


def matmul(X, cores, order="auto"):
    """Y = X · W for X (B, M) and a TT-matrix W (M, N), never forming W: one autograd primitive with a
    hand-derived VJP (see module docstring).  Y is C-contiguous; float32 in gives float32 out.

    ``order`` is "auto" (the cheaper direction by FLOP count), "ltr" or "rtl".  A one-core TT-matrix
    (1, M, N, 1) is a dense matrix, and its product is one GEMM (autograd differentiates ``np.dot``).

    Non-finite values are not checked here: a NaN or inf in X or a core propagates into Y exactly as in
    ``X @ full(W)`` (a check would cost a pass over the data on every step of training).  ``tt.tt_svd`` checks,
    because an SVD of a non-finite matrix fails with an obscure LinAlgError; to check your inputs, test
    ``np.isfinite(X).all()``, and training (``training.fit``) stops on a non-finite loss or gradient.
    """
    cores, structure, order = _checked(X, cores, order)
    if len(cores) == 1:
        M, N = structure[0][0], structure[1][0]
        return np.dot(X, np.reshape(cores[0], (M, N)))  # (B, N)
    return _product(X, *cores, order=order, structure=structure, saved={})  # (B, N)
