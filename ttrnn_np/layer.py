"""A whole recurrent layer (T steps of an LSTM or GRU) as one autograd primitive with hand-written BPTT.

Index letters: b batch, t time (T steps), H hidden size, G gates (4 LSTM, 3 GRU), k core index.
The input projections Ax_t = x_t W_x + b (T, B, G·H) are made outside, by autograd, so that W_x and b get their
gradients from Āx = ∂L/∂Ax; this primitive owns only the recurrence through W_h (H, G·H), stored as TT-matrix
blocks side by side (``cells``: dense = one block of one core, naive = G blocks, joint = one block).

Forward, t = 1 … T, with the gate equations of ``cells`` (``lstm_forward`` / ``gru_forward``):
    LSTM:  h_t, c_t = lstm_forward(Ax_t + h_{t-1} W_h, c_{t-1})
    GRU:   h_t = gru_forward(Ax_t, h_{t-1} W_h, h_{t-1})
Stored for BPTT: the sequence h_1 … h_T (T, B, H) (the output) and, step by step as the gate functions return
them, the gate activations (B, G·H) and c_t (LSTM) or Ah_n (GRU) (B, H).

BPTT (docs/method.md §7).  H̄_t = ∂L/∂h_t is the direct cotangent of the output at step t; the carries ĥ, ĉ hold
what flows back from step t+1 (ĥ = 0, ĉ = ∂L/∂c_T at t = T).  With h̄ = H̄_t + ĥ, for t = T … 1 the step's VJP
(``cells.lstm_backward`` / ``cells.gru_backward``) gives Āx_t, Āh_t and the direct carry, and then
         ĥ ← (direct carry of h, GRU only) + Āh_t W_hᵀ        (LSTM: Āx_t = Āh_t, ĉ ← c̄ ⊙ f)
At the end ∂L/∂h_0 = ĥ and ∂L/∂c_0 = ĉ.  The recurrent weight gradient is W̄_h = Σ_t h_{t-1}ᵀ Āh_t, per block:

  one core (dense): one product over all T·B rows at the end, h_0ᵀ Āh_1 + [h_1; …; h_{T-1}]ᵀ [Āh_2; …; Āh_T] (two
         GEMMs on views of the stored arrays, no copies);
  TT:    one VJP of ``ttmatmul.matmul`` per step, for the product h_{t-1}·W_h with cotangent Āh_t.  Its backward
         sweep of Āh_t through the transposed TT-matrix (cores G_k read as (r_k, n_k, m_k, r_{k+1})) gives ĥ and
         holds exactly the carries the core gradients need, so one sweep serves both; W_h is never formed.
         It recomputes the step's forward carries (B rows) rather than storing them for all T steps.

Why not the TT core gradients once over all T·B rows at the end?  ĥ needs the sweep of Āh_t through W_hᵀ at every
step anyway; a separate pass over all rows would repeat that sweep besides recomputing the forward carries:
≈ 4 forward-sized products per step against 3 here, measured 15–25 % slower (benchmarks/README.md).

Nothing is traced inside: the loop runs on plain arrays, so autograd records one node for the layer whatever T
is, instead of ≈ 5 per step.
"""
import math

import numpy as np
from autograd import make_vjp
from autograd.extend import defvjp_argnums, primitive

from . import cells
from .ttmatmul import matmul

__all__ = ["run"]


def _step_vjp(h_prev, A_bar, cores):
    """(Ā Wᵀ (B, H), core gradients of Σ Ā ⊙ (h_{t-1}·W)) from one VJP of ``matmul``: its backward sweep of Ā
    through Wᵀ yields both (it recomputes the step's forward carries, B rows, instead of storing them)."""
    vjp, _ = make_vjp(lambda X, Gs: matmul(X, Gs), argnum=(0, 1))(h_prev, cores)
    h_hat, G_bars = vjp(A_bar)  # (B, H), [(r_k, m_k, n_k, r_{k+1})]
    return h_hat, list(G_bars)


class _Recurrent:
    """The products with W_h, block by block: h W_h, and per backward step Ā W_hᵀ with the TT blocks' core
    gradients.  A one-core block is a dense matrix (H, N_k): its gradient is made once at the end (``dense_grads``)."""

    def __init__(self, weights, block_sizes):
        self.blocks = []  # (columns, dense matrix or None, its transpose or None, cores)
        start, first = 0, 0
        for n_cores in block_sizes:
            cores = list(weights[first:first + n_cores])
            first += n_cores
            M, N = math.prod(G.shape[1] for G in cores), math.prod(G.shape[2] for G in cores)
            W = cores[0].reshape(M, N) if n_cores == 1 else None  # (H, N_k) or None
            Wt = None if W is None else np.ascontiguousarray(W.T)  # (N_k, H)
            self.blocks.append((slice(start, start + N), W, Wt, cores))
            start += N

    def forward(self, h):
        """h W_h: (B, H) → (B, G·H)."""
        Y = [np.matmul(h, W) if W is not None else matmul(h, cores) for _, W, _, cores in self.blocks]  # [(B, N_k)]
        return Y[0] if len(Y) == 1 else np.concatenate(Y, axis=1)  # (B, G·H)

    def backward(self, h_prev, A_bar):
        """(Ā W_hᵀ (B, H), this step's core gradients h_{t-1}ᵀ Ā of the TT blocks, None for one-core blocks)."""
        h_hats, G_bars = [], []
        for cols, W, Wt, cores in self.blocks:
            if W is not None:
                h_hats.append(np.matmul(A_bar[:, cols], Wt))  # (B, H)
                G_bars.append(None)
            else:
                h_hat_k, G_bars_k = _step_vjp(h_prev, np.ascontiguousarray(A_bar[:, cols]), cores)  # (B, H), cores
                h_hats.append(h_hat_k)
                G_bars.append(G_bars_k)
        return sum(h_hats[1:], h_hats[0]), G_bars  # (B, H)

    def dense_grads(self, h0, hs, Ah_bar):
        """W̄ of the one-core blocks over all T·B rows at once: h_0ᵀ Āh_1 + [h_1; …; h_{T-1}]ᵀ [Āh_2; …; Āh_T]."""
        T, B, H = hs.shape
        grads = []
        for cols, W, _, cores in self.blocks:
            if W is None:
                grads.append(None)
                continue
            N = cols.stop - cols.start
            W_bar = (np.matmul(h0.T, Ah_bar[0, :, cols])  # (H, N_k)
                     + np.matmul(hs[:-1].reshape((T - 1) * B, H).T, Ah_bar[1:, :, cols].reshape((T - 1) * B, N)))
            grads.append([W_bar.reshape(cores[0].shape)])  # [(1, H, N_k, 1)]
        return grads


@primitive
def _layer(Ax, h0, c0, *weights, kind, block_sizes, saved):
    """(h_1 … h_T (T, B, H), c_T (B, H)) for the LSTM, h_1 … h_T for the GRU; fills ``saved`` for the VJP.

    The per-step arrays the backward pass needs stay in lists, as the gate functions return them (no copies)."""
    T, B, GH = Ax.shape
    H = h0.shape[1]
    W = _Recurrent(weights, block_sizes)
    hs = np.empty((T, B, H), dtype=np.result_type(Ax, h0, *weights))  # h_1 … h_T, the output
    gates, extra = [], []  # per step: activations [i|f|g|o] or [r|z|n] (B, G·H); c_t (LSTM) or Ah_n (GRU) (B, H)
    h, c = h0, c0
    for t in range(T):
        Ah = W.forward(h)  # (B, G·H), a fresh array
        if kind == "lstm":
            Ah += Ax[t]  # A_t = Ax_t + h_{t-1} W_h
            h, c, g = cells.lstm_forward(Ah, c)  # (B, H), (B, H), (B, 4H)
            extra.append(c)
        else:
            h, g = cells.gru_forward(Ax[t], Ah, h)  # (B, H), (B, 3H)
            extra.append(Ah[:, 2 * H:])  # Ah_n (B, H)
        gates.append(g)
        hs[t] = h
    saved.update(gates=gates, hs=hs, extra=extra, W=W)
    return (hs, c) if kind == "lstm" else hs


def _layer_vjp(argnums, ans, args, kwargs):
    """BPTT (module docstring) for the differentiated arguments: 0 Ax, 1 h_0, 2 c_0, 3 + k weight k."""
    h0, c0 = args[1:3]
    kind, saved = kwargs["kind"], kwargs["saved"]
    gates, hs, extra, W = saved["gates"], saved["hs"], saved["extra"], saved["W"]
    T, B, H = hs.shape
    GH = gates[0].shape[1]

    def vjp(g_out):
        H_bar, c_hat = g_out if kind == "lstm" else (g_out, None)  # (T, B, H), (B, H)
        Ax_bar = np.empty((T, B, GH), dtype=hs.dtype)  # (T, B, G·H)
        Ah_bar = Ax_bar if kind == "lstm" else np.empty_like(Ax_bar)  # (T, B, G·H)
        h_hat = np.zeros((B, H), dtype=hs.dtype)  # (B, H)
        W_bar = [None] * len(W.blocks)  # per block: summed core gradients (TT blocks)
        for t in reversed(range(T)):
            h_prev = hs[t - 1] if t else h0  # (B, H)
            h_bar = H_bar[t] + h_hat  # (B, H)
            if kind == "lstm":
                c_prev = extra[t - 1] if t else c0  # (B, H)
                _, c_hat = cells.lstm_backward(gates[t], c_prev, extra[t], h_bar, c_hat, out=Ax_bar[t])  # (B, H)
                h_hat, step_bars = W.backward(h_prev, Ax_bar[t])  # (B, H), per block
            else:
                Ax_bar[t], Ah_bar[t], h_direct = cells.gru_backward(gates[t], extra[t], h_prev, h_bar)
                h_hat, step_bars = W.backward(h_prev, Ah_bar[t])  # (B, H), per block
                h_hat = h_hat + h_direct  # (B, H)
            for k, G_t in enumerate(step_bars):  # sum the TT blocks' core gradients over the steps
                if G_t is not None:
                    W_bar[k] = G_t if W_bar[k] is None else [a + b for a, b in zip(W_bar[k], G_t)]
        dense = W.dense_grads(h0, hs, Ah_bar)
        W_bar = [G_d if G_d is not None else G for G, G_d in zip(W_bar, dense)]
        grads = {0: Ax_bar, 1: h_hat, 2: c_hat, **dict(enumerate((G for block in W_bar for G in block), start=3))}
        return tuple(grads[k] for k in argnums)

    return vjp


defvjp_argnums(_layer, _layer_vjp)


def run(cell, Ax, W_h, state):
    """One layer over the precomputed Ax (T, B, G·H) from ``state`` ((h_0, c_0) or (h_0,), each (B, H)).

    ``cell`` is a ``cells.CellConfig`` (its kind is read); W_h is the cell's recurrent weight (TT-matrix blocks).
    Returns (h_1 … h_T (T, B, H), final state (h_T, c_T) or (h_T,)); differentiable in Ax, W_h and the state.
    """
    G, H = cell.num_gates, cell.hidden_size
    if np.ndim(Ax) != 3 or np.shape(Ax)[2] != G * H or 0 in np.shape(Ax)[:2]:
        raise ValueError(f"Ax must have shape (T, B, {G * H}) with T, B ≥ 1, got {np.shape(Ax)}")
    B = np.shape(Ax)[1]
    if len(state) != (2 if cell.kind == "lstm" else 1) or any(np.shape(s) != (B, H) for s in state):
        raise ValueError(f"state must be {'(h_0, c_0)' if cell.kind == 'lstm' else '(h_0,)'} with each of shape "
                         f"({B}, {H}), got shapes {[np.shape(s) for s in state]}")
    expected = [(math.prod(rows), math.prod(cols)) for rows, cols in cell.weight_shapes["W_h"]]
    given = [(math.prod(np.shape(G)[1] for G in block), math.prod(np.shape(G)[2] for G in block))
             if all(np.ndim(G) == 4 for G in block) else None for block in W_h]
    if given != expected:
        raise ValueError(f"W_h must be {len(expected)} TT-matrix block(s) of 4-D cores with (rows, columns) "
                         f"{expected}, got {given} (None: a block whose cores are not all 4-D)")
    c0 = state[1] if cell.kind == "lstm" else None
    out = _layer(Ax, state[0], c0, *(G for block in W_h for G in block), kind=cell.kind,
                 block_sizes=tuple(len(block) for block in W_h), saved={})
    if cell.kind == "lstm":
        hs, c = out  # (T, B, H), (B, H)
        return hs, (hs[-1], c)
    return out, (out[-1],)
