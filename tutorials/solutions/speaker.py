"""Tutorial 06: the equal error rate from scores, the error rates at a threshold, and the GE2E similarity matrix."""
import numpy as np


def eer(scores, labels):
    """The equal error rate: sweep the threshold down through the sorted scores until FNR ≤ FPR, interpolate."""
    scores, labels = np.asarray(scores, float), np.asarray(labels).astype(bool)  # (P,), (P,)
    order = np.argsort(-scores, kind="stable")  # (P,)
    is_target = labels[order]  # (P,)
    fpr = np.concatenate([[0.0], np.cumsum(~is_target) / (~labels).sum()])  # (P + 1,) accept the top t
    fnr = np.concatenate([[1.0], 1 - np.cumsum(is_target) / labels.sum()])  # (P + 1,)
    t = int(np.argmax(fnr <= fpr))  # the first cut where the curves have crossed
    gap_before, gap_after = fnr[t - 1] - fpr[t - 1], fnr[t] - fpr[t]  # > 0, ≤ 0
    alpha = gap_before / (gap_before - gap_after)
    return float(fpr[t - 1] + alpha * (fpr[t] - fpr[t - 1]))


def error_rates(scores, labels, theta):
    """(FAR, FRR) at θ: accepted non-targets / non-targets and rejected targets / targets, accepting s ≥ θ."""
    accept, target = np.asarray(scores) >= theta, np.asarray(labels).astype(bool)  # (P,), (P,)
    return float((accept & ~target).sum() / (~target).sum()), float((~accept & target).sum() / target.sum())


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def ge2e_similarity(E, w, b):
    """S[j, i, k] = w·cos(e_ji, c_k) + b, with the centroid of j without utterance i when k = j.  (N, M, N)."""
    N, M, _ = E.shape
    total = E.sum(axis=1)  # (N, D)
    e = _unit(E)  # (N, M, D)
    S = np.einsum("jid,kd->jik", e, _unit(total / M))  # (N, M, N) cosines with the inclusive centroids
    own = np.sum(e * _unit((total[:, None, :] - E) / (M - 1)), axis=-1)  # (N, M) with the exclusive ones
    S[np.arange(N), :, np.arange(N)] = own
    return w * S + b  # (N, M, N)
