"""Waveforms: read a file, mix to mono, resample to 16 kHz, normalise the level.

A waveform is a 1-D float64 array x of L samples in [−1, 1] (full scale = amplitude 1).  Index letters:
l input sample, n output sample, j filter tap, c channel.

**Reading.**  FLAC/WAV (anything libsndfile reads) through the optional ``soundfile`` package, imported
only when a file is read (``pip install ttrnn_np[speech]``).  A (L, C) multichannel file is mixed down to
mono by averaging the channels.

**Resampling** from rate f_in to f_out, with p/q = f_out/f_in in lowest terms.  Output sample n sits at
input time t_n = n·q/p (in input samples) and is the windowed-sinc interpolation

    y[n] = Σ_l x[l] · h(t_n − l),     h(τ) = 2f_c · sinc(2f_c τ) · w(τ / τ_max),

a low-pass filter with cutoff f_c = ρ/2 · min(1, p/q) cycles per input sample (ρ < 1 leaves a transition
band below the lower Nyquist frequency, so nothing aliases), truncated to |τ| ≤ τ_max = Z/(2f_c) (Z zero
crossings of the sinc on each side) by a Kaiser window w(u) = I₀(β√(1−u²))/I₀(β).  The fractional part of
t_n repeats with period p, so there are only p distinct filters ("phases"): output samples n = r + p·k
share phase r, and each phase is one matrix–vector product over a strided view of x (polyphase form).
Each phase's taps are rescaled to sum to 1, so a constant signal passes unchanged.

**Level.**  dBFS(x) = 10·log₁₀(mean(x²)), the RMS level relative to a full-scale constant.  The paper
normalises every utterance to −30 dBFS and only ever *increases* the level (quiet recordings are boosted,
loud ones are left alone): gain g = 10^((target − dBFS(x))/20), applied when g > 1.
"""
from math import gcd
from pathlib import Path

import numpy as np

from ..errors import DataError

SAMPLE_RATE = 16000
TARGET_DBFS = -30.0


def _soundfile():
    """Import the optional ``soundfile`` package, or explain how to install it."""
    try:
        import soundfile
    except ImportError as error:
        raise ImportError(
            "reading audio files needs the optional 'soundfile' package; install it with "
            "`pip install ttrnn_np[speech]` (or `pip install soundfile`)"
        ) from error
    return soundfile


def to_mono(x):
    """Mix a (L,) or (L, C) waveform down to mono (L,) by averaging the channels."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        return x
    if x.ndim != 2:
        raise ValueError(f"expected a waveform of shape (L,) or (L, C), got shape {x.shape}")
    return x.mean(axis=1)  # (L,)


def read_audio(path, sample_rate=SAMPLE_RATE):
    """Read an audio file as a mono float64 waveform at ``sample_rate`` Hz (resampled if needed).

    Returns ``x`` of shape (L,) with values in [−1, 1].  A file libsndfile cannot decode (corrupt, truncated,
    not audio) or whose samples are not all finite raises ``errors.DataError`` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audio file not found: {path}")
    soundfile = _soundfile()
    try:
        data, file_rate = soundfile.read(str(path), dtype="float64", always_2d=True)  # (L, C)
    except (RuntimeError, getattr(soundfile, "SoundFileError", RuntimeError), EOFError) as err:  # libsndfile's errors do not name the file
        raise DataError(f"cannot decode the audio file {path}: {err}; the file is corrupt or truncated — "
                        "replace it (or remove it from the corpus)") from None
    if not np.all(np.isfinite(data)):
        raise DataError(f"the audio file {path} holds NaN or infinite samples; replace it (or remove it)")
    x = to_mono(data)  # (L,)
    return resample(x, file_rate, sample_rate)  # (L',)


def _kaiser(u, beta):
    """Kaiser window evaluated at u ∈ [−1, 1] (zero outside)."""
    inside = np.abs(u) <= 1.0
    root = np.sqrt(np.clip(1.0 - u**2, 0.0, None))  # same shape as u
    return np.where(inside, np.i0(beta * root) / np.i0(beta), 0.0)


def resample(x, rate_in, rate_out, zero_crossings=64, rolloff=0.94, beta=8.6):
    """Resample a mono waveform from ``rate_in`` to ``rate_out`` Hz by polyphase windowed-sinc interpolation.

    Output length is ⌈L·p/q⌉ (p/q = rate_out/rate_in in lowest terms); the input is taken as zero outside
    its ends.  ``zero_crossings`` (Z), ``rolloff`` (ρ) and ``beta`` (β) are the filter parameters of the
    module docstring.  With the defaults, tones up to 0.9 × the lower Nyquist frequency pass within 0.01 dB
    and tones from 1.01 × Nyquist on (which would alias) are attenuated by more than 90 dB.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"resample expects a mono waveform of shape (L,), got shape {x.shape}")
    for name, rate in (("rate_in", rate_in), ("rate_out", rate_out)):
        if int(rate) != rate or rate <= 0:
            raise ValueError(f"{name} must be a positive integer number of Hz, got {rate!r}")
    if not 0.0 < rolloff < 1.0:
        raise ValueError(f"rolloff must lie in (0, 1), got {rolloff}")
    rate_in, rate_out = int(rate_in), int(rate_out)
    if rate_in == rate_out:
        return x.copy()
    g = gcd(rate_in, rate_out)
    p, q = rate_out // g, rate_in // g
    f_c = 0.5 * rolloff * min(1.0, p / q)  # cutoff, cycles per input sample
    tau_max = zero_crossings / (2.0 * f_c)  # filter half-width, input samples
    K = int(np.ceil(tau_max))
    j = np.arange(-K + 1, K + 1)  # (2K,) tap offsets from ⌊t_n⌋
    L = x.shape[0]
    n_out = -(-L * p // q)
    x_pad = np.concatenate([np.zeros(K), x, np.zeros(K + 1)])  # (L + 2K + 1,)
    windows = np.lib.stride_tricks.sliding_window_view(x_pad, 2 * K)  # (L + 2, 2K)
    y = np.empty(n_out)  # (n_out,)
    for r in range(min(p, n_out)):
        start, frac = divmod(r * q, p)  # t_r = start + frac/p
        tau = frac / p - j  # (2K,) t_n − l for the taps l = ⌊t_n⌋ + j
        h = 2.0 * f_c * np.sinc(2.0 * f_c * tau) * _kaiser(tau / tau_max, beta)  # (2K,)
        h = h / h.sum()  # (2K,)
        n_phase = len(range(r, n_out, p))
        y[r::p] = windows[start + 1 :: q][:n_phase] @ h  # (n_phase,)
    return y


def dbfs(x):
    """RMS level of a waveform in dB relative to full scale: 10·log₁₀(mean(x²)) (−inf for silence)."""
    x = np.asarray(x, dtype=np.float64)
    power = np.mean(x**2) if x.size else 0.0
    return 10.0 * np.log10(power) if power > 0 else -np.inf


def normalize_volume(x, target_dbfs=TARGET_DBFS, increase_only=True):
    """Scale a waveform to ``target_dbfs`` RMS level; with ``increase_only`` never make it quieter.

    Silence (all zeros) is returned unchanged.
    """
    x = np.asarray(x, dtype=np.float64)
    level = dbfs(x)
    if not np.isfinite(level):
        return x.copy()
    gain_db = target_dbfs - level
    if increase_only and gain_db <= 0:
        return x.copy()
    return x * 10.0 ** (gain_db / 20.0)  # (L,)
