"""Speech features: STFT, mel filterbank, (log-)mel spectrogram, silence trimming, normalisation.

Index letters: l sample, t frame, n sample within a frame, k frequency bin (K = n_fft/2 + 1 bins),
m mel channel (M channels), u silence-detection frame.

**STFT.**  Frame t starts at sample t·hop (no centre padding, no padding at the end), so an L-sample
waveform has T = 1 + ⌊(L − n_fft)/hop⌋ frames when L ≥ n_fft and none otherwise.  With the periodic Hann
window w[n] = ½ − ½cos(2πn/n_fft):

    X[t, k] = Σ_n w[n] · x[t·hop + n] · exp(−2πi·k·n/n_fft),     P[t, k] = |X[t, k]|²   (power).

**Mel filterbank** (HTK mel scale, mel(f) = 2595·log₁₀(1 + f/700)).  M + 2 points equally spaced in mel
from mel(f_min) to mel(f_max) give edge frequencies f_0 < … < f_{M+1} (Hz).  Channel m (1 ≤ m ≤ M) is a
triangle rising from f_{m−1} to its centre f_m and falling to f_{m+1}, sampled at the bin frequencies
k·sr/n_fft and scaled by 2/(f_{m+1} − f_{m−1}) so every triangle has unit area in Hz ("area" or Slaney
normalisation: wide high channels are not favoured over narrow low ones).

**Mel spectrogram** S[t, m] = Σ_k P[t, k]·F[m, k], 40 channels, n_fft 400 (25 ms), hop 160 (10 ms) at
16 kHz.  The paper feeds S itself (mel *power*).  We default to log-compression log(S + ε), ε = 1e-6:
power spans many decades and the log makes the input to the LSTM roughly Gaussian; ``log=False`` gives
the paper's features.  For a −30 dBFS utterance the loudest mel values are of order 1, so ε floors
everything about 60 dB below them (background noise between words).

**Silence trimming** (the paper uses the webrtcvad voice detector; we use frame energy).  Non-overlapping
frames u of ``frame_ms`` (default 30 ms; an incomplete last frame is dropped) have energy
e_u = Σ x² over the frame.  A frame is voiced when e_u > 0 and e_u ≥ max_u e_u · 10^(threshold_db/10)
(default −40 dB below the loudest frame).  The voiced flags are smoothed by a moving average over
``smooth_frames`` frames (default 8, majority vote ≥ ½: isolated clicks go, short gaps close; with an
even width a voiced run also grows by one frame at its end) and then dilated by ``pad_frames`` frames on
each side (default 7 = 210 ms).  So pauses up to about 2·pad_frames frames (≈ 420 ms) are kept whole,
longer ones shrink to ≈ 210 ms of silence on each side of the speech, and a silent waveform trims to
nothing.  These mirror the reference's VAD settings (30 ms windows, moving average 8, dilation 7).

**Normalisation** for the model input: (S − μ)/σ per mel channel, with μ, σ either of one utterance or
of a whole training set (``feature_stats``).
"""
import numbers
from dataclasses import dataclass

import numpy as np

from .audio import SAMPLE_RATE, TARGET_DBFS, normalize_volume

N_FFT = 400
HOP = 160
N_MELS = 40
LOG_EPS = 1e-6


@dataclass(frozen=True)
class FeatureConfig:
    """Every parameter of the waveform → feature pipeline (also the cache key of stored features)."""

    sample_rate: int = SAMPLE_RATE
    n_fft: int = N_FFT
    hop: int = HOP
    n_mels: int = N_MELS
    f_min: float = 0.0
    f_max: float | None = None
    log: bool = True
    log_eps: float = LOG_EPS
    target_dbfs: float | None = TARGET_DBFS
    trim: bool = True
    trim_threshold_db: float = -40.0
    trim_frame_ms: float = 30.0
    trim_smooth_frames: int = 8
    trim_pad_frames: int = 7


def n_frames(n_samples, n_fft=N_FFT, hop=HOP):
    """Number of STFT frames of an ``n_samples`` waveform: 1 + ⌊(L − n_fft)/hop⌋, or 0 when L < n_fft."""
    return 0 if n_samples < n_fft else 1 + (n_samples - n_fft) // hop


def _check_waveform(x):
    x = np.asarray(x, dtype=np.float64)  # (L,)
    if x.ndim != 1:
        raise ValueError(f"expected a mono waveform of shape (L,), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        bad = int(np.sum(~np.isfinite(x)))
        raise ValueError(f"expected a finite waveform, got {bad} NaN or infinite samples of {x.shape[0]} "
                         "(it would become silence and the utterance would be dropped)")
    return x


def frame_signal(x, n_fft=N_FFT, hop=HOP):
    """Cut a waveform into overlapping frames: (T, n_fft), frame t = x[t·hop : t·hop + n_fft] (a read-only view)."""
    x = _check_waveform(x)
    if n_fft < 1 or hop < 1:
        raise ValueError(f"n_fft and hop must be positive integers, got n_fft={n_fft}, hop={hop}")
    T = n_frames(x.shape[0], n_fft, hop)
    if T == 0:
        return np.zeros((0, n_fft))  # (0, n_fft)
    return np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop][:T]  # (T, n_fft)


def hann_window(n_fft):
    """Periodic Hann window w[n] = ½ − ½cos(2πn/n_fft), shape (n_fft,)."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)  # (n_fft,)


def stft(x, n_fft=N_FFT, hop=HOP):
    """Short-time Fourier transform X[t, k] of shape (T, n_fft//2 + 1), complex."""
    frames = frame_signal(x, n_fft, hop)  # (T, n_fft)
    return np.fft.rfft(frames * hann_window(n_fft), axis=1)  # (T, K)


def power_spectrogram(x, n_fft=N_FFT, hop=HOP):
    """P[t, k] = |X[t, k]|², shape (T, n_fft//2 + 1)."""
    return np.abs(stft(x, n_fft, hop)) ** 2  # (T, K)


def hz_to_mel(f):
    """HTK mel scale: 2595·log₁₀(1 + f/700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)  # same shape as f


def mel_to_hz(mel):
    """Inverse of ``hz_to_mel``: 700·(10^(mel/2595) − 1)."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)  # same shape as mel


def mel_band_edges(n_mels=N_MELS, sample_rate=SAMPLE_RATE, f_min=0.0, f_max=None):
    """The M + 2 frequencies f_0 … f_{M+1} (Hz); channel m has centre f_m (so centres are edges[1:-1])."""
    f_max = sample_rate / 2.0 if f_max is None else f_max
    if not 0.0 <= f_min < f_max <= sample_rate / 2.0:
        raise ValueError(
            f"need 0 ≤ f_min < f_max ≤ sample_rate/2 = {sample_rate / 2}, got f_min={f_min}, f_max={f_max}"
        )
    mels = np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2)  # (M + 2,)
    return mel_to_hz(mels)  # (M + 2,)


def mel_filterbank(n_mels=N_MELS, n_fft=N_FFT, sample_rate=SAMPLE_RATE, f_min=0.0, f_max=None):
    """Triangular HTK-mel filters with unit area in Hz, F[m, k] of shape (n_mels, n_fft//2 + 1).

    Every filter must catch at least one FFT bin: too many mels for ``n_fft`` (e.g. 256 mels at n_fft 512,
    where 43 low filters fall between two bins) raises instead of returning all-zero channels.
    """
    if not (isinstance(n_mels, numbers.Integral) and n_mels >= 1):
        raise ValueError(f"n_mels must be a positive integer, got {n_mels!r}")
    if not (isinstance(n_fft, numbers.Integral) and n_fft >= 2):
        raise ValueError(f"n_fft must be an integer >= 2, got {n_fft!r}")
    edges = mel_band_edges(n_mels, sample_rate, f_min, f_max)  # (M + 2,)
    f_k = np.arange(n_fft // 2 + 1) * sample_rate / n_fft  # (K,)
    left, centre, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # (M, 1) each
    rising = (f_k - left) / (centre - left)  # (M, K)
    falling = (right - f_k) / (right - centre)  # (M, K)
    triangles = np.clip(np.minimum(rising, falling), 0.0, None)  # (M, K)
    empty = np.flatnonzero(~np.any(triangles > 0, axis=1))  # (E,)
    if empty.size:
        raise ValueError(f"{empty.size} of n_mels={n_mels} filters catch no FFT bin at n_fft={n_fft} "
                         f"(bins {sample_rate / n_fft:.1f} Hz apart; first empty filter {empty[0]}): use fewer mels "
                         "or a larger n_fft")
    return triangles * (2.0 / (right - left))  # (M, K)


def mel_spectrogram(x, sample_rate=SAMPLE_RATE, n_mels=N_MELS, n_fft=N_FFT, hop=HOP,
                    f_min=0.0, f_max=None, log=True, log_eps=LOG_EPS):
    """(Log-)mel spectrogram S[t, m] of shape (T, n_mels), T = ``n_frames(len(x), n_fft, hop)``.

    ``log=True`` (default) returns log(S + log_eps); ``log=False`` the mel power S of the paper.
    """
    P = power_spectrogram(x, n_fft, hop)  # (T, K)
    F = mel_filterbank(n_mels, n_fft, sample_rate, f_min, f_max)  # (M, K)
    S = P @ F.T  # (T, M)
    return np.log(S + log_eps) if log else S  # (T, M)


def _centred_sum(flags, width):
    """Moving sum of ``width`` neighbours around each position (zeros beyond the ends), same length."""
    full = np.convolve(flags.astype(np.float64), np.ones(width))  # (U + width − 1,)
    offset = (width - 1) // 2
    return full[offset : offset + flags.shape[0]]  # (U,)


def voiced_frames(x, sample_rate=SAMPLE_RATE, threshold_db=-40.0, frame_ms=30.0, smooth_frames=8,
                  pad_frames=7):
    """The keep/drop decision per ``frame_ms`` frame of the trimming rule (module docstring), (U,) bool."""
    x = _check_waveform(x)
    frame_len = int(round(sample_rate * frame_ms / 1000.0))
    if frame_len < 1 or smooth_frames < 1 or pad_frames < 0:
        raise ValueError(
            f"need frame_ms giving ≥ 1 sample, smooth_frames ≥ 1 and pad_frames ≥ 0, got "
            f"frame_ms={frame_ms}, smooth_frames={smooth_frames}, pad_frames={pad_frames}"
        )
    U = x.shape[0] // frame_len
    e = np.sum(x[: U * frame_len].reshape(U, frame_len) ** 2, axis=1)  # (U,)
    if U == 0 or e.max() == 0.0:
        return np.zeros(U, dtype=bool)  # (U,)
    voiced = (e > 0) & (e >= e.max() * 10.0 ** (threshold_db / 10.0))  # (U,)
    smoothed = _centred_sum(voiced, smooth_frames) >= 0.5 * smooth_frames  # (U,)
    return _centred_sum(smoothed, 2 * pad_frames + 1) > 0  # (U,)


def trim_silence(x, sample_rate=SAMPLE_RATE, threshold_db=-40.0, frame_ms=30.0, smooth_frames=8,
                 pad_frames=7):
    """Remove long silences (module docstring): the samples of the kept frames, concatenated, (L',)."""
    x = _check_waveform(x)
    keep = voiced_frames(x, sample_rate, threshold_db, frame_ms, smooth_frames, pad_frames)  # (U,)
    frame_len = int(round(sample_rate * frame_ms / 1000.0))
    mask = np.repeat(keep, frame_len)  # (U·frame_len,)
    return x[: mask.shape[0]][mask]  # (L',)


def features_from_waveform(x, config=FeatureConfig()):
    """The whole pipeline on a waveform at ``config.sample_rate``: volume → trim → (log-)mel, (T, n_mels)."""
    x = _check_waveform(x)
    if config.target_dbfs is not None:
        x = normalize_volume(x, config.target_dbfs, increase_only=True)  # (L,)
    if config.trim:
        x = trim_silence(x, config.sample_rate, config.trim_threshold_db, config.trim_frame_ms,
                         config.trim_smooth_frames, config.trim_pad_frames)  # (L',)
    return mel_spectrogram(x, config.sample_rate, config.n_mels, config.n_fft, config.hop,
                           config.f_min, config.f_max, config.log, config.log_eps)  # (T, M)


def feature_stats(features):
    """Per-channel mean and std over all frames of a list of (T_i, M) arrays: two (M,) arrays."""
    features = list(features)
    if not features:
        raise ValueError("feature_stats needs at least one (T, M) feature array, got an empty list")
    frames = np.concatenate([np.asarray(f, dtype=np.float64) for f in features], axis=0)  # (ΣT_i, M)
    if frames.ndim != 2 or frames.shape[0] == 0:
        raise ValueError(f"expected (T, M) feature arrays with at least one frame, got {frames.shape} in total")
    return frames.mean(axis=0), frames.std(axis=0)  # (M,), (M,)


def normalize_features(S, mean=None, std=None, eps=1e-8):
    """(S − μ)/(σ + eps) per channel; μ, σ default to the utterance's own statistics.  (T, M) → (T, M)."""
    S = np.asarray(S, dtype=np.float64)  # (T, M)
    if S.ndim != 2:
        raise ValueError(f"expected features of shape (T, M), got shape {S.shape}")
    if (mean is None) != (std is None):
        raise ValueError("give both mean and std (global statistics) or neither (per-utterance statistics)")
    if mean is None:
        if S.shape[0] == 0:
            raise ValueError("cannot normalise an utterance with 0 frames by its own statistics")
        mean, std = S.mean(axis=0), S.std(axis=0)  # (M,), (M,)
    return (S - mean) / (np.asarray(std) + eps)  # (T, M)
