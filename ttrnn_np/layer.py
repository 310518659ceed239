"""A whole recurrent layer (T steps of an LSTM or GRU) as one autograd primitive with hand-written BPTT.

Index letters: b batch, t time (T steps), H hidden size, G gates (4 LSTM, 3 GRU), k core index.
The input projections Ax_t = x_t W_x + b (T, B, G·H) are made outside, by autograd, so that W_x and b get their
gradients from Āx = ∂L/∂Ax; this primitive owns only the recurrence through W_h (H, G·H), stored dense or as
TT cores (joint / joint + gate core: one TT-matrix; naive: G TT-matrices side by side).

LSTM forward, t = 1 … T (gate blocks as in ``cells``):
    A_t = Ax_t + h_{t-1} W_h,   [i | f | g | o] = [σ | σ | tanh | σ](A_t)
    c_t = f ⊙ c_{t-1} + i ⊙ g,   h_t = o ⊙ tanh(c_t)
GRU forward:
    Ah_t = h_{t-1} W_h,   r = σ(Ax_r + Ah_r),  z = σ(Ax_z + Ah_z),  n = tanh(Ax_n + r ⊙ Ah_n)
    h_t = n + z ⊙ (h_{t-1} − n)
σ(x) = ½ tanh(x/2) + ½, so one tanh pass makes all the gates.  Stored for BPTT: the gate activations (T, B, G·H),
the sequence h_1 … h_T (the output), and c_1 … c_T (LSTM) or Ah_n (GRU), each (T, B, H).

BPTT.  H̄_t = ∂L/∂h_t is the direct cotangent of the output at step t; the carries ĥ, ĉ hold what flows back from
step t+1 (ĥ = 0, ĉ = ∂L/∂c_T at t = T).  With h̄ = H̄_t + ĥ and τ = tanh(c_t), for t = T … 1:
  LSTM:  c̄ = ĉ + h̄ ⊙ o ⊙ (1 − τ²)
         Ā_t = [c̄ g i(1−i) | c̄ c_{t-1} f(1−f) | c̄ i (1−g²) | h̄ τ o(1−o)]          (B, 4H)
         Āx_t = Āh_t = Ā_t,   ĉ ← c̄ ⊙ f,   ĥ ← Ā_t W_hᵀ
  GRU:   n̄ = h̄ (1−z)(1−n²),   z̄ = h̄ (h_{t-1} − n) z(1−z),   r̄ = n̄ Ah_n r(1−r)
         Āx_t = [r̄ | z̄ | n̄],   Āh_t = [r̄ | z̄ | n̄ ⊙ r]                                 (B, 3H)
         ĥ ← h̄ ⊙ z + Āh_t W_hᵀ
At the end ∂L/∂h_0 = ĥ and ∂L/∂c_0 = ĉ.  The recurrent weight gradient is W̄_h = Σ_t h_{t-1}ᵀ Āh_t:

  dense: one product over all T·B rows at the end, h_0ᵀ Āh_1 + [h_1; …; h_{T-1}]ᵀ [Āh_2; …; Āh_T] (two GEMMs
         on views of the stored arrays, no copies);
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
import numpy as np
from autograd import make_vjp
from autograd.extend import defvjp_argnums, primitive

from .ttmatmul import matmul

__all__ = ["run"]


def _lstm_scales(H, dtype):
    """(s, s0) with σ(x) = s tanh(s x) + s0 on the σ blocks i, f, o (s = s0 = ½), tanh = 1·tanh(1·x) + 0 on g."""
    s = np.repeat([0.5, 0.5, 1.0, 0.5], H).astype(dtype)  # (4H,)
    return s, np.repeat([0.5, 0.5, 0.0, 0.5], H).astype(dtype)  # (4H,), (4H,)


def _sigmoid_(A):
    """A ← σ(A) in place."""
    A *= 0.5
    np.tanh(A, out=A)
    A *= 0.5
    A += 0.5


def _step_vjp(h_prev, A_bar, cores):
    """(Ā Wᵀ (B, H), core gradients of Σ Ā ⊙ (h_{t-1}·W)) from one VJP of ``matmul``: its backward sweep of Ā
    through Wᵀ yields both (it recomputes the step's forward carries, B rows, instead of storing them)."""
    vjp, _ = make_vjp(lambda X, Gs: matmul(X, Gs), argnum=(0, 1))(h_prev, cores)
    h_hat, G_bars = vjp(A_bar)  # (B, H), [(r_k, m_k, n_k, r_{k+1})]
    return h_hat, list(G_bars)


class _Recurrent:
    """The products with W_h in one layout: h W_h, and per backward step Ā W_hᵀ with the step's TT core gradients."""

    def __init__(self, layout, weights, gates):
        self.layout = layout
        if layout == "dense":
            (self.W,) = weights  # (H, G·H)
            self.Wt = np.ascontiguousarray(self.W.T)  # (G·H, H)
        elif layout == "naive":
            d = len(weights) // gates
            self.W = [list(weights[g * d:(g + 1) * d]) for g in range(gates)]  # G × d cores
        else:
            self.W = list(weights)

    def forward(self, h, out):
        """out = h W_h: (B, H) → (B, G·H)."""
        if self.layout == "dense":
            np.matmul(h, self.W, out=out)  # (B, G·H)
        elif self.layout == "naive":
            H = h.shape[1]
            for g, cores in enumerate(self.W):
                out[:, g * H:(g + 1) * H] = matmul(h, cores)  # (B, H)
        else:
            out[...] = matmul(h, self.W)  # (B, G·H)

    def backward(self, h_prev, A_bar):
        """(Ā W_hᵀ (B, H), this step's h_{t-1}ᵀ Ā as a flat list of core gradients; None for dense)."""
        if self.layout == "dense":
            return np.matmul(A_bar, self.Wt), None  # (B, H)
        if self.layout == "naive":
            H = h_prev.shape[1]
            parts = [_step_vjp(h_prev, A_bar[:, g * H:(g + 1) * H], cores) for g, cores in enumerate(self.W)]
            return sum(h_hat for h_hat, _ in parts), [G_bar for _, G_bars in parts for G_bar in G_bars]  # (B, H)
        return _step_vjp(h_prev, A_bar, self.W)


@primitive
def _layer(Ax, h0, c0, *weights, kind, layout, saved):
    """(h_1 … h_T (T, B, H), c_T (B, H)) for the LSTM, h_1 … h_T for the GRU; fills ``saved`` for the VJP."""
    T, B, GH = Ax.shape
    H = h0.shape[1]
    dtype = np.result_type(Ax, h0, *weights)
    W = _Recurrent(layout, weights, GH // H)
    gates = np.empty((T, B, GH), dtype=dtype)  # activations [i|f|g|o] or [r|z|n] per step
    hs = np.empty((T, B, H), dtype=dtype)  # h_1 … h_T
    extra = np.empty((T, B, H), dtype=dtype)  # c_1 … c_T (LSTM) or Ah_n (GRU)
    s, s0 = _lstm_scales(H, dtype)
    h, c = h0, c0
    for t in range(T):
        A = gates[t]  # (B, G·H), a view filled in place
        W.forward(h, out=A)  # h_{t-1} W_h
        if kind == "lstm":
            A += Ax[t]
            A *= s
            np.tanh(A, out=A)
            A *= s
            A += s0  # [i | f | g | o]
            i, f, g, o = (A[:, k * H:(k + 1) * H] for k in range(4))  # (B, H) views
            c = np.multiply(f, c, out=extra[t])  # (B, H)
            c += i * g
            np.multiply(o, np.tanh(c), out=hs[t])  # (B, H)
        else:
            extra[t] = A[:, 2 * H:]  # Ah_n (B, H)
            A[:, :2 * H] += Ax[t, :, :2 * H]
            _sigmoid_(A[:, :2 * H])  # [r | z]
            r, z, n = (A[:, k * H:(k + 1) * H] for k in range(3))  # (B, H) views
            np.multiply(r, extra[t], out=n)
            n += Ax[t, :, 2 * H:]
            np.tanh(n, out=n)
            np.subtract(h, n, out=hs[t])
            hs[t] *= z
            hs[t] += n  # h_t = n + z (h_{t-1} − n)
        h = hs[t]
    saved.update(gates=gates, hs=hs, extra=extra, W=W)
    return (hs, c) if kind == "lstm" else hs


def _layer_vjp(argnums, ans, args, kwargs):
    """BPTT (module docstring) for the differentiated arguments: 0 Ax, 1 h_0, 2 c_0, 3 + k weight k."""
    h0, c0 = args[1:3]
    kind, saved = kwargs["kind"], kwargs["saved"]
    gates, hs, extra, W = saved["gates"], saved["hs"], saved["extra"], saved["W"]
    T, B, GH = gates.shape
    H = hs.shape[2]

    def vjp(g_out):
        H_bar, c_hat = g_out if kind == "lstm" else (g_out, None)  # (T, B, H), (B, H)
        Ax_bar = np.empty_like(gates)  # (T, B, G·H)
        Ah_bar = Ax_bar if kind == "lstm" else np.empty_like(gates)  # (T, B, G·H)
        h_hat = np.zeros((B, H), dtype=gates.dtype)  # (B, H)
        W_bar = None
        for t in reversed(range(T)):
            h_prev = hs[t - 1] if t else h0  # (B, H)
            h_bar = H_bar[t] + h_hat  # (B, H)
            A_bar = Ax_bar[t]  # (B, G·H), a view filled in place
            if kind == "lstm":
                i, f, g, o = (gates[t, :, k * H:(k + 1) * H] for k in range(4))  # (B, H) views
                c_prev = extra[t - 1] if t else c0  # (B, H)
                tau = np.tanh(extra[t])  # (B, H)
                c_bar = c_hat + h_bar * o * (1 - tau * tau)  # (B, H)
                A_bar[:, :H] = c_bar * g * i * (1 - i)
                A_bar[:, H:2 * H] = c_bar * c_prev * f * (1 - f)
                A_bar[:, 2 * H:3 * H] = c_bar * i * (1 - g * g)
                A_bar[:, 3 * H:] = h_bar * tau * o * (1 - o)
                c_hat = c_bar * f  # (B, H)
                h_hat, step_bars = W.backward(h_prev, A_bar)  # (B, H), core gradients or None
            else:
                r, z, n = (gates[t, :, k * H:(k + 1) * H] for k in range(3))  # (B, H) views
                n_bar = h_bar * (1 - z) * (1 - n * n)  # (B, H)
                A_bar[:, :H] = n_bar * extra[t] * r * (1 - r)
                A_bar[:, H:2 * H] = h_bar * (h_prev - n) * z * (1 - z)
                A_bar[:, 2 * H:] = n_bar
                Ah_bar[t] = A_bar
                Ah_bar[t, :, 2 * H:] *= r
                h_hat, step_bars = W.backward(h_prev, Ah_bar[t])  # (B, H), core gradients or None
                h_hat = h_hat + h_bar * z  # (B, H)
            if step_bars is not None:
                W_bar = step_bars if W_bar is None else [G + G_t for G, G_t in zip(W_bar, step_bars)]  # TT cores
        if W.layout == "dense":  # W̄_h = h_0ᵀ Āh_1 + [h_1; …; h_{T-1}]ᵀ [Āh_2; …; Āh_T], two GEMMs, no copies
            W_bar = [np.matmul(h0.T, Ah_bar[0]) + np.matmul(hs[:-1].reshape((T - 1) * B, H).T,
                                                            Ah_bar[1:].reshape((T - 1) * B, GH))]  # (H, G·H)
        grads = {0: Ax_bar, 1: h_hat, 2: c_hat, **dict(enumerate(W_bar, start=3))}
        return tuple(grads[k] for k in argnums)

    return vjp


defvjp_argnums(_layer, _layer_vjp)


def run(cell, Ax, W_h, state):
    """One layer over the precomputed Ax (T, B, G·H) from ``state`` ((h_0, c_0) or (h_0,), each (B, H)).

    ``cell`` is a ``cells.CellConfig`` (its kind and layout are read); W_h is the cell's recurrent weight in that
    layout.  Returns (h_1 … h_T (T, B, H), final state (h_T, c_T) or (h_T,)); differentiable in Ax, W_h and
    the state.
    """
    G, H = cell.num_gates, cell.hidden_size
    if np.ndim(Ax) != 3 or np.shape(Ax)[2] != G * H or 0 in np.shape(Ax)[:2]:
        raise ValueError(f"Ax must have shape (T, B, {G * H}) with T, B ≥ 1, got {np.shape(Ax)}")
    B = np.shape(Ax)[1]
    if len(state) != (2 if cell.kind == "lstm" else 1) or any(np.shape(s) != (B, H) for s in state):
        raise ValueError(f"state must be {'(h_0, c_0)' if cell.kind == 'lstm' else '(h_0,)'} with each of shape "
                         f"({B}, {H}), got shapes {[np.shape(s) for s in state]}")
    if cell.layout == "dense":
        weights = [W_h]
    elif cell.layout == "naive":
        weights = [core for cores in W_h for core in cores]
    else:
        weights = list(W_h)
    if cell.layout == "dense" and np.shape(W_h) != (H, G * H):
        raise ValueError(f"dense W_h must have shape ({H}, {G * H}), got {np.shape(W_h)}")
    if cell.layout != "dense" and any(np.ndim(core) != 4 for core in weights):
        raise ValueError(f"W_h of the {cell.layout!r} layout must be TT cores (4-D arrays), got arrays of "
                         f"{[np.ndim(core) for core in weights]} dimensions")
    layout = "joint" if cell.layout == "joint_gate_core" else cell.layout
    c0 = state[1] if cell.kind == "lstm" else None
    out = _layer(Ax, state[0], c0, *weights, kind=cell.kind, layout=layout, saved={})
    if cell.kind == "lstm":
        hs, c = out  # (T, B, H), (B, H)
        return hs, (hs[-1], c)
    return out, (out[-1],)
