"""A no-training speaker-verification baseline: mean and standard deviation of the log-mel frames.

Index letters: t frame, m mel channel (M), u utterance.

For an utterance with (optionally normalised) features S[t, m], the embedding is the 2M-vector

    e = [ mean_t S[t, :],  std_t S[t, :] ],

the long-term average spectrum and its spread — a classic, crude voice signature (it also captures the
recording channel, which is constant within a LibriSpeech chapter).  With global normalisation
(default) the statistics (μ, σ) of all frames of the evaluated utterances are removed first,
Ŝ = (S − μ)/σ, so the cosine compares deviations from the average voice with every channel weighted
equally; without it every raw log-mel mean is a large negative vector, so all cosines crowd near 1 but
still rank the trials.
Which variant scores better depends on the data: report both.  Scoring uses the enrolment protocol of
``eer.py`` (cosine against centroids of the first ``n_enrol`` utterances), so its EER is the floor any
trained encoder has to beat.
"""
import numpy as np

from .eer import enrolment_eer
from .features import FeatureConfig, feature_stats, normalize_features
from .librispeech import load_split, take_utterances


def mean_std_embedding(features):
    """[mean over frames, std over frames] of (T, M) features: (2M,)."""
    S = np.asarray(features, dtype=np.float64)  # (T, M)
    if S.ndim != 2 or S.shape[0] == 0:
        raise ValueError(f"expected features of shape (T ≥ 1, M), got shape {S.shape}")
    return np.concatenate([S.mean(axis=0), S.std(axis=0)])  # (2M,)


def baseline_embeddings(features_by_speaker, normalize=True):
    """Speaker → (U, 2M) mean/std embeddings; ``normalize`` first removes the global per-channel μ, σ."""
    if normalize:
        mean, std = feature_stats(S for utts in features_by_speaker.values() for S in utts)  # (M,), (M,)
        features_by_speaker = {
            s: [normalize_features(S, mean, std) for S in utts] for s, utts in features_by_speaker.items()
        }  # s → list of (T_u, M)
    return {
        s: np.stack([mean_std_embedding(S) for S in utts]) for s, utts in features_by_speaker.items()
    }  # s → (U, 2M)


def baseline_eer(features_by_speaker, n_enrol, normalize=True):
    """EER and threshold of the mean/std baseline under the enrolment protocol."""
    return enrolment_eer(baseline_embeddings(features_by_speaker, normalize), n_enrol)


def run_baseline(split="test-other", root=None, n_enrol=5, n_utterances=10, normalize=True,
                 config=FeatureConfig(), cache_dir=None):
    """The baseline on a split of the LibriSpeech sample (default: 10 test speakers, 5 enrol + 5 verify).

    Uses the first ``n_utterances`` utterances of each speaker (sorted).  Returns a dict with the EER
    (fraction), threshold, and the numbers of speakers, target and non-target trials and dropped files.
    """
    features, dropped = load_split(split, root, config, cache_dir)
    features = take_utterances(features, n_utterances)
    rate, threshold = baseline_eer(features, n_enrol, normalize)
    n_speakers = len(features)
    n_verify = n_speakers * (n_utterances - n_enrol)
    return {
        "eer": rate,
        "threshold": threshold,
        "speakers": n_speakers,
        "target_trials": n_verify,
        "nontarget_trials": n_verify * (n_speakers - 1),
        "dropped": len(dropped),
    }
