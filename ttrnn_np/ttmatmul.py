"""The product Y = X·W of a dense batch X (B, M) with a TT-matrix W (M, N), without ever forming W.

Index letters: b batch, m/n row/column modes, r ranks, α_k a rank index of bond k, k core index, d number of
cores.  M_{<k} = ∏_{l<k} m_l, M_{>k} = ∏_{l>k} m_l, and likewise N_{<k}, N_{>k}.  With i = (i_0, …, i_{d-1})
and j = (j_0, …, j_{d-1}) read in C order,

    Y[b, j] = Σ_i X[b, i] W[i, j],     W[i, j] = Σ_α ∏_k G_k[α_k, i_k, j_k, α_{k+1}]     (α_0 = α_d = 1).

**Forward.**  Two contraction orders give the same Y (PAPER.md §2); each step is one BLAS matrix product.

* left-to-right sweeps k = 0, 1, …, d−1.  Before step k the carry ("operand") is

      P_k[(m_{>k}, b, n_{<k}), (r_k, m_k)]  ·  A_k[(r_k, m_k), (n_k, r_{k+1})]  -->  (m_{>k}, b, n_{≤k}, r_{k+1})

  with A_k = G_k reshaped; then m_{k+1} moves from the front to the back with one 2-D transpose.
  FLOPs per sample: Σ_k 2 r_k r_{k+1} N_{≤k} M_{≥k}.
* right-to-left sweeps k = d−1, …, 0 with the mirror-image operand

      C_k[(n_{>k}, b, m_{<k}), (m_k, r_{k+1})]  ·  A_k[(m_k, r_{k+1}), (r_k, n_k)]  -->  (n_{>k}, b, m_{<k}, r_k, n_k)

  then n_k moves to the front.  FLOPs per sample: Σ_k 2 r_k r_{k+1} M_{≤k} N_{≥k}.

**Backward (the VJP).**  Given the cotangent Ȳ = ∂L/∂Y (B, N):

    X̄ = Ȳ Wᵀ,   where Wᵀ is the TT-matrix with cores G_k transposed to (r_k, n_k, m_k, r_{k+1});

    Ḡ_k[α_k, p, q, α_{k+1}] = Σ_{b,i,j} Ȳ[b, j] X[b, i] δ(i_k, p) δ(j_k, q) L_k[i_{<k}, j_{<k}, α_k] R_k[α_{k+1}, i_{>k}, j_{>k}]
                            = Σ_{b, i_{>k}, j_{<k}} P_k[(i_{>k}, b, j_{<k}), (α_k, p)] Q_k[(i_{>k}, b, j_{<k}), (q, α_{k+1})],

where L_k = ∏_{l<k} G_l and R_k = ∏_{l>k} G_l are the partial chains, P_k = Σ_{i_{<k}} X L_k is X carried
through the cores < k (exactly the left-to-right operand above) and Q_k = Σ_{j_{>k}} Ȳ R_kᵀ is Ȳ carried
through the cores > k of Wᵀ.  Q_k is exactly the operand of step k when Ȳ·Wᵀ is computed *right-to-left*, so one
backward sweep gives every Q_k and, at its end, X̄.  Hence after a left-to-right forward pass (which stores
P_k) the backward pass is one right-to-left sweep of Ȳ through Wᵀ plus one product Ḡ_k = P_kᵀ Q_k per core,
shape (r_k·m_k, n_k·r_{k+1}).  Mirror image: after a right-to-left forward pass (storing C_k, X through the
cores > k) the backward pass is a left-to-right sweep of Ȳ through Wᵀ whose operands D_k (Ȳ through the cores
< k) give Ḡ_k = C_kᵀ D_k, shape (m_k·r_{k+1}, r_k·n_k).  Each Ḡ_k product costs exactly forward step k, and so
does each backward sweep step: forward + backward = 3× the forward FLOPs, as for a dense layer, so the cheaper
forward order is also the cheaper backward order.  When X is not differentiated, the sweep's last product
(the one that would produce X̄) is skipped.

``matmul`` is that whole product as one autograd primitive with this VJP: at these sizes autograd's tape costs
(~25 µs per traced operation) dominate, and the traced sweeps record ~3 operations per core.  The traced sweeps
stay as the readable path (``matmul_traced``, ``matmul_left_to_right``, ``matmul_right_to_left``); autograd
differentiates them as they are, and the tests hold the primitive to them and to ``matmul_reference``, the slow,
obviously-correct X · full(W).  The primitive supports first derivatives (reverse mode) only.
"""
import functools

import autograd.numpy as np
from autograd.extend import defvjp_argnums, primitive

from . import cost
from .ttmatrix import full, row_modes, col_modes, ranks, shape, validate

__all__ = ["matmul", "matmul_traced", "matmul_left_to_right", "matmul_right_to_left", "matmul_reference",
           "cheaper_order"]


def matmul_reference(X, cores):
    """X · full(W): forms the dense matrix.  Readable and slow; the fast paths are tested against it."""
    return np.dot(X, full(cores))  # (B, N)


def _sweep_left_to_right(X, mats, m, n, r, last=True):
    """Y = X·W with core matrices A_k (r_k·m_k, n_k·r_{k+1}), k = 0 first (the module docstring's sweep).

    ``m`` are the modes X's columns are consumed in, ``n`` the modes produced.  Returns (Y, operands), where
    operands[k] is P_k (M_{>k}·B·N_{<k}, r_k·m_k).  With ``last=False`` the final product is skipped (Y is None).
    Uses only ``@`` and array methods, so it runs on plain arrays and, traced, on autograd boxes.
    """
    B = X.shape[0]
    Z = X.reshape(B, m[0], -1).transpose((2, 0, 1)).reshape(-1, m[0])  # (M_{>0}·B, r0·m0)
    operands = []
    for k, A in enumerate(mats):
        operands.append(Z)
        if k + 1 == len(mats) and not last:
            return None, operands
        Z = Z @ A  # (M_{>k}·B·N_{<k}, n_k·r_{k+1})
        if k + 1 < len(mats):
            Z = Z.reshape(m[k + 1], -1).T  # (M_{>k+1}·B·N_{≤k}·r_{k+1}, m_{k+1})
            Z = Z.reshape(-1, r[k + 1] * m[k + 1])  # (M_{>k+1}·B·N_{≤k}, r_{k+1}·m_{k+1})
    return Z.reshape(B, -1), operands  # (B, N)


def _sweep_right_to_left(X, mats, m, n, r, last=True):
    """Y = X·W with core matrices A_k (m_k·r_{k+1}, r_k·n_k), k = d−1 first (the module docstring's sweep).

    Returns (Y, operands) with operands[k] = C_k (N_{>k}·B·M_{<k}, m_k·r_{k+1}), listed in core order;
    ``last=False`` skips the final product (that of core 0) and returns Y = None.
    """
    B = X.shape[0]
    Z = X.reshape(-1, m[-1])  # (B·M_{<d-1}, m_{d-1}·r_d)
    operands = []
    for k in reversed(range(len(mats))):
        operands.insert(0, Z)
        if k == 0 and not last:
            return None, operands
        Z = Z @ mats[k]  # (N_{>k}·B·M_{<k}, r_k·n_k)
        Z = Z.reshape(-1, n[k]).T  # (n_k, N_{>k}·B·M_{<k}·r_k)
        if k > 0:
            Z = Z.reshape(-1, m[k - 1] * r[k])  # (N_{≥k}·B·M_{<k-1}, m_{k-1}·r_k)
    return Z.reshape(-1, B).T, operands  # (B, N)


def _core_matrices(cores, order):
    """The cores as the matrices A_k each sweep multiplies by (views for "ltr", small copies for "rtl")."""
    if order == "ltr":
        return [G.reshape(G.shape[0] * G.shape[1], -1) for G in cores]  # (r_k·m_k, n_k·r_{k+1})
    return [G.transpose((1, 3, 0, 2)).reshape(G.shape[1] * G.shape[3], -1) for G in cores]  # (m_k·r_{k+1}, r_k·n_k)


def matmul_left_to_right(X, cores):
    """X · W contracting core 0 first (see module docstring); autograd traces it step by step."""
    return _sweep_left_to_right(X, _core_matrices(cores, "ltr"), row_modes(cores), col_modes(cores),
                                ranks(cores))[0]  # (B, N)


def matmul_right_to_left(X, cores):
    """X · W contracting core d−1 first (see module docstring); autograd traces it step by step."""
    return _sweep_right_to_left(X, _core_matrices(cores, "rtl"), row_modes(cores), col_modes(cores),
                                ranks(cores))[0]  # (B, N)


@functools.lru_cache(maxsize=1024)
def _cheaper_of(m, n, r):
    flops = cost.matmul_flops(m, n, r)
    return "ltr" if flops["ltr"] <= flops["rtl"] else "rtl"


def cheaper_order(cores):
    """"ltr" or "rtl": the order with fewer FLOPs (cost.matmul_flops); ties go to "ltr"."""
    return _cheaper_of(row_modes(cores), col_modes(cores), ranks(cores))


@primitive
def _product(X, *cores, order, saved):
    """Y = X·W as one autograd primitive.  Stores the forward operands in the dict ``saved``: a fresh dict per
    call, which autograd hands, as the same keyword argument, to the VJP maker below."""
    Y, saved["operands"] = _SWEEPS[order](X, _core_matrices(cores, order), row_modes(cores), col_modes(cores),
                                          ranks(cores))  # (B, N)
    return Y


def _product_vjp(argnums, Y, args, kwargs):
    """The VJP of ``_product`` for the differentiated arguments ``argnums`` (0 is X, k + 1 is core k)."""
    X, cores = args[0], args[1:]
    order, operands = kwargs["order"], kwargs["saved"]["operands"]
    m, n, r = row_modes(cores), col_modes(cores), ranks(cores)
    back = _sweep_right_to_left if order == "ltr" else _sweep_left_to_right
    transposed = [A.T for A in _core_matrices(cores, order)]  # Wᵀ's matrices: (n_k·r_{k+1}, r_k·m_k) or (r_k·n_k, m_k·r_{k+1})

    def vjp(Y_bar):
        X_bar, cotangents = back(Y_bar, transposed, n, m, r, last=0 in argnums)  # (B, M), Q_k or D_k
        grads = []
        for argnum in argnums:
            if argnum == 0:
                grads.append(X_bar.astype(X.dtype, copy=False))  # (B, M)
                continue
            k = argnum - 1
            G_bar = operands[k].T @ cotangents[k]  # ltr (r_k·m_k, n_k·r_{k+1}); rtl (m_k·r_{k+1}, r_k·n_k)
            if order == "ltr":
                G_bar = G_bar.reshape(r[k], m[k], n[k], r[k + 1])  # (r_k, m_k, n_k, r_{k+1})
            else:
                G_bar = G_bar.reshape(m[k], r[k + 1], r[k], n[k]).transpose((2, 0, 3, 1))  # (r_k, m_k, n_k, r_{k+1})
            grads.append(G_bar.astype(cores[k].dtype, copy=False))
        return tuple(grads)

    return vjp


_SWEEPS = {"ltr": _sweep_left_to_right, "rtl": _sweep_right_to_left}
defvjp_argnums(_product, _product_vjp)


def _checked_order(X, cores, order):
    """Validate X and the cores; resolve "auto" to the cheaper order."""
    validate(cores)
    M, N = shape(cores)
    if np.ndim(X) != 2 or np.shape(X)[1] != M:
        raise ValueError(f"X must have shape (B, {M}) to multiply a {M}×{N} TT-matrix, got {np.shape(X)}")
    if order == "auto":
        return cheaper_order(cores)
    if order not in _SWEEPS:
        raise ValueError(f"order must be 'auto', 'ltr' or 'rtl', got {order!r}")
    return order


def matmul_traced(X, cores, order="auto"):
    """Y = X · W through the readable sweeps, which autograd records operation by operation."""
    order = _checked_order(X, cores, order)
    return matmul_left_to_right(X, cores) if order == "ltr" else matmul_right_to_left(X, cores)


def matmul(X, cores, order="auto"):
    """Y = X · W for X (B, M) and a TT-matrix W (M, N), never forming W: one autograd primitive with a
    hand-derived VJP (see module docstring).

    ``order`` is "auto" (the cheaper direction by FLOP count), "ltr" or "rtl".
    """
    order = _checked_order(X, cores, order)
    return _product(X, *cores, order=order, saved={})  # (B, N)
