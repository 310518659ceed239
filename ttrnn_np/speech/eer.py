"""Equal error rate (EER) and the speaker-verification protocols that produce its trials.

Index letters: j enrolled speaker (N), v verification utterance (V), u utterance, w window, t frame,
d embedding dimension.

**EER.**  A trial is a score s with a label (target: same speaker; non-target: different speaker).
Accepting every trial with s ≥ θ gives

    FPR(θ) = #{non-target s ≥ θ} / #non-target,      FNR(θ) = #{target s < θ} / #target.

Sweeping θ down through every distinct score (starting at θ = +∞: accept nothing, FPR = 0, FNR = 1) gives
the ROC points (FPR_p, FNR_p), FPR rising and FNR falling.  The EER is where the two rates are equal:
with d_p = FNR_p − FPR_p, take the first point p where d_p ≤ 0 and interpolate linearly between points
p−1 and p,

    α = d_{p−1} / (d_{p−1} − d_p),    EER = FPR_{p−1} + α·(FPR_p − FPR_{p−1})  (= FNR on the same segment),

and the threshold θ_{p−1} + α·(θ_p − θ_{p−1}) (θ_p = θ_{p−1} = the top score when p − 1 is the +∞ point).
Exact, no root finder.  The reference's S = w·(v·c) + b (w > 0) is an increasing map of the score, so it
leaves the EER unchanged: we score with the cosine.

**Enrolment protocol** (the paper's test): per speaker, the first ``n_enrol`` utterance embeddings are
averaged and L2-normalised into a centroid c_j; every remaining utterance v is scored against every
centroid, cos(v, c_j); the pair is a target trial when v belongs to speaker j.

**Windows.**  An utterance of T frames is cut into windows of ``n_frames`` frames with step
⌊n_frames·(1 − overlap)⌋ (160 and 80 in the paper), dropping the incomplete tail; the utterance embedding
is the mean of its window embeddings, not re-normalised (as the reference; ``renormalize=True`` optional).
"""
import numpy as np


def _check_trials(scores, labels):
    scores = np.asarray(scores, dtype=np.float64).ravel()  # (P,)
    labels = np.asarray(labels).ravel()  # (P,)
    if scores.shape != labels.shape:
        raise ValueError(f"scores and labels must have the same size, got {scores.size} and {labels.size}")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores must be finite numbers (got NaN or inf)")
    if not np.all((labels == 0) | (labels == 1)):
        raise ValueError(f"labels must be booleans or 0/1, got values {np.unique(labels)[:5]}")
    labels = labels.astype(bool)  # (P,)
    if labels.all() or not labels.any():
        raise ValueError(
            f"the EER needs both target and non-target trials, got {labels.sum()} targets of {labels.size}"
        )
    return scores, labels


def roc_points(scores, labels):
    """ROC points of the threshold sweep: thresholds (P+1,) from +∞ down, and FPR, FNR (P+1,) each."""
    scores, labels = _check_trials(scores, labels)
    order = np.argsort(-scores, kind="stable")  # (P,)
    s, is_target = scores[order], labels[order]  # (P,), (P,)
    last_of_tie = np.append(s[1:] != s[:-1], True)  # (P,) the last trial of each run of equal scores
    accepted_targets = np.cumsum(is_target)[last_of_tie]  # (Q,)
    accepted_others = np.cumsum(~is_target)[last_of_tie]  # (Q,)
    thresholds = np.concatenate([[np.inf], s[last_of_tie]])  # (Q + 1,)
    fpr = np.concatenate([[0.0], accepted_others / (~labels).sum()])  # (Q + 1,)
    fnr = np.concatenate([[1.0], 1.0 - accepted_targets / labels.sum()])  # (Q + 1,)
    return thresholds, fpr, fnr


def eer(scores, labels):
    """Equal error rate (a fraction in [0, 1]) and its threshold, from scores and target labels."""
    thresholds, fpr, fnr = roc_points(scores, labels)
    d = fnr - fpr  # (Q + 1,), d[0] = 1 > 0 and d[-1] = −1 < 0
    p = int(np.argmax(d <= 0))
    alpha = d[p - 1] / (d[p - 1] - d[p])
    rate = fpr[p - 1] + alpha * (fpr[p] - fpr[p - 1])
    theta_before = thresholds[p] if p == 1 else thresholds[p - 1]
    threshold = theta_before + alpha * (thresholds[p] - theta_before)
    return float(rate), float(threshold)


def _as_speaker_dict(embeddings_by_speaker):
    """A mapping speaker → (U, D) float64 array, from a mapping of arrays/lists or an (N, U, D) array."""
    if isinstance(embeddings_by_speaker, np.ndarray):
        if embeddings_by_speaker.ndim != 3:
            raise ValueError(f"expected an (N, U, D) array or a dict of (U, D) arrays, got shape "
                             f"{embeddings_by_speaker.shape}")
        embeddings_by_speaker = dict(enumerate(embeddings_by_speaker))
    out = {s: np.asarray(e, dtype=np.float64) for s, e in embeddings_by_speaker.items()}  # s → (U_s, D)
    dims = {e.shape[1:] for e in out.values()}
    if len(out) < 2 or any(e.ndim != 2 for e in out.values()) or len(dims) != 1:
        raise ValueError(f"expected ≥ 2 speakers with (U, D) embeddings of one D, got shapes "
                         f"{[e.shape for e in out.values()]}")
    return out


def _unit(x):
    """x / ‖x‖ along the last axis."""
    return x / np.linalg.norm(x, axis=-1, keepdims=True)  # same shape as x


def enrolment_scores(embeddings_by_speaker, n_enrol, cosine=True):
    """Scores (V, N) of every verification utterance against every centroid, and target labels (V, N).

    ``cosine=False`` scores v·c_j with the raw v (the reference's dot product; c_j is unit either way).
    """
    by_speaker = _as_speaker_dict(embeddings_by_speaker)
    short = {s: e.shape[0] for s, e in by_speaker.items() if e.shape[0] <= n_enrol}
    if n_enrol < 1 or short:
        raise ValueError(f"need n_enrol ≥ 1 and more than n_enrol={n_enrol} utterances per speaker "
                         f"(the rest verify); too few: {short}")
    centroids = np.stack([_unit(e[:n_enrol].mean(axis=0)) for e in by_speaker.values()])  # (N, D)
    verify = np.concatenate([e[n_enrol:] for e in by_speaker.values()])  # (V, D)
    owner = np.concatenate([np.full(e.shape[0] - n_enrol, j) for j, e in enumerate(by_speaker.values())])  # (V,)
    scores = (_unit(verify) if cosine else verify) @ centroids.T  # (V, N)
    labels = owner[:, None] == np.arange(len(by_speaker))[None, :]  # (V, N)
    return scores, labels


def enrolment_eer(embeddings_by_speaker, n_enrol, cosine=True):
    """EER and threshold of the enrolment protocol (module docstring)."""
    return eer(*enrolment_scores(embeddings_by_speaker, n_enrol, cosine))


def pairwise_eer(embeddings, speaker_ids):
    """EER and threshold over all utterance pairs u < u' scored by cosine similarity.  embeddings (U, D)."""
    E = np.asarray(embeddings, dtype=np.float64)  # (U, D)
    ids = np.asarray(speaker_ids)  # (U,)
    if E.ndim != 2 or ids.shape != (E.shape[0],):
        raise ValueError(f"expected embeddings (U, D) and U speaker ids, got {E.shape} and {ids.shape}")
    upper = np.triu_indices(E.shape[0], k=1)  # 2 × (U(U−1)/2,)
    cos = _unit(E) @ _unit(E).T  # (U, U)
    return eer(cos[upper], (ids[:, None] == ids[None, :])[upper])


def sliding_windows(features, n_frames=160, overlap=0.5):
    """Windows (W, n_frames, M) of an utterance's (T, M) features, step ⌊n_frames·(1 − overlap)⌋."""
    S = np.asarray(features)  # (T, M)
    step = int(n_frames * (1.0 - overlap))
    if S.ndim != 2 or n_frames < 1 or not 0.0 <= overlap < 1.0 or step < 1:
        raise ValueError(f"expected features (T, M), n_frames ≥ 1 and 0 ≤ overlap < 1 giving a step ≥ 1, got "
                         f"shape {S.shape}, n_frames={n_frames}, overlap={overlap}")
    if S.shape[0] < n_frames:
        raise ValueError(f"an utterance of {S.shape[0]} frames is shorter than one window of {n_frames} frames")
    n_windows = 1 + (S.shape[0] - n_frames) // step
    starts = step * np.arange(n_windows)  # (W,)
    return np.stack([S[t : t + n_frames] for t in starts])  # (W, n_frames, M)


def average_windows(window_embeddings, renormalize=False):
    """Utterance embedding = mean of its (W, D) window embeddings, (D,); optionally L2-normalised."""
    e = np.mean(np.asarray(window_embeddings, dtype=np.float64), axis=0)  # (D,)
    return _unit(e) if renormalize else e


def embed_utterance(embed, features, n_frames=160, overlap=0.5, renormalize=False):
    """Embed an utterance: ``embed`` maps windows (W, n_frames, M) to (W, D); returns their mean (D,)."""
    return average_windows(embed(sliding_windows(features, n_frames, overlap)), renormalize)
