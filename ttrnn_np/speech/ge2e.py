"""Generalized end-to-end (GE2E) softmax loss for speaker embeddings (Wan et al. 2018).

Index letters: j speaker of an utterance and k candidate speaker (N each), i utterance (M per speaker),
d embedding dimension (D).  E[j, i, :] = e_ji is the d-vector of utterance i of speaker j.

Centroids.  The inclusive centroid of speaker k and the exclusive centroid of speaker j without utterance i:

    c_k = (1/M) Σ_m e_km,        c_j^(−i) = (Σ_m e_jm − e_ji) / (M − 1).

Similarity (cosine, so the centroids' scale does not matter), with the utterance's own speaker compared to
the centroid that leaves the utterance out:

    S[j, i, k] = w · cos(e_ji, c_k) + b           for k ≠ j,
    S[j, i, j] = w · cos(e_ji, c_j^(−i)) + b.

Loss: softmax cross-entropy over the candidates k with target j, averaged over the N·M utterances,

    L = (1/NM) Σ_{j,i} ( −S[j, i, j] + log Σ_k exp S[j, i, k] ).

**w > 0.**  GE2E needs a positive scale w (a negative w would reward *dissimilarity*); the reference
leaves w unconstrained.  We clamp in the forward pass, w_eff = max(w, 1e-6), so the loss is defined for
every w and equals the reference's whenever w ≥ 1e-6.  Below the clamp the gradient with respect to w is
zero; in practice w grows from its initial value 10 during training and the clamp never binds.
Initial values w = 10, b = −5 (``init_ge2e_params``).  The paper multiplies the gradients of w and b by
0.01 (``scale_ge2e_grads``) so these two scalars move slowly compared with the network.

**b cancels in the softmax loss.**  b adds the same constant to every S[j, i, k] of a row (j, i), and
log Σ_k exp(S[j, i, k]) − S[j, i, j] does not change when every S[j, i, k] moves by the same amount, so

    ∂L/∂b = (1/NM) Σ_{j,i} ( −1 + Σ_k softmax_k(S[j, i, :]) ) = 0          exactly, for every E, w, b.

Training never moves b (it stays at −5 up to rounding); only w, the softmax's inverse temperature, learns.
b matters only in GE2E's other loss, the contrast loss 1 − σ(S[j, i, j]) + max_{k≠j} σ(S[j, i, k]), whose
sigmoids are not shift-invariant (not implemented here: the paper uses the softmax loss).  We keep b because
GE2E and the paper define the similarity with it, and ``similarity_matrix`` shows S as the loss sees it.

Everything is vectorised over speakers and utterances (``autograd.numpy``, differentiable in E, w, b).
"""
import autograd.numpy as np

W_INIT = 10.0
B_INIT = -5.0
W_MIN = 1e-6
GE2E_GRAD_SCALE = 0.01
_NORM_EPS = 1e-24


def init_ge2e_params():
    """The learnable scale and offset of the similarity: {"w": 10.0, "b": −5.0} as float64 scalars."""
    return {"w": np.array(W_INIT), "b": np.array(B_INIT)}


def _unit(x):
    """x / ‖x‖ along the last axis (ε = 1e-24 under the root keeps an exactly-zero vector finite)."""
    return x / np.sqrt(np.sum(x**2, axis=-1, keepdims=True) + _NORM_EPS)


def _check_embeddings(E):
    shape = np.shape(E)
    if len(shape) != 3 or shape[0] < 2 or shape[1] < 2:
        raise ValueError(
            f"expected embeddings E of shape (N speakers ≥ 2, M utterances ≥ 2, D), got shape {shape}"
        )
    return shape


def ge2e_similarity(E, w, b):
    """S[j, i, k] of the module docstring, shape (N, M, N)."""
    N, M, D = _check_embeddings(E)
    e = _unit(E)  # (N, M, D)
    total = np.sum(E, axis=1)  # (N, D)
    c_incl = _unit(total / M)  # (N, D)
    c_excl = _unit((total[:, None, :] - E) / (M - 1))  # (N, M, D)
    cos_incl = np.einsum("jid,kd->jik", e, c_incl)  # (N, M, N)
    cos_excl = np.sum(e * c_excl, axis=-1)  # (N, M)
    own = np.eye(N)[:, None, :]  # (N, 1, N), 1 where k = j
    cos = cos_incl * (1.0 - own) + cos_excl[:, :, None] * own  # (N, M, N)
    return np.maximum(w, W_MIN) * cos + b  # (N, M, N)


def similarity_matrix(E, w, b):
    """S reshaped for plotting: row j·M + i is utterance i of speaker j, column k a centroid.  (N·M, N)."""
    N, M, _ = _check_embeddings(E)
    return np.reshape(ge2e_similarity(E, w, b), (N * M, N))  # (N·M, N)


def ge2e_loss(E, w, b):
    """GE2E softmax loss L (a scalar) for embeddings E (N, M, D) and similarity parameters w, b."""
    S = ge2e_similarity(E, w, b)  # (N, M, N)
    N = S.shape[0]
    S_own = np.sum(S * np.eye(N)[:, None, :], axis=-1)  # (N, M)
    S_max = np.max(S, axis=-1, keepdims=True)  # (N, M, 1)
    log_sum_exp = S_max[:, :, 0] + np.log(np.sum(np.exp(S - S_max), axis=-1))  # (N, M)
    return np.mean(log_sum_exp - S_own)


def ge2e_accuracy(E, w, b):
    """Fraction of utterances whose most similar centroid is their own speaker's (not differentiable)."""
    S = ge2e_similarity(E, w, b)  # (N, M, N)
    N, M, _ = S.shape
    return float(np.mean(np.argmax(S, axis=-1) == np.arange(N)[:, None]))


def scale_ge2e_grads(grads, factor=GE2E_GRAD_SCALE):
    """A copy of a gradient dict with the entries "w" and "b" multiplied by ``factor`` (paper: 0.01).

    For a model whose parameters nest the GE2E scalars, e.g. ``params["ge2e"] = {"w": ..., "b": ...}``,
    apply it to that sub-dict: ``grads = {**grads, "ge2e": scale_ge2e_grads(grads["ge2e"])}``.
    """
    if not isinstance(grads, dict) or "w" not in grads or "b" not in grads:
        given = sorted(grads) if isinstance(grads, dict) else type(grads).__name__
        raise ValueError(f"expected a gradient dict with keys 'w' and 'b', got {given}")
    return {**grads, "w": grads["w"] * factor, "b": grads["b"] * factor}
