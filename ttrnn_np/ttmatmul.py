"""The product Y = X·W of a dense batch X (B, M) with a TT-matrix W (M, N), without ever forming W.

Index letters: b batch, m/n row/column modes, r ranks, α_k a rank index of bond k, k core index, d number of
cores.  M_{<k} = ∏_{l<k} m_l, M_{>k} = ∏_{l>k} m_l, and likewise N_{<k}, N_{>k}.  With i = (i_0, …, i_{d-1})
and j = (j_0, …, j_{d-1}) read in C order (mode 0 most significant),

    Y[b, j] = Σ_i X[b, i] W[i, j],     W[i, j] = Σ_α ∏_k G_k[α_k, i_k, j_k, α_{k+1}]     (α_0 = α_d = 1).

**Forward.**  The sweep works on Xᵀ (M, B), so that the batch is the last, least significant index: then every
step is one batched BLAS product and every reshape between steps is free (no data moves).  Two contraction
orders give the same Y (PAPER.md §2):

* left-to-right, k = 0, 1, …, d−1.  The carry before step k ("operand" P_k) is a stack of N_{<k} matrices,

      A_k[(n_k, r_{k+1}), (r_k, m_k)]  @  P_k[n_{<k}][(r_k, m_k), (m_{>k}, b)]  -->  (n_{≤k}, r_{k+1}, m_{k+1}, m_{>k+1}, b)

  which read as (N_{≤k}, r_{k+1}·m_{k+1}, M_{>k+1}·B) is P_{k+1}.  FLOPs per sample: Σ_k 2 r_k r_{k+1} N_{≤k} M_{≥k}.
* right-to-left, k = d−1, …, 0, the mirror image with a stack of M_{<k} matrices:

      A_k[(r_k, n_k), (m_k, r_{k+1})]  @  C_k[m_{<k}][(m_k, r_{k+1}), (n_{>k}, b)]  -->  (m_{<k}, r_k, n_k, n_{>k}, b)

  read as (M_{<k-1}, m_{k-1}·r_k, N_{≥k}·B).  FLOPs per sample: Σ_k 2 r_k r_{k+1} M_{≤k} N_{≥k}.

Both start from Xᵀ (the only copy) and end with (N, B) = Yᵀ, returned as a transposed view.

**Backward (the VJP).**  Given the cotangent Ȳ = ∂L/∂Y (B, N):

    X̄ = Ȳ Wᵀ,   where Wᵀ is the TT-matrix with cores G_k transposed to (r_k, n_k, m_k, r_{k+1});

    Ḡ_k[α_k, p, q, α_{k+1}] = Σ_{b,i,j} Ȳ[b, j] X[b, i] δ(i_k, p) δ(j_k, q) L_k[i_{<k}, j_{<k}, α_k] R_k[α_{k+1}, i_{>k}, j_{>k}]
                            = Σ_{j_{<k}, i_{>k}, b} Q_k[j_{<k}][(q, α_{k+1}), (i_{>k}, b)] P_k[j_{<k}][(α_k, p), (i_{>k}, b)],

where L_k = ∏_{l<k} G_l and R_k = ∏_{l>k} G_l are the partial chains, P_k = Σ_{i_{<k}} X L_k is X carried
through the cores < k (exactly the left-to-right operand above) and Q_k = Σ_{j_{>k}} Ȳ R_kᵀ is Ȳ carried
through the cores > k of Wᵀ.  Q_k has the shape of step k's output, (N_{<k}, n_k·r_{k+1}, M_{>k}·B), and it is
exactly the operand of step k when Ȳ·Wᵀ is computed *right-to-left* with the matrices A_kᵀ: one backward sweep
gives every Q_k and, at its end, X̄.  So after a left-to-right forward pass (which stores P_k) the backward pass
is one right-to-left sweep of Ȳ through Wᵀ plus Ā_k = Σ_{n_{<k}} Q_k P_kᵀ (n_k·r_{k+1}, r_k·m_k) per core.  Mirror
image: after a right-to-left pass (storing C_k, X through the cores > k) the backward pass is a left-to-right
sweep of Ȳ through Wᵀ whose operands D_k (Ȳ through the cores < k) give Ā_k = Σ_{m_{<k}} D_k C_kᵀ.  Each Ā_k costs
exactly forward step k, and so does each backward sweep step: forward + backward = 3× the forward FLOPs, as for
a dense layer, so the cheaper forward order is also the cheaper backward order.  When X is not differentiated,
the sweep's last product (the one that would produce X̄) is skipped.

``matmul`` is that whole product as one autograd primitive with this VJP: at these sizes autograd's tape costs
(~25 µs per traced operation) matter, and the traced sweep records ~3 operations per core.  The traced sweeps stay
as the readable path (``matmul_traced``, ``matmul_left_to_right``, ``matmul_right_to_left``); autograd
differentiates them as they are, and the tests hold the primitive to them and to ``matmul_reference``, the slow,
obviously-correct X · full(W).  The primitive supports first derivatives (reverse mode) only.
"""
import functools
import math

import autograd.numpy as np
from autograd.builtins import SequenceBox
from autograd.extend import defvjp_argnums, primitive

from . import cost
from .ttmatrix import full, validate

__all__ = ["matmul", "matmul_traced", "matmul_left_to_right", "matmul_right_to_left", "matmul_reference",
           "cheaper_order"]


def matmul_reference(X, cores):
    """X · full(W): forms the dense matrix.  Readable and slow; the fast paths are tested against it."""
    return np.dot(X, full(cores))  # (B, N)


def _plan(cores, m, n, r, order):
    """The sweep of one order: core indices in visiting order, the core matrices A_k and the stack sizes S_k."""
    if order == "ltr":
        visit = list(range(len(cores)))
        mats = [cores[k].transpose((2, 3, 0, 1)).reshape(n[k] * r[k + 1], r[k] * m[k]) for k in visit]  # (n_k·r_{k+1}, r_k·m_k)
        stacks = [math.prod(n[:k]) for k in visit]  # N_{<k}
    else:
        visit = list(reversed(range(len(cores))))
        mats = [cores[k].transpose((0, 2, 1, 3)).reshape(r[k] * n[k], m[k] * r[k + 1]) for k in visit]  # (r_k·n_k, m_k·r_{k+1})
        stacks = [math.prod(m[:k]) for k in visit]  # M_{<k}
    return visit, mats, stacks


def _sweep(Zt, mats, stacks, last=True):
    """Apply the core matrices in turn to Zt (M, B), a batch stored samples-last; return (Yt (N, B), operands).

    Before step s the carry is read as a stack of ``stacks[s]`` matrices (S_s, in_s, rest) — a free reshape —
    and kept as operands[s]; the step is A_s @ carry (S_s, out_s, rest).  ``last=False`` skips the final product
    and returns Yt = None.  Runs on plain arrays and, traced, on autograd boxes.
    """
    B = Zt.shape[1]
    operands = []
    for s, (A, S) in enumerate(zip(mats, stacks)):
        Zt = Zt.reshape(S, A.shape[1], -1)  # (S_s, in_s, rest)
        operands.append(Zt)
        if s + 1 == len(mats) and not last:
            return None, operands
        Zt = np.matmul(A, Zt)  # (S_s, out_s, rest)
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


def matmul_left_to_right(X, cores):
    """X · W contracting core 0 first (see module docstring); autograd traces it step by step."""
    cores, (m, n, r, _) = _structure_of(cores)
    _, mats, stacks = _plan(cores, m, n, r, "ltr")
    return _sweep(X.T, mats, stacks)[0].T  # (B, N)


def matmul_right_to_left(X, cores):
    """X · W contracting core d−1 first (see module docstring); autograd traces it step by step."""
    cores, (m, n, r, _) = _structure_of(cores)
    _, mats, stacks = _plan(cores, m, n, r, "rtl")
    return _sweep(X.T, mats, stacks)[0].T  # (B, N)


@primitive
def _product(X, *cores, order, structure, saved):
    """Y = X·W as one autograd primitive.  Keeps the core matrices and forward operands in the dict ``saved``:
    a fresh dict per call, which autograd hands, as the same keyword argument, to the VJP maker below."""
    saved["visit"], saved["mats"], stacks = _plan(cores, *structure, order)
    Yt, saved["operands"] = _sweep(X.T, saved["mats"], stacks)  # (N, B)
    return np.ascontiguousarray(Yt.T)  # (B, N)


def _product_vjp(argnums, Y, args, kwargs):
    """The VJP of ``_product`` for the differentiated arguments ``argnums`` (0 is X, k + 1 is core k)."""
    X, cores = args[0], args[1:]
    order, (m, n, r), saved = kwargs["order"], kwargs["structure"], kwargs["saved"]
    operands = saved["operands"]
    back_mats = [A.T for A in reversed(saved["mats"])]  # Wᵀ's matrices, last core first
    back_stacks = [len(Z) for Z in reversed(operands)]  # the forward stacks, in reverse
    step_of = {k: s for s, k in enumerate(saved["visit"])}

    def vjp(Y_bar):
        Xt_bar, cotangents = _sweep(Y_bar.T, back_mats, back_stacks, last=0 in argnums)  # (M, B), Q_k or D_k
        grads = []
        for argnum in argnums:
            if argnum == 0:
                grads.append(np.ascontiguousarray(Xt_bar.T, dtype=X.dtype))  # (B, M)
                continue
            k = argnum - 1
            s = step_of[k]
            A_bar = np.matmul(cotangents[-1 - s], operands[s].transpose((0, 2, 1))).sum(axis=0)  # (out_k, in_k)
            if order == "ltr":
                G_bar = A_bar.reshape(n[k], r[k + 1], r[k], m[k]).transpose((2, 3, 0, 1))  # (r_k, m_k, n_k, r_{k+1})
            else:
                G_bar = A_bar.reshape(r[k], n[k], m[k], r[k + 1]).transpose((0, 2, 1, 3))  # (r_k, m_k, n_k, r_{k+1})
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
    if order not in ("auto", "ltr", "rtl"):
        raise ValueError(f"order must be 'auto', 'ltr' or 'rtl', got {order!r}")
    return cores, (m, n, r), cheaper if order == "auto" else order


def matmul_traced(X, cores, order="auto"):
    """Y = X · W through the readable sweeps, which autograd records operation by operation."""
    cores, _, order = _checked(X, cores, order)
    return matmul_left_to_right(X, cores) if order == "ltr" else matmul_right_to_left(X, cores)


def matmul(X, cores, order="auto"):
    """Y = X · W for X (B, M) and a TT-matrix W (M, N), never forming W: one autograd primitive with a
    hand-derived VJP (see module docstring).  Y is C-contiguous; float32 in gives float32 out.

    ``order`` is "auto" (the cheaper direction by FLOP count), "ltr" or "rtl".
    """
    cores, structure, order = _checked(X, cores, order)
    return _product(X, *cores, order=order, structure=structure, saved={})  # (B, N)
