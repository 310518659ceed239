"""What a trained MNIST classifier predicts: class probabilities, the confusion matrix, its surest mistakes.

Index letters: b image (n of them), k class (K = 10).  The probabilities are the softmax of the head's logits,
p[b, k] = exp(z[b, k]) / Σ_k' exp(z[b, k']); the prediction is argmax_k p[b, k] and its confidence max_k p[b, k].
"""
import numpy as np

from ..data.mnist import as_sequences
from ..rnn import forward
from .mnist import build_model

__all__ = ["predict_proba", "confusion_matrix", "most_confident_mistakes"]


def predict_proba(config, params, images, batch_size=1000):
    """p (n, K) for raw images (n, 28, 28) uint8, read in ``config``'s view by the model of ``config``."""
    model, chunks = build_model(config), []
    for start in range(0, len(images), batch_size):
        X = as_sequences(images[start:start + batch_size], config.view, seed=config.perm_seed,
                         dtype=config.dtype)  # (b, T, F)
        z = np.asarray(forward(model, params, X), dtype=np.float64)  # (b, K)
        e = np.exp(z - z.max(axis=1, keepdims=True))  # (b, K)
        chunks.append(e / e.sum(axis=1, keepdims=True))  # (b, K)
    return np.concatenate(chunks) if chunks else np.zeros((0, 10))  # (n, K)


def confusion_matrix(y_true, y_pred, K=10):
    """C (K, K) with C[a, b] = how many images of class a were predicted as class b."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)  # (n,) each
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {y_true.shape} and {y_pred.shape}")
    C = np.zeros((K, K), dtype=int)  # (K, K)
    np.add.at(C, (y_true, y_pred), 1)
    return C


def most_confident_mistakes(p, labels, k):
    """Indices of the (up to) k images whose prediction argmax p is wrong, highest confidence first."""
    p, labels = np.asarray(p), np.asarray(labels)  # (n, K), (n,)
    wrong = np.nonzero(p.argmax(axis=1) != labels)[0]  # (w,)
    return wrong[np.argsort(-p[wrong].max(axis=1), kind="stable")][:k]  # (≤ k,)
