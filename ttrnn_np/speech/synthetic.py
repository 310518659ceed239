"""A tiny FAKE speech corpus in the shared sample's layout, for tests and for running tutorials without data.

Index letters: l sample (L per utterance, 16 kHz), k harmonic (K below 7 kHz).

**NOT SPEECH.**  Speaker s is a harmonic buzz with its own pitch f0_s (log-uniform in 80–320 Hz) and two
resonances ("formants") F1_s ∈ [300, 900] Hz, F2_s ∈ [1000, 2800] Hz.  Harmonic k of the pitch gets the gain

    g_k = Σ_F exp(−(k·f0 − F)² / (2 · 150²)) + 0.05        (F ∈ {F1_s, F2_s}),

and every utterance draws its own slow pitch jitter (±3 %), syllable-like envelope and noise, so two
utterances of one speaker share f0 and the resonances but never the waveform.  Feature and loader code runs
on it exactly as on LibriSpeech and AN4; numbers measured on it mean nothing about speech.

``write_synthetic_corpus`` writes the LibriSpeech sample's layout, ``write_synthetic_an4`` AN4's (a folder of
WAV files per speaker, and a ``speakers.tsv``).
"""
import wave
from pathlib import Path

import numpy as np

from .audio import SAMPLE_RATE
from .librispeech import TEST_SPLIT, TRAIN_SPLIT


def synthetic_voice(f0, formants, seconds, rng, sample_rate=SAMPLE_RATE):
    """A buzz at pitch f0 (Hz, ±3 % slow jitter) through the resonances ``formants`` (Hz), peak 0.5.  (L,)"""
    t = np.arange(int(seconds * sample_rate)) / sample_rate  # (L,)
    pitch = f0 * (1.0 + 0.03 * np.sin(2 * np.pi * rng.uniform(0.5, 2.0) * t + rng.uniform(0, 2 * np.pi)))  # (L,)
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate  # (L,)
    k = np.arange(1, int(7000 // f0) + 1)  # (K,) harmonics below 7 kHz
    gain = sum(np.exp(-0.5 * ((k * f0 - F) / 150.0) ** 2) for F in formants) + 0.05  # (K,)
    x = np.sin(np.outer(phase, k)) @ gain  # (L,)
    envelope = 0.2 + 0.8 * np.abs(np.sin(np.pi * rng.uniform(3.0, 6.0) * t + rng.uniform(0, np.pi)))  # (L,)
    x = x * envelope + 0.02 * gain.sum() * rng.standard_normal(t.shape)  # (L,)
    return 0.5 * x / np.abs(x).max()  # (L,)


def write_wav(path, x):
    """A mono 16-bit 16 kHz WAV file of the waveform x (L,) in [−1, 1]."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(SAMPLE_RATE)
        f.writeframes((x * 32767).astype("<i2").tobytes())


def _random_voice(rng):
    """A speaker's pitch f0 (Hz) and two resonances (Hz)."""
    return np.exp(rng.uniform(np.log(80), np.log(320))), (rng.uniform(300, 900), rng.uniform(1000, 2800))


def write_synthetic_an4(root, n_speakers=16, utterances=(8, 12), seconds=1.2, seed=0):
    """Write a fake corpus in AN4's layout (16-bit WAV, 16 kHz); returns ``root`` as a Path.

    ``root/wav/an4_clstk/SPEAKER/uNN-SPEAKER.wav`` for speakers ``s000``, ``s001``, …, each with a number of
    utterances drawn from ``utterances`` (low, high inclusive), each lasting ``seconds`` to 1.5 × ``seconds``;
    and ``root/speakers.tsv`` listing them.  The same ``seed`` writes the same files.
    """
    rng = np.random.default_rng(seed)
    root = Path(root)
    rows = ["split\tspeaker\tn_utts"]
    for k in range(n_speakers):
        speaker = f"s{k:03d}"
        f0, formants = _random_voice(rng)
        count = int(rng.integers(utterances[0], utterances[1] + 1))
        for u in range(count):
            x = synthetic_voice(f0, formants, seconds * rng.uniform(1.0, 1.5), rng)  # (L,)
            write_wav(root / "wav" / "an4_clstk" / speaker / f"u{u:02d}-{speaker}.wav", x)
        rows.append(f"an4_clstk\t{speaker}\t{count}")
    (root / "speakers.tsv").write_text("\n".join(rows) + "\n")
    return root


def write_synthetic_corpus(root, n_train=24, n_test=6, test_utterances=10, seconds=3.0, seed=0):
    """Write a fake corpus (16-bit WAV, 16 kHz) in the shared sample's layout; returns ``root`` as a Path.

    ``root/train-clean-100/S/1/S-1-0000.wav``: one utterance per training speaker (like the sample), speakers
    1000, 1001, …; ``root/test-other/S/1/S-1-UUUU.wav``: ``test_utterances`` per test speaker, speakers 9000, ….
    Each utterance lasts ``seconds`` to 1.4 × ``seconds``; utterances of ≥ 2 s keep at least the 160 frames an
    evaluation window needs.  The same ``seed`` writes the same files.
    """
    rng = np.random.default_rng(seed)
    root = Path(root)
    for split, first, count, utterances in ((TRAIN_SPLIT, 1000, n_train, 1),
                                            (TEST_SPLIT, 9000, n_test, test_utterances)):
        for speaker in range(first, first + count):
            f0, formants = _random_voice(rng)
            for u in range(utterances):
                x = synthetic_voice(f0, formants, seconds * rng.uniform(1.0, 1.4), rng)  # (L,)
                write_wav(root / split / str(speaker) / "1" / f"{speaker}-1-{u:04d}.wav", x)
    return root
