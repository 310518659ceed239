"""Compressing a trained model into the joint TT layout by TT-SVD, and the spectra that say how well it can work.

Index letters: I input size, H hidden size, G gates, d cores, R rank, m/n row/column modes, k bond (1 … d−1),
α a singular value's index, ℓ layer.

A trained cell in any layout has the stacked dense matrices W_x (I, G·H) and W_h (H, G·H) (``cells.dense_weights``).
The joint layout with d cores stores them as TT-matrices with modes a(I) → a(G·H) and a(H) → a(G·H) (docs/method.md
§5), so compressing a cell is one TT-SVD per matrix with exactly those modes (``ttmatrix.from_dense``,
docs/method.md §2, §3):

    eps given:   ranks as small as the bound ‖W − W_TT‖_F ≤ eps ‖W‖_F allows (capped at R if R is given too);
    R only:      every bond truncated to at most R singular values; then, with σ_{k,α} the singular values of
                 the k-th unfolding of W (``unfolding_spectra``),  ‖W − W_TT‖_F² ≤ Σ_k Σ_{α>R} σ_{k,α}²,
                 with equality for d = 2 (one bond: the truncated SVD, the best rank-R approximation).

The k-th unfolding is the matrix TT-SVD cuts at bond k: W reshaped to (m_0, …, m_{d-1}, n_0, …, n_{d-1}), the
modes interleaved to (m_0, n_0, m_1, n_1, …) and read as (∏_{l<k} m_l n_l, ∏_{l≥k} m_l n_l).  Its rank bounds
the TT rank r_k any exact TT-matrix of W needs, so a spectrum that decays fast means W compresses well.

The compressed cell keeps the bias; the head is kept as it is (a dense head stays dense; a TT head keeps the d
and R it had, now written into its config).  The cores keep the ranks TT-SVD chose: at most R on every bond,
fewer where a bond cannot use R (``shapes.effective_ranks``) or where eps allows fewer.  The joint config says R
(with eps alone: the largest rank kept), so ``sizes.model_sizes`` of it counts R on every bond, an upper bound;
the stored count is that of the arrays (``pytree.num_params``, the report's "params").  For a trained matrix, R
below every bond's useful rank and no eps, the two agree and the parameters have exactly the shapes of a joint
model built by ``rnn.init_model``.
"""
import dataclasses
import math
import numbers

import numpy as np

from . import cells, pytree, ttmatrix
from .rnn import ModelConfig

__all__ = ["unfolding_spectra", "compress_cell", "compress_model"]


def unfolding_spectra(W, row_modes, col_modes):
    """The singular values (descending) of the d − 1 unfoldings of the matrix W (M, N) seen as a TT-matrix with
    these modes: entry k − 1 belongs to bond k (module docstring)."""
    W = np.asarray(W, dtype=np.float64)
    m, n = tuple(row_modes), tuple(col_modes)
    if W.shape != (math.prod(m), math.prod(n)) or len(m) != len(n):
        raise ValueError(f"a matrix of shape {W.shape} does not match row modes {m} and column modes {n} "
                         f"(need as many row as column modes, with products {math.prod(m)}×{math.prod(n)})")
    d = len(m)
    A = W.reshape(m + n).transpose([axis for k in range(d) for axis in (k, d + k)])  # (m0, n0, m1, n1, …)
    sizes = [m[k] * n[k] for k in range(d)]
    return [np.linalg.svd(A.reshape(math.prod(sizes[:k]), -1), compute_uv=False)  # (min(rows, cols),)
            for k in range(1, d)]


def _check_target(n_cores, rank, eps):
    cells.check_positive_int("n_cores", n_cores)
    if rank is None and eps is None:
        raise ValueError("give the rank R, the relative error eps, or both (eps with R as a cap)")
    if rank is not None:
        cells.check_positive_int("rank", rank)
    if eps is not None and not (isinstance(eps, numbers.Real) and 0 <= eps < 1):
        raise ValueError(f"eps must be a number in [0, 1), got {eps!r}")


def _tt_svd_layer(params, joint, rank, eps, ell):
    """TT-SVD of one layer's W_x and W_h with ``joint``'s modes: ({name: cores}, [report rows])."""
    W = dict(zip(("W_x", "W_h"), cells.dense_weights(params)))  # (I, G·H), (H, G·H)
    cores, report = {}, []
    for name, ((row_modes, col_modes),) in joint.weight_shapes.items():
        dense = np.asarray(W[name], dtype=np.float64)  # (M, G·H)
        tt = ttmatrix.from_dense(dense, row_modes, col_modes, eps=1e-12 if eps is None else eps, max_rank=rank)
        error = np.linalg.norm(dense - ttmatrix.full(tt)) / max(np.linalg.norm(dense), np.finfo(float).tiny)
        cores[name] = tt
        report.append({"layer": ell, "matrix": name, "row_modes": list(row_modes), "col_modes": list(col_modes),
                       "tt_ranks": list(ttmatrix.ranks(tt)), "rel_error": float(error),
                       "params": pytree.num_params(tt), "params_dense": dense.size})
    return cores, report


def compress_cell(cell, params, n_cores, rank=None, eps=None):
    """A trained cell (any layout) as a joint TT cell with ``n_cores`` cores: (joint CellConfig, its params,
    report) with one report row per matrix {"layer", "matrix", "row_modes", "col_modes", "tt_ranks" (kept by
    TT-SVD), "rel_error" ‖W − W_TT‖_F / ‖W‖_F, "params" (of the TT-matrix), "params_dense"}."""
    joint, new, report = compress_model(ModelConfig(cell, head=None), {"layers": [params]}, n_cores, rank, eps)
    return joint.cell, new["layers"][0], report


def compress_model(model, params, n_cores, rank=None, eps=None):
    """A trained model's cells turned into the joint layout (module docstring): (joint ModelConfig, params, report).

    ``rank`` R caps every bond; ``eps`` asks for ‖W − W_TT‖_F ≤ eps ‖W‖_F per matrix; at least one is needed.
    The biases are copied, the head is kept; the weights keep the dtype of the given parameters.
    """
    _check_target(n_cores, rank, eps)
    if len(params["layers"]) != model.num_layers:
        raise ValueError(f"params hold {len(params['layers'])} layers, the model has {model.num_layers}")
    head = model.head
    if head is not None and head.layout == "tt":  # a TT head took the old cell's d and R unless it named its own
        head = dataclasses.replace(head, n_cores=head.n_cores or model.cell.n_cores, rank=head.rank or model.cell.rank)
    shape = dict(layout="joint", n_cores=n_cores, in_modes=None, hidden_modes=None, out_modes=None)
    joint = ModelConfig(dataclasses.replace(model.cell, **shape, rank=rank or 1), model.num_layers, head)
    layers = [_tt_svd_layer(p, cell, rank, eps, ell)
              for ell, (p, cell) in enumerate(zip(params["layers"], joint.layers))]
    if rank is None:  # the largest rank TT-SVD kept, for every bond
        R = max(max(row["tt_ranks"]) for _, rows in layers for row in rows)
        joint = dataclasses.replace(joint, cell=dataclasses.replace(joint.cell, rank=R))
    new = {"layers": [{**{name: [[G.astype(np.result_type(old["b"])) for G in tt]]  # one block per weight
                          for name, tt in cores.items()}, "b": np.array(old["b"])}
                       for (cores, _), old in zip(layers, params["layers"])]}
    if "head" in params:
        new["head"] = params["head"]
    return joint, new, [row for _, rows in layers for row in rows]
