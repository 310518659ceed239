"""Speaker-verification building blocks (docs/method.md §8), independent of the recurrent cells.

- ``audio``: read FLAC/WAV (optional ``soundfile``), mono, resample to 16 kHz, −30 dBFS level.
- ``features``: STFT, HTK-mel filterbank, 40-channel (log-)mel spectrogram, silence trimming, normalisation.
- ``librispeech``: find utterances per speaker, cached features, GE2E batches of random crops.
- ``an4``: CMU AN4 (84 speakers, a folder of WAV files each) through the same cache; the seeded by-speaker split.
- ``ge2e``: the GE2E softmax loss (autograd-differentiable) and its similarity matrix.
- ``eer``: exact equal error rate, the error rates at a threshold, enrolment and pairwise protocols,
  sliding-window utterance embeddings, the speaker bootstrap's confidence interval.
- ``baseline``: a no-training mean/std-of-log-mel embedding, the floor a trained encoder must beat.
- ``synthetic``: tiny FAKE corpora (buzzing tones per speaker) in the sample's and AN4's layouts, for tests and
  tutorials.

Pipeline:
    training: file ─read_audio─▶ x (L,) ─features_from_waveform─▶ S (T, 40) ─sample_batch─▶ (N, M, T, 40)
              ─encoder─▶ E (N, M, D) ─ge2e_loss─▶ L
    test:     S (T, 40) ─sliding_windows─▶ (W, 160, 40) ─encoder, average_windows─▶ e (D,) ─enrolment_trials─▶
              trials ─bootstrap_eer─▶ EER [low, high]
"""
from .an4 import an4_root, list_an4_speakers, load_an4, split_speakers
from .audio import SAMPLE_RATE, dbfs, normalize_volume, read_audio, resample, to_mono
from .baseline import baseline_eer, baseline_embeddings, mean_std_embedding, run_baseline
from .eer import (average_windows, bootstrap_eer, bootstrap_eer_difference, eer, embed_utterance, enrolment_eer,
                  enrolment_scores, enrolment_trials, error_rates, pairwise_eer, pairwise_trials, roc_points,
                  sliding_windows)
from .features import (FeatureConfig, feature_stats, features_from_waveform, mel_filterbank, mel_spectrogram,
                       n_frames, normalize_features, stft, trim_silence)
from .ge2e import (GE2E_GRAD_SCALE, ge2e_accuracy, ge2e_loss, ge2e_similarity, init_ge2e_params,
                   scale_ge2e_grads, similarity_matrix)
from .librispeech import (MIN_FRAMES, TEST_SPLIT, TRAIN_SPLIT, compute_features, librispeech_root, list_speakers,
                          load_features, load_split, sample_batch, speaker_features, speaker_subset,
                          take_utterances)
from .synthetic import write_synthetic_an4, write_synthetic_corpus

__all__ = [
    "an4_root", "list_an4_speakers", "load_an4", "split_speakers",
    "SAMPLE_RATE", "dbfs", "normalize_volume", "read_audio", "resample", "to_mono",
    "baseline_eer", "baseline_embeddings", "mean_std_embedding", "run_baseline",
    "average_windows", "bootstrap_eer", "bootstrap_eer_difference", "eer", "embed_utterance", "enrolment_eer",
    "enrolment_scores", "enrolment_trials", "error_rates", "pairwise_eer", "pairwise_trials", "roc_points", "sliding_windows",
    "FeatureConfig", "feature_stats", "features_from_waveform", "mel_filterbank", "mel_spectrogram",
    "n_frames", "normalize_features", "stft", "trim_silence",
    "GE2E_GRAD_SCALE", "ge2e_accuracy", "ge2e_loss", "ge2e_similarity", "init_ge2e_params",
    "scale_ge2e_grads", "similarity_matrix",
    "MIN_FRAMES", "TEST_SPLIT", "TRAIN_SPLIT", "compute_features", "librispeech_root", "list_speakers",
    "load_features", "load_split", "sample_batch", "speaker_features", "speaker_subset", "take_utterances",
    "write_synthetic_an4", "write_synthetic_corpus",
]
