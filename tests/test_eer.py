"""Tests for ttrnn_np.speech.eer (EER, protocols, windows) and ttrnn_np.speech.baseline."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ttrnn_np.speech.baseline import baseline_eer, baseline_embeddings, mean_std_embedding
from ttrnn_np.speech.eer import (average_windows, bootstrap_eer, bootstrap_eer_difference, eer, embed_utterance,
                                 enrolment_eer, enrolment_scores, enrolment_trials, error_rates, pairwise_eer,
                                 pairwise_trials, roc_points, sliding_windows, speaker_weights)


def brute_force_eer(scores, labels):
    """Count FPR/FNR at every threshold by hand, then intersect the segment where FNR − FPR changes sign."""
    scores, labels = list(map(float, scores)), list(map(bool, labels))
    n_target, n_other = sum(labels), len(labels) - sum(labels)
    points = []
    for theta in [np.inf] + sorted(set(scores), reverse=True):
        false_accept = sum(1 for s, y in zip(scores, labels) if s >= theta and not y)
        false_reject = sum(1 for s, y in zip(scores, labels) if s < theta and y)
        points.append((theta, false_accept / n_other, false_reject / n_target))
    for (t0, fpr0, fnr0), (t1, fpr1, fnr1) in zip(points, points[1:]):
        if fnr0 > fpr0 and fnr1 <= fpr1:
            alpha = (fnr0 - fpr0) / ((fnr0 - fpr0) - (fnr1 - fpr1))
            theta0 = t1 if np.isinf(t0) else t0
            return fpr0 + alpha * (fpr1 - fpr0), theta0 + alpha * (t1 - theta0), points
    raise AssertionError("no crossing found")


trials = st.integers(2, 30).flatmap(lambda n: st.tuples(
    st.lists(st.one_of(st.integers(-3, 3).map(float), st.floats(-5, 5)), min_size=n, max_size=n),
    st.lists(st.booleans(), min_size=n, max_size=n).filter(lambda y: 0 < sum(y) < len(y))))


@settings(max_examples=60, deadline=None)
@given(trials)
def test_eer_matches_brute_force_and_lies_between_the_rates(trial):
    scores, labels = trial
    rate, threshold = eer(scores, labels)
    expected_rate, expected_threshold, points = brute_force_eer(scores, labels)
    assert rate == pytest.approx(expected_rate, abs=1e-12)
    assert threshold == pytest.approx(expected_threshold, abs=1e-12)
    assert max(min(fpr, fnr) for _, fpr, fnr in points) - 1e-12 <= rate
    assert rate <= min(max(fpr, fnr) for _, fpr, fnr in points) + 1e-12


def test_roc_points_are_monotone_and_complete():
    thresholds, fpr, fnr = roc_points([0.3, 0.1, 0.3, 0.9, 0.5], [1, 0, 0, 1, 0])
    np.testing.assert_array_equal(thresholds, [np.inf, 0.9, 0.5, 0.3, 0.1])
    np.testing.assert_allclose(fpr, [0, 0, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(fnr, [1, 0.5, 0.5, 0, 0])


@settings(max_examples=40, deadline=None)
@given(trials, st.floats(-6, 6))
def test_error_rates_at_a_threshold_count_false_accepts_and_rejects(trial, theta):
    scores, labels = trial
    _, _, points = brute_force_eer(scores, labels)
    for threshold, fpr, fnr in points[1:]:  # every ROC point is the pair of rates at its threshold
        assert error_rates(scores, labels, threshold) == pytest.approx((fpr, fnr), abs=1e-12)
    accepted = np.asarray(scores) >= theta  # (P,)
    targets = np.asarray(labels)  # (P,)
    assert error_rates(scores, labels, theta) == pytest.approx(
        ((accepted & ~targets).sum() / (~targets).sum(), (~accepted & targets).sum() / targets.sum()), abs=1e-12)


def test_error_rates_examples_and_errors():
    assert error_rates([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0], 0.5) == (0.5, 0.0)  # a tie at θ is accepted
    assert error_rates([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0], 0.7) == (0.0, 0.5)
    with pytest.raises(ValueError, match="the EER needs both target and non-target trials"):
        error_rates([0.1, 0.2], [1, 1], 0.0)


@pytest.mark.parametrize("scores, labels, expected_rate, expected_threshold", [
    ([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0], 0.0, 0.8),      # perfect separation
    ([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0], 1.0, 0.8),      # perfectly wrong
    ([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0], 0.5, 0.5),      # all equal
    ([0.9, 0.4, 0.6, 0.1], [1, 1, 0, 0], 0.5, 0.6),      # crossing exactly at a ROC point
    ([2.0, 1.0, 1.0, 0.0], [1, 1, 0, 0], 0.25, 1.5),     # a tie between classes: interpolate across it
])
def test_eer_adversarial_cases(scores, labels, expected_rate, expected_threshold):
    rate, threshold = eer(scores, labels)
    assert rate == pytest.approx(expected_rate) and threshold == pytest.approx(expected_threshold)


def test_eer_errors():
    with pytest.raises(ValueError, match="same size, got 3 and 2"):
        eer([1, 2, 3], [1, 0])
    with pytest.raises(ValueError, match="both target and non-target trials, got 2 targets of 2"):
        eer([1, 2], [1, 1])
    with pytest.raises(ValueError, match="finite"):
        eer([1, np.nan], [1, 0])
    with pytest.raises(ValueError, match="booleans or 0/1"):
        eer([1, 2], [1, 2])


# ---------------------------------------------------------------- enrolment and pairwise protocols


def clustered_embeddings(N, U, D, spread, seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(N, 1, D))
    return centres + spread * rng.normal(size=(N, U, D))


@settings(max_examples=30, deadline=None)
@given(N=st.integers(2, 4), U=st.integers(2, 6), D=st.integers(1, 5), seed=st.integers(0, 2**16),
       cosine=st.booleans(), data=st.data())
def test_enrolment_scores_match_loops(N, U, D, seed, cosine, data):
    n_enrol = data.draw(st.integers(1, U - 1))
    E = clustered_embeddings(N, U, D, 1.0, seed)
    scores, labels = enrolment_scores({f"s{j}": E[j] for j in range(N)}, n_enrol, cosine)
    assert scores.shape == labels.shape == (N * (U - n_enrol), N)
    row = 0
    for j in range(N):
        for v in E[j, n_enrol:]:
            for k in range(N):
                c = E[k, :n_enrol].mean(axis=0)
                c = c / np.linalg.norm(c)
                expected = np.dot(v, c) / (np.linalg.norm(v) if cosine else 1.0)
                assert scores[row, k] == pytest.approx(expected, abs=1e-12)
                assert labels[row, k] == (j == k)
            row += 1
    np.testing.assert_array_equal(enrolment_scores(E, n_enrol, cosine)[0], scores)
    assert enrolment_eer(E, n_enrol, cosine) == eer(scores, labels)


def test_enrolment_eer_of_separated_speakers_is_zero():
    E = clustered_embeddings(10, 10, 8, 0.01, 0)
    rate, _ = enrolment_eer(E, 5)
    assert rate == 0.0
    assert enrolment_scores(E, 5)[1].sum() == 50


def test_enrolment_errors():
    E = clustered_embeddings(3, 4, 2, 1.0, 0)
    with pytest.raises(ValueError, match=r"more than n_enrol=4 utterances .* too few: \{0: 4, 1: 4, 2: 4\}"):
        enrolment_eer(E, 4)
    with pytest.raises(ValueError, match="n_enrol ≥ 1"):
        enrolment_eer(E, 0)
    with pytest.raises(ValueError, match="≥ 2 speakers"):
        enrolment_eer({"a": E[0]}, 2)
    with pytest.raises(ValueError, match="of one D"):
        enrolment_eer({"a": E[0], "b": E[1, :, :1]}, 2)
    with pytest.raises(ValueError, match=r"\(N, U, D\) array"):
        enrolment_eer(E[0], 2)


@settings(max_examples=25, deadline=None)
@given(U=st.integers(4, 12), D=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_pairwise_eer_matches_loops(U, D, seed):
    rng = np.random.default_rng(seed)
    E = rng.normal(size=(U, D))
    ids = np.arange(U) % 3
    scores, labels = [], []
    for a in range(U):
        for b in range(a + 1, U):
            scores.append(np.dot(E[a], E[b]) / (np.linalg.norm(E[a]) * np.linalg.norm(E[b])))
            labels.append(ids[a] == ids[b])
    expected = eer(scores, labels)
    np.testing.assert_allclose(pairwise_eer(E, ids), expected, atol=1e-12)


def test_pairwise_eer_errors():
    with pytest.raises(ValueError, match=r"embeddings \(U, D\) and U speaker ids"):
        pairwise_eer(np.ones((4, 2)), [0, 1, 0])


# ---------------------------------------------------------------- weights, trials, the speaker bootstrap


@settings(max_examples=40, deadline=None)
@given(trials, st.data())
def test_weighted_eer_equals_the_eer_of_the_duplicated_trials(trial, data):
    scores, labels = trial
    weights = data.draw(st.lists(st.integers(0, 3), min_size=len(scores), max_size=len(scores)))
    labels = np.array(labels)
    kept = np.repeat(np.arange(len(scores)), weights)
    if not (0 < labels[kept].sum() < kept.size):
        with pytest.raises(ValueError, match="positive total weight"):
            eer(scores, labels, weights)
        return
    assert eer(scores, labels, weights)[0] == pytest.approx(eer(np.array(scores)[kept], labels[kept])[0], abs=1e-12)


def test_weights_errors():
    with pytest.raises(ValueError, match="weights must be 3 finite numbers ≥ 0"):
        eer([0.1, 0.2, 0.3], [1, 0, 1], [1, -1, 1])
    with pytest.raises(ValueError, match="weights must be 3 finite numbers ≥ 0"):
        eer([0.1, 0.2, 0.3], [1, 0, 1], [1, 1])


def test_trials_of_both_protocols_match_the_protocols():
    rng = np.random.default_rng(0)
    E = {name: rng.normal(size=(U, 5)) for name, U in (("x", 6), ("y", 4), ("z", 5))}
    scores, pairs = enrolment_trials(E, 2)
    assert scores.shape == (3 * (4 + 2 + 3),) and pairs.shape == (scores.size, 2)
    assert eer(scores, pairs[:, 0] == pairs[:, 1]) == enrolment_eer(E, 2)
    assert np.bincount(pairs[pairs[:, 0] == pairs[:, 1], 0]).tolist() == [4, 2, 3]  # verification utterances
    scores, pairs = pairwise_trials(E)
    ids = np.repeat([0, 1, 2], [6, 4, 5])
    assert scores.size == 15 * 14 // 2
    assert eer(scores, pairs[:, 0] == pairs[:, 1]) == pairwise_eer(np.concatenate(list(E.values())), ids)


def resampled_enrolment_eer(E, n_enrol, counts):
    """The enrolment EER of the resampled speakers, built by hand: speaker s appears as counts[s] copies; every
    copy's verification utterances meet every copy's centroid except the other copies of their own speaker."""
    names = list(E)
    scores, labels = enrolment_scores(E, n_enrol)  # (V, N), (V, N)
    owner = np.argmax(labels, axis=1)
    copies = [(j, k) for j in range(len(names)) for k in range(counts[j])]
    kept_scores, kept_labels = [], []
    for v in range(scores.shape[0]):
        for a, k in copies:
            if a != owner[v]:
                continue
            for b, m in copies:
                if b != a or m == k:
                    kept_scores.append(scores[v, b])
                    kept_labels.append(a == b)
    return eer(kept_scores, kept_labels)[0]


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_a_bootstrap_replicate_is_the_eer_of_the_resampled_speakers(seed):
    rng = np.random.default_rng(seed)
    E = {f"s{j}": rng.normal(size=(rng.integers(3, 6), 4)) + rng.normal(size=4) for j in range(5)}
    counts = np.bincount(rng.integers(0, 5, size=5), minlength=5)
    if np.count_nonzero(counts) < 2:
        counts = np.array([2, 0, 1, 1, 1])
    scores, pairs = enrolment_trials(E, 2)
    by_hand = resampled_enrolment_eer(E, 2, counts)
    assert eer(scores, pairs[:, 0] == pairs[:, 1], speaker_weights(pairs, counts))[0] == pytest.approx(by_hand, abs=1e-12)
    # one replicate of bootstrap_eer draws its counts the same way from its seed; its interval is that EER
    draw = np.random.default_rng(seed)
    counts = np.bincount(draw.integers(0, 5, size=5), minlength=5)
    while np.count_nonzero(counts) < 2:
        counts = np.bincount(draw.integers(0, 5, size=5), minlength=5)
    one = bootstrap_eer(scores, pairs, n_boot=1, seed=seed)
    assert one["eer"] == enrolment_eer(E, 2)[0]
    assert one["low"] == pytest.approx(resampled_enrolment_eer(E, 2, counts), abs=1e-12) and one["low"] == one["high"]


def test_bootstrap_covers_a_known_eer():
    """Scores with per-speaker effects: target = μ + u_a + ε, non-target = v_b + ε (u ~ N(0, 1), v ~ N(0, ½²),
    ε ~ N(0, 1)), so the population EER is Φ(−μ/(√2 + √1.25)).  Resampling speakers must cover it ≈ 95 % of
    the time (94 of these 100 data sets when written); resampling trials instead covered it in ≈ 83 % of such
    data sets, because the trials of a speaker share u_a."""
    from math import erf, sqrt
    mu, n_speakers, n_verify = 2.5, 24, 4
    true_eer = 0.5 * (1 + erf(-mu / (sqrt(2.0) + sqrt(1.25)) / sqrt(2.0)))
    rng = np.random.default_rng(7)
    a = np.repeat(np.arange(n_speakers), n_verify * n_speakers)  # (P,) verification utterance's speaker
    b = np.tile(np.arange(n_speakers), n_speakers * n_verify)  # (P,) centroid's speaker
    pairs = np.stack([a, b], axis=1)
    covered, widths, repeats = 0, [], 100
    for _ in range(repeats):
        u, v = rng.normal(size=n_speakers), 0.5 * rng.normal(size=n_speakers)
        scores = np.where(a == b, mu + u[a], v[b]) + rng.normal(size=a.size)
        result = bootstrap_eer(scores, pairs, n_boot=150, seed=int(rng.integers(2**31)))
        covered += result["low"] <= true_eer <= result["high"]
        widths.append(result["high"] - result["low"])
    assert 0.86 <= covered / repeats <= 0.99, (covered, true_eer)
    assert 0.05 < np.mean(widths) < 0.2


def test_bootstrap_is_seeded_and_checks_its_input():
    rng = np.random.default_rng(1)
    E = {s: rng.normal(size=(6, 3)) + rng.normal(size=3) for s in "abcdef"}
    scores, pairs = pairwise_trials(E)
    first = bootstrap_eer(scores, pairs, n_boot=50, seed=3)
    assert first == bootstrap_eer(scores, pairs, n_boot=50, seed=3)
    assert first["low"] <= first["eer"] <= first["high"]
    names = np.array(list("abcdef"))[pairs]  # any speaker labels
    assert bootstrap_eer(scores, names, n_boot=50, seed=3) == first
    with pytest.raises(ValueError, match=r"speakers must be \(P, 2\)"):
        bootstrap_eer(scores, pairs[:-1])
    with pytest.raises(ValueError, match="n_boot ≥ 1, got n_boot=0"):
        bootstrap_eer(scores, pairs, n_boot=0)
    with pytest.raises(ValueError, match="0 < level < 1, got 1.5"):
        bootstrap_eer(scores, pairs, level=1.5)
    with pytest.raises(ValueError, match="≥ 2 speakers"):
        bootstrap_eer([0.1, 0.2], [[0, 0], [0, 0]])


def test_the_paired_difference_uses_the_same_speakers_for_both_systems():
    rng = np.random.default_rng(5)
    E = {s: rng.normal(size=(6, 3)) + 2 * rng.normal(size=3) for s in "abcdefgh"}
    scores, pairs = enrolment_trials(E, 2)
    noisy = scores + rng.normal(scale=0.5, size=scores.size)  # (P,) a worse system on the same trials
    result = bootstrap_eer_difference(noisy, scores, pairs, n_boot=200, seed=4)
    assert result["eer_a"] == eer(noisy, pairs[:, 0] == pairs[:, 1])[0]
    assert result["difference"] == pytest.approx(result["eer_a"] - result["eer_b"])
    assert result["low"] <= result["difference"] <= result["high"]
    # its marginals are bootstrap_eer's replicates: with one draw the interval is the two replicates' difference
    one = bootstrap_eer_difference(noisy, scores, pairs, n_boot=1, seed=9)
    a, b = bootstrap_eer(noisy, pairs, n_boot=1, seed=9), bootstrap_eer(scores, pairs, n_boot=1, seed=9)
    assert one["low"] == one["high"] == pytest.approx(a["low"] - b["low"], abs=1e-15)
    # a strictly increasing map of the scores is the same system: every replicate's difference is 0
    same = bootstrap_eer_difference(np.exp(scores), scores, pairs, n_boot=100, seed=4)
    assert same["difference"] == 0.0 and same["low"] == 0.0 and same["high"] == 0.0
    # the paired interval is narrower than the spread of either system's own interval
    alone = bootstrap_eer(noisy, pairs, n_boot=200, seed=4)
    assert result["high"] - result["low"] < alone["high"] - alone["low"]
    with pytest.raises(ValueError, match=r"speakers must be \(P, 2\)"):
        bootstrap_eer_difference(noisy[:-1], scores[:-1], pairs)


# ---------------------------------------------------------------- windows


@pytest.mark.parametrize("T, expected_starts", [(160, [0]), (239, [0]), (240, [0, 80]), (399, [0, 80, 160]),
                                                (400, [0, 80, 160, 240])])
def test_sliding_windows_drop_the_tail(T, expected_starts):
    S = np.arange(T)[:, None] * np.ones((1, 3))
    windows = sliding_windows(S)
    assert windows.shape == (len(expected_starts), 160, 3)
    for window, start in zip(windows, expected_starts):
        np.testing.assert_array_equal(window, S[start : start + 160])


def test_sliding_windows_other_overlaps_and_errors():
    S = np.arange(10)[:, None]
    np.testing.assert_array_equal(sliding_windows(S, 4, 0.0)[:, 0, 0], [0, 4])
    np.testing.assert_array_equal(sliding_windows(S, 4, 0.75)[:, 0, 0], np.arange(7))
    with pytest.raises(ValueError, match="10 frames is shorter than one window of 160"):
        sliding_windows(S)
    with pytest.raises(ValueError, match="overlap=1.0"):
        sliding_windows(S, 4, 1.0)
    with pytest.raises(ValueError, match=r"shape \(10,\)"):
        sliding_windows(np.arange(10), 4)


def test_window_averaging_and_utterance_embedding():
    rng = np.random.default_rng(0)
    windows = rng.normal(size=(5, 3))
    np.testing.assert_allclose(average_windows(windows), windows.mean(axis=0))
    assert np.linalg.norm(average_windows(windows, renormalize=True)) == pytest.approx(1.0)
    S = rng.normal(size=(400, 4))

    def embed(w):
        return w.mean(axis=1)

    expected = np.mean([S[t : t + 160].mean(axis=0) for t in (0, 80, 160, 240)], axis=0)
    np.testing.assert_allclose(embed_utterance(embed, S), expected)


# ---------------------------------------------------------------- mean/std baseline


def test_mean_std_embedding():
    S = np.random.default_rng(1).normal(size=(50, 4))
    np.testing.assert_allclose(mean_std_embedding(S), np.concatenate([S.mean(axis=0), S.std(axis=0)]))
    with pytest.raises(ValueError, match=r"shape \(T ≥ 1, M\), got shape \(0, 4\)"):
        mean_std_embedding(np.zeros((0, 4)))


def test_baseline_separates_speakers_with_different_spectra():
    rng = np.random.default_rng(2)
    offsets = rng.normal(size=(6, 1, 8))
    features = {s: [offsets[s] + 0.3 * rng.normal(size=(int(rng.integers(20, 40)), 8)) for _ in range(6)]
                for s in range(6)}
    assert baseline_eer(features, 3)[0] == 0.0
    assert baseline_eer(features, 3, normalize=False)[0] <= 0.1


def test_baseline_embeddings_use_global_statistics():
    rng = np.random.default_rng(3)
    features = {"a": [rng.normal(5, 2, size=(30, 2)) for _ in range(2)], "b": [rng.normal(5, 2, size=(10, 2))]}
    pooled = np.concatenate([S for u in features.values() for S in u])
    mean, std = pooled.mean(axis=0), pooled.std(axis=0)
    emb = baseline_embeddings(features)
    np.testing.assert_allclose(emb["b"][0], mean_std_embedding((features["b"][0] - mean) / (std + 1e-8)))
    np.testing.assert_allclose(baseline_embeddings(features, normalize=False)["a"][1],
                               mean_std_embedding(features["a"][1]))
