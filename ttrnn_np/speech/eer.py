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
leaves the EER unchanged: we score with the cosine.  ``error_rates`` gives FPR and FNR at any one θ; in
speaker verification they are the false-acceptance and false-rejection rates, FAR and FRR.

**Enrolment protocol** (the paper's test): per speaker, the first ``n_enrol`` utterance embeddings are
averaged and L2-normalised into a centroid c_j; every remaining utterance v is scored against every
centroid, cos(v, c_j); the pair is a target trial when v belongs to speaker j.

**Windows.**  An utterance of T frames is cut into windows of ``n_frames`` frames with step
⌊n_frames·(1 − overlap)⌋ (160 and 80 in the paper), dropping the incomplete tail; the utterance embedding
is the mean of its window embeddings, not re-normalised (as the reference; ``renormalize=True`` optional).

**Uncertainty: the speaker bootstrap.**  Trials are not independent: every trial of a speaker shares that
speaker's voice, so the EER's spread comes mostly from WHICH speakers were evaluated.  ``bootstrap_eer``
therefore resamples speakers, not trials.  Each trial carries the pair of speakers (a, b) it compares
(the verification utterance's and the centroid's; or the two utterances' in the pairwise protocol; target
iff a = b).  One replicate draws N speakers with replacement, speaker s c_s times, and recomputes the trials
among the drawn speakers: speaker a's target trials c_a times over, and the non-target trials of a ≠ b
c_a·c_b times over (the trials between two copies of one speaker would compare a speaker with itself and
are left out).  That is an EER with integer trial weights w = c_a (target) or c_a·c_b (non-target), which
``eer(scores, labels, weights)`` computes exactly as on the duplicated trials.  The interval is the
percentile interval of ``n_boot`` replicate EERs (default 1,000, 95 %).  The same ``seed`` draws the same
speakers for any trials of the same speakers, so two systems scored on the same speakers are compared
replicate by replicate.
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


def _check_weights(weights, n):
    w = np.asarray(weights, dtype=np.float64).ravel()  # (P,)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"weights must be {n} finite numbers ≥ 0 (one per trial), got shape {np.shape(weights)}")
    return w


def _sorted_trials(scores):
    """Trials sorted by score, descending: (order (P,), sorted scores (P,), last-of-a-tie flags (P,))."""
    order = np.argsort(-scores, kind="stable")  # (P,)
    s = scores[order]  # (P,)
    return order, s, np.append(s[1:] != s[:-1], True)  # (P,), (P,), (P,)


def _sweep(s, last_of_tie, target_weight, other_weight):
    """Thresholds, FPR, FNR (Q + 1,) each, from sorted scores and each sorted trial's weight as a target/other."""
    accepted_targets = np.cumsum(target_weight)[last_of_tie]  # (Q,)
    accepted_others = np.cumsum(other_weight)[last_of_tie]  # (Q,)
    if accepted_targets[-1] <= 0 or accepted_others[-1] <= 0:
        raise ValueError("the EER needs target and non-target trials of positive total weight")
    thresholds = np.concatenate([[np.inf], s[last_of_tie]])  # (Q + 1,)
    fpr = np.concatenate([[0.0], accepted_others / accepted_others[-1]])  # (Q + 1,)
    fnr = np.concatenate([[1.0], 1.0 - accepted_targets / accepted_targets[-1]])  # (Q + 1,)
    return thresholds, fpr, fnr


def roc_points(scores, labels, weights=None):
    """ROC points of the threshold sweep: thresholds (Q+1,) from +∞ down, and FPR, FNR (Q+1,) each.

    ``weights`` (P,) ≥ 0 count trial p w_p times (integer weights give exactly the duplicated trials).
    """
    scores, labels = _check_trials(scores, labels)
    w = np.ones(scores.shape) if weights is None else _check_weights(weights, scores.size)  # (P,)
    order, s, last_of_tie = _sorted_trials(scores)
    is_target = labels[order]  # (P,)
    return _sweep(s, last_of_tie, np.where(is_target, w[order], 0.0), np.where(is_target, 0.0, w[order]))


def error_rates(scores, labels, threshold):
    """(FPR, FNR) at one threshold θ, accepting s ≥ θ: the fraction of non-target trials accepted (false
    accepts, FAR) and the fraction of target trials rejected (false rejects, FRR)."""
    scores, labels = _check_trials(scores, labels)
    accept = scores >= threshold  # (P,)
    return float(np.mean(accept[~labels])), float(np.mean(~accept[labels]))


def _interpolate(thresholds, fpr, fnr):
    """The EER and its threshold from the ROC points (module docstring)."""
    d = fnr - fpr  # (Q + 1,), d[0] = 1 > 0 and d[-1] = −1 < 0
    p = int(np.argmax(d <= 0))
    alpha = d[p - 1] / (d[p - 1] - d[p])
    rate = fpr[p - 1] + alpha * (fpr[p] - fpr[p - 1])
    theta_before = thresholds[p] if p == 1 else thresholds[p - 1]
    threshold = theta_before + alpha * (thresholds[p] - theta_before)
    return float(rate), float(threshold)


def eer(scores, labels, weights=None):
    """Equal error rate (a fraction in [0, 1]) and its threshold, from scores, target labels, trial weights."""
    return _interpolate(*roc_points(scores, labels, weights))


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


def enrolment_trials(embeddings_by_speaker, n_enrol, cosine=True):
    """The enrolment protocol's trials as ``(scores (P,), speakers (P, 2))``: row p compares the verification
    utterance of speaker index ``speakers[p, 0]`` with the centroid of ``speakers[p, 1]`` (target iff equal)."""
    scores, labels = enrolment_scores(embeddings_by_speaker, n_enrol, cosine)  # (V, N), (V, N)
    owner = np.argmax(labels, axis=1)  # (V,) each verification utterance's speaker index
    pairs = np.stack(np.broadcast_arrays(owner[:, None], np.arange(scores.shape[1])[None, :]), axis=-1)  # (V, N, 2)
    return scores.ravel(), pairs.reshape(-1, 2)  # (P,), (P, 2)


def pairwise_trials(embeddings_by_speaker):
    """All utterance pairs u < u' as ``(scores (P,), speakers (P, 2))``: cosine, and the two speaker indices."""
    by_speaker = _as_speaker_dict(embeddings_by_speaker)
    E = np.concatenate(list(by_speaker.values()))  # (U, D)
    ids = np.concatenate([np.full(e.shape[0], j) for j, e in enumerate(by_speaker.values())])  # (U,)
    upper = np.triu_indices(E.shape[0], k=1)  # 2 × (P,)
    scores = (_unit(E) @ _unit(E).T)[upper]  # (P,)
    return scores, np.stack([ids[upper[0]], ids[upper[1]]], axis=1)  # (P,), (P, 2)


def speaker_weights(speakers, counts):
    """Trial weights (P,) when speaker s is drawn ``counts[s]`` times (module docstring): c_a for a target
    trial (a = b), c_a·c_b for a non-target one.  ``speakers`` (P, 2) are indices into ``counts`` (N,)."""
    table = np.outer(counts, counts)  # (N, N) c_a·c_b
    table[np.diag_indices_from(table)] = counts  # (N, N) c_a on the diagonal
    return table[speakers[:, 0], speakers[:, 1]]  # (P,)


def _rate_from_cumsums(accepted_targets, accepted_others):
    """The EER from the weighted cumulative counts (Q,) of the tie groups in score order (ROC point q + 1 after
    group q; point 0 accepts nothing).  d = FNR − FPR falls monotonically, so bisection finds its sign change."""
    total_t, total_o = accepted_targets[-1], accepted_others[-1]

    def point(q):  # (FPR, FNR) of ROC point q
        return (0.0, 1.0) if q == 0 else (accepted_others[q - 1] / total_o, 1.0 - accepted_targets[q - 1] / total_t)

    lo, hi = 0, accepted_targets.size  # d(lo) > 0 ≥ d(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        fpr, fnr = point(mid)
        lo, hi = (mid, hi) if fnr - fpr > 0 else (lo, mid)
    (fpr0, fnr0), (fpr1, fnr1) = point(lo), point(hi)
    alpha = (fnr0 - fpr0) / ((fnr0 - fpr0) - (fnr1 - fpr1))
    return float(fpr0 + alpha * (fpr1 - fpr0))


def _speaker_index(scores, speakers):
    """Checked trials: scores (P,) as float64, speakers (P, 2) as indices 0..N−1, and N."""
    scores = np.asarray(scores, dtype=np.float64).ravel()  # (P,)
    speakers = np.asarray(speakers)
    if speakers.shape != (scores.size, 2):
        raise ValueError(f"speakers must be (P, 2) for P = {scores.size} scores, got shape {speakers.shape}")
    names, index = np.unique(speakers, return_inverse=True)  # (N,), (P·2,)
    index = index.reshape(-1, 2)  # (P, 2)
    if names.size < 2:
        raise ValueError(f"the speaker bootstrap needs trials of ≥ 2 speakers, got {names.size}")
    scores, _ = _check_trials(scores, index[:, 0] == index[:, 1])
    return scores, index, names.size


def _replicate_eers(scores, index, N, n_boot, seed):
    """The EERs (B,) of ``n_boot`` speaker-bootstrap replicates (module docstring); the draws depend on the seed
    and N only, so two systems scored on the same speakers get the same draws."""
    if not (isinstance(n_boot, int) and n_boot >= 1):
        raise ValueError(f"need an integer n_boot ≥ 1, got n_boot={n_boot!r}")
    order, _, last_of_tie = _sorted_trials(scores)  # (P,), _, (P,)
    pairs = index[order]  # (P, 2) in score order
    is_target = (pairs[:, 0] == pairs[:, 1]).astype(np.float64)  # (P,)
    ends = None if last_of_tie.all() else np.flatnonzero(last_of_tie)  # (Q,) last trial of each tie group
    rng = np.random.default_rng(seed)
    rates = np.empty(n_boot)  # (B,)
    for r in range(n_boot):
        counts = np.bincount(rng.integers(0, N, size=N), minlength=N)  # (N,)
        while np.count_nonzero(counts) < 2:  # one speaker drawn N times has no non-target trials: draw again
            counts = np.bincount(rng.integers(0, N, size=N), minlength=N)  # (N,)
        w = speaker_weights(pairs, counts).astype(np.float64)  # (P,)
        accepted_targets = np.cumsum(w * is_target)  # (P,)
        accepted_all = np.cumsum(w)  # (P,)
        if ends is not None:
            accepted_targets, accepted_all = accepted_targets[ends], accepted_all[ends]  # (Q,), (Q,)
        rates[r] = _rate_from_cumsums(accepted_targets, accepted_all - accepted_targets)
    return rates


def _check_level(level):
    if not 0.0 < level < 1.0:
        raise ValueError(f"need a confidence level 0 < level < 1, got {level}")
    return (1.0 - level) / 2, (1.0 + level) / 2


def bootstrap_eer(scores, speakers, n_boot=1000, level=0.95, seed=0):
    """EER with a percentile confidence interval from resampling SPEAKERS (module docstring).

    ``scores`` (P,) and ``speakers`` (P, 2), the two speakers each trial compares (any labels; the target
    trials are those with equal speakers): the output of ``enrolment_trials`` or ``pairwise_trials``.
    Returns ``{"eer": point EER on all trials, "low", "high": the ``level`` interval}`` (fractions).
    """
    quantiles = _check_level(level)
    scores, index, N = _speaker_index(scores, speakers)
    point = eer(scores, index[:, 0] == index[:, 1])[0]
    low, high = np.quantile(_replicate_eers(scores, index, N, n_boot, seed), quantiles)
    return {"eer": point, "low": float(low), "high": float(high)}


def bootstrap_eer_difference(scores_a, scores_b, speakers, n_boot=1000, level=0.95, seed=0):
    """EER(a) − EER(b) of two systems scored on the SAME trials, with a paired speaker-bootstrap interval: each
    replicate draws one set of speakers and recomputes both EERs on it, so the speakers both systems find hard
    cancel out of the difference.  Returns ``{"difference", "low", "high", "eer_a", "eer_b"}`` (fractions)."""
    quantiles = _check_level(level)
    scores_a, index, N = _speaker_index(scores_a, speakers)
    scores_b, _, _ = _speaker_index(scores_b, speakers)
    labels = index[:, 0] == index[:, 1]  # (P,)
    eer_a, eer_b = eer(scores_a, labels)[0], eer(scores_b, labels)[0]
    differences = (_replicate_eers(scores_a, index, N, n_boot, seed)
                   - _replicate_eers(scores_b, index, N, n_boot, seed))  # (B,)
    low, high = np.quantile(differences, quantiles)
    return {"difference": eer_a - eer_b, "low": float(low), "high": float(high), "eer_a": eer_a, "eer_b": eer_b}


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
