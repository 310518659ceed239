"""Classification losses, written with ``autograd.numpy`` so they can be differentiated.

Index letters: b example (B of them, possibly several leading axes flattened), k class (K of them).

Log-softmax, computed with the max-shift that keeps ``exp`` from overflowing:

    m_b = max_k z[b, k]
    log p[b, k] = z[b, k] - m_b - log sum_k' exp(z[b, k'] - m_b)

The result does not depend on the shift m_b (adding any constant c_b to a row of z leaves log p
unchanged), so m_b is treated as a constant: no gradient is traced through the max.

Mean negative log-likelihood of integer labels y_b in [0, K):

    L = -(1/B) sum_b log p[b, y_b],      dL/dz[b, k] = (p[b, k] - [k == y_b]) / B.
"""
import autograd.numpy as np
from autograd.tracer import getval

__all__ = ["log_softmax", "softmax_cross_entropy", "accuracy"]


def log_softmax(z, axis=-1):
    """log p = z - logsumexp(z) along ``axis``, stable for any finite z (shape unchanged)."""
    m = np.max(getval(z), axis=axis, keepdims=True)  # (..., 1, ...) constant shift
    shifted = z - m  # same shape as z, max entry 0
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))  # same shape as z


def _check_labels(logits, labels):
    """Validate ``labels`` against ``logits`` (..., K) and return them as an integer array (...)."""
    shape = np.shape(logits)
    if len(shape) < 1:
        raise ValueError(f"logits must have a class axis, got a scalar of shape {shape}")
    labels = np.asarray(labels)  # (...)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be integers, got dtype {labels.dtype}")
    if labels.shape != shape[:-1]:
        raise ValueError(f"labels shape {labels.shape} must equal logits shape without the class axis, "
                         f"{shape[:-1]} (logits shape {shape})")
    if labels.size == 0:
        raise ValueError(f"need at least one example, got logits of shape {shape}")
    K = shape[-1]
    if labels.min() < 0 or labels.max() >= K:
        raise ValueError(f"labels must lie in [0, {K}) for {K} classes, got values in "
                         f"[{labels.min()}, {labels.max()}]")
    return labels


def softmax_cross_entropy(logits, labels):
    """Mean NLL  L = -(1/B) sum_b log softmax(z_b)[y_b]  for ``logits`` (..., K) and integer ``labels`` (...)."""
    labels = _check_labels(logits, labels)
    K = np.shape(logits)[-1]
    log_p = np.reshape(log_softmax(logits), (-1, K))  # (B, K)
    y = labels.ravel()  # (B,)
    return -np.mean(log_p[np.arange(y.size), y])  # ()


def accuracy(logits, labels):
    """Fraction of examples whose arg-max logit equals the label, as a Python float."""
    labels = _check_labels(logits, labels)
    return float(np.mean(np.argmax(getval(logits), axis=-1) == labels))
