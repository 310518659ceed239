"""Diagnostics: per-time-step gradient norms of the state, and each gate's dense matrices in any layout.

Index letters: b batch, t time (T steps), I input size, H hidden size, ℓ layer (L layers), g gate.

Gradient flow through time.  For a loss L on the model output, the total derivative ∂L/∂h_t (B, H) measures
how much step t still matters; when gradients vanish (explode) through time it shrinks (grows) as t moves
away from the end.  One backward pass gives all of them: the unroll adds zero arrays ε_t to h_t and δ_t to
c_t as soon as they are made (``rnn.unroll_reference``'s ``perturb``), and at ε = δ = 0

    ∂L/∂ε_t = ∂L/∂h_t,     ∂L/∂δ_t = ∂L/∂c_t.

The norm is taken over the batch and the hidden units together, ‖∂L/∂h_t‖ = (Σ_{b,u} ∂L/∂h_t[b,u]²)^{1/2};
for a loss averaged over the batch it scales like 1/B.  The normal forward pass adds nothing.

Gate matrices.  Each gate's dense W_x^g (I, H) and W_h^g (H, H) is the column block [g·H, (g+1)·H) of the
stacked full matrices (``cells.dense_weights``), whatever the layout stores.
"""
import numpy as onp
from autograd import grad

from . import cells, rnn

__all__ = ["state_grad_norms", "gate_matrices"]


def state_grad_norms(config, params, X, loss_fn):
    """‖∂L/∂h_t‖ (and ‖∂L/∂c_t‖ for the LSTM) for L = loss_fn(rnn.forward(config, params, X)).

    Returns {"h": (L, T) array, "c": (L, T) array (LSTM only)}, row ℓ for layer ℓ, column t for step t.
    """
    B, T = onp.shape(X)[:2]
    zeros = onp.zeros((B, config.cell.hidden_size), onp.result_type(params["layers"][0]["b"]))  # (B, H)
    names = ("h", "c") if config.cell.kind == "lstm" else ("h",)
    perturb = [{name: [zeros] * T for name in names} for _ in range(config.num_layers)]
    grads = grad(lambda eps: loss_fn(rnn.forward(config, params, X, perturb=eps)))(perturb)
    return {name: onp.array([[onp.linalg.norm(g_t) for g_t in layer[name]] for layer in grads])  # (L, T)
            for name in names}


def gate_matrices(cell, params):
    """{gate name: (W_x^g (I, H), W_h^g (H, H))} as dense arrays, for one cell of any layout."""
    W_x, W_h = cells.dense_weights(params)  # (I, G·H), (H, G·H)
    H = cell.hidden_size
    return {name: (onp.asarray(W_x[:, g * H:(g + 1) * H]), onp.asarray(W_h[:, g * H:(g + 1) * H]))  # (I, H), (H, H)
            for g, name in enumerate(cell.gate_names)}
