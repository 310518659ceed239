"""Tests for ttrnn_np.speech.audio and ttrnn_np.speech.features on synthetic signals."""
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ttrnn_np.errors import DataError
from ttrnn_np.speech.audio import _kaiser, dbfs, normalize_volume, read_audio, resample, to_mono
from ttrnn_np.speech.features import (FeatureConfig, feature_stats, features_from_waveform, frame_signal,
                                      hann_window, hz_to_mel, mel_band_edges, mel_filterbank, mel_spectrogram,
                                      mel_to_hz, n_frames, normalize_features, stft, trim_silence, voiced_frames)

SR = 16000


def tone(f, seconds, rate=SR, amplitude=0.5):
    return amplitude * np.sin(2 * np.pi * f * np.arange(int(round(seconds * rate))) / rate)


def peak_frequency(x, rate):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.argmax(spectrum) * rate / len(x)


# ---------------------------------------------------------------- resampling


@pytest.mark.parametrize("rate_in, rate_out", [(44100, 16000), (48000, 16000), (8000, 16000), (22050, 16000),
                                               (16000, 44100)])
def test_resample_keeps_a_tone(rate_in, rate_out):
    x = tone(1000.0, 1.0, rate_in)
    y = resample(x, rate_in, rate_out)
    assert y.shape == (rate_out,)
    expected = tone(1000.0, 1.0, rate_out)
    interior = slice(rate_out // 10, -rate_out // 10)
    np.testing.assert_allclose(y[interior], expected[interior], atol=1e-4)
    assert abs(peak_frequency(y, rate_out) - 1000.0) <= 1.0


@pytest.mark.parametrize("f, gain_db", [(3000.0, 0.0), (7200.0, 0.0), (8080.0, -90.0), (9000.0, -90.0),
                                       (12000.0, -90.0)])
def test_resample_passes_the_band_and_removes_frequencies_above_the_new_nyquist(f, gain_db):
    y = resample(tone(f, 1.0, 44100, amplitude=1.0), 44100, 16000)
    level = 20 * np.log10(np.sqrt(2 * np.mean(y[2000:-2000] ** 2)))
    assert level == pytest.approx(0.0, abs=0.01) if gain_db == 0.0 else level < gain_db


def test_resample_keeps_a_constant_and_the_identity():
    y = resample(np.ones(4410), 44100, 16000)
    np.testing.assert_allclose(y[200:-200], 1.0, atol=1e-12)
    x = np.random.default_rng(0).normal(size=100)
    np.testing.assert_array_equal(resample(x, 16000, 16000), x)


def direct_resample(x, rate_in, rate_out, zero_crossings=64, rolloff=0.94, beta=8.6):
    """y[n] = Σ_l x[l] h(t_n − l) / Σ_l h(t_n − l) over all integers l, one output sample at a time."""
    f_c = 0.5 * rolloff * min(1.0, rate_out / rate_in)
    tau_max = zero_crossings / (2 * f_c)
    n_out = -(-len(x) * rate_out // rate_in)
    y = np.zeros(n_out)
    for n in range(n_out):
        t = n * rate_in / rate_out
        ls = np.arange(int(np.floor(t - tau_max)) - 1, int(np.ceil(t + tau_max)) + 2)
        h = 2 * f_c * np.sinc(2 * f_c * (t - ls)) * _kaiser((t - ls) / tau_max, beta)
        inside = (ls >= 0) & (ls < len(x))
        y[n] = np.sum(h[inside] * x[ls[inside]]) / np.sum(h)
    return y


@settings(max_examples=25, deadline=None)
@given(rates=st.sampled_from([(8000, 16000), (16000, 8000), (11025, 16000), (16000, 22050), (48000, 16000),
                              (3, 7), (7, 3)]),
       length=st.integers(1, 60), seed=st.integers(0, 2**16))
def test_resample_matches_the_direct_formula(rates, length, seed):
    x = np.random.default_rng(seed).normal(size=length)
    np.testing.assert_allclose(resample(x, *rates), direct_resample(x, *rates), atol=1e-10)


def test_resample_rejects_bad_input():
    with pytest.raises(ValueError, match="mono waveform"):
        resample(np.zeros((10, 2)), 8000, 16000)
    with pytest.raises(ValueError, match="rate_in must be a positive integer"):
        resample(np.zeros(10), 0, 16000)
    with pytest.raises(ValueError, match="rate_out must be a positive integer"):
        resample(np.zeros(10), 8000, 16000.5)
    with pytest.raises(ValueError, match="rolloff"):
        resample(np.zeros(10), 8000, 16000, rolloff=1.0)


# ---------------------------------------------------------------- level, mono, reading files


def test_dbfs_of_known_signals():
    assert dbfs(np.ones(100)) == pytest.approx(0.0)
    assert dbfs(tone(1000, 1.0, amplitude=1.0)) == pytest.approx(-3.0103, abs=1e-3)
    assert dbfs(np.zeros(10)) == -np.inf


def test_normalize_volume_raises_quiet_and_keeps_loud_signals():
    quiet = tone(440, 0.5, amplitude=0.001)
    assert dbfs(normalize_volume(quiet)) == pytest.approx(-30.0)
    loud = tone(440, 0.5, amplitude=0.5)
    np.testing.assert_array_equal(normalize_volume(loud), loud)
    assert dbfs(normalize_volume(loud, increase_only=False)) == pytest.approx(-30.0)
    np.testing.assert_array_equal(normalize_volume(np.zeros(5)), np.zeros(5))


def test_to_mono_averages_channels():
    x = np.stack([np.ones(4), 3 * np.ones(4)], axis=1)
    np.testing.assert_array_equal(to_mono(x), 2 * np.ones(4))
    with pytest.raises(ValueError, match=r"\(L,\) or \(L, C\)"):
        to_mono(np.zeros((2, 2, 2)))


@pytest.mark.parametrize("suffix, rate", [(".wav", 8000), (".flac", 16000), (".flac", 44100)])
def test_read_audio_gives_mono_16k(tmp_path, suffix, rate):
    soundfile = pytest.importorskip("soundfile")
    stereo = np.stack([tone(500, 0.5, rate), tone(500, 0.5, rate)], axis=1)
    path = tmp_path / f"a{suffix}"
    soundfile.write(path, stereo, rate)
    x = read_audio(path)
    assert x.ndim == 1 and x.dtype == np.float64 and len(x) == SR // 2
    assert abs(peak_frequency(x, SR) - 500) <= 2.0


def test_read_audio_errors(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="audio file not found"):
        read_audio(tmp_path / "missing.flac")
    (tmp_path / "a.wav").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "soundfile", None)
    with pytest.raises(ImportError, match=r"pip install ttrnn_np\[speech\]"):
        read_audio(tmp_path / "a.wav")


# ---------------------------------------------------------------- STFT and frame counts


def direct_stft(x, n_fft, hop):
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    T = 1 + (len(x) - n_fft) // hop
    X = np.zeros((T, n_fft // 2 + 1), dtype=complex)
    for t in range(T):
        for k in range(n_fft // 2 + 1):
            for n in range(n_fft):
                X[t, k] += w[n] * x[t * hop + n] * np.exp(-2j * np.pi * k * n / n_fft)
    return X


@pytest.mark.parametrize("length, n_fft, hop", [(100, 16, 4), (101, 15, 7), (70, 32, 32)])
def test_stft_matches_direct_dft(length, n_fft, hop):
    x = np.random.default_rng(length).normal(size=length)
    np.testing.assert_allclose(stft(x, n_fft, hop), direct_stft(x, n_fft, hop), atol=1e-10)


def test_hann_window_is_periodic():
    w = hann_window(8)
    np.testing.assert_allclose(w, [0, 0.1464466, 0.5, 0.8535534, 1, 0.8535534, 0.5, 0.1464466], atol=1e-7)


@pytest.mark.parametrize("length, expected", [(0, 0), (399, 0), (400, 1), (559, 1), (560, 2), (16000, 98),
                                              (16160, 99)])
def test_frame_count_formula(length, expected):
    x = np.random.default_rng(1).normal(size=length)
    assert n_frames(length) == expected
    assert mel_spectrogram(x).shape == (expected, 40)
    assert mel_spectrogram(x, log=False).shape == (expected, 40)


@settings(max_examples=40, deadline=None)
@given(length=st.integers(0, 3000), n_fft=st.integers(1, 400), hop=st.integers(1, 200))
def test_frames_are_the_windows_at_multiples_of_hop(length, n_fft, hop):
    x = np.arange(length, dtype=float)
    frames = frame_signal(x, n_fft, hop)
    T = max(0, 1 + (length - n_fft) // hop) if length >= n_fft else 0
    assert frames.shape == (T, n_fft) == (n_frames(length, n_fft, hop), n_fft)
    for t in range(T):
        np.testing.assert_array_equal(frames[t], x[t * hop : t * hop + n_fft])


def test_frame_signal_errors():
    with pytest.raises(ValueError, match="mono waveform"):
        frame_signal(np.zeros((3, 400)))
    with pytest.raises(ValueError, match="positive integers"):
        frame_signal(np.zeros(500), n_fft=400, hop=0)


# ---------------------------------------------------------------- mel filterbank and spectrogram


def test_mel_scale_round_trip_and_anchor():
    f = np.array([0.0, 100.0, 1000.0, 7999.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(f)), f, atol=1e-9)
    assert hz_to_mel(1000.0) == pytest.approx(1000.0, abs=0.05)


def test_mel_filterbank_shape_and_unit_area():
    F = mel_filterbank()
    assert F.shape == (40, 201)
    assert np.all(F >= 0)
    area = F.sum(axis=1) * SR / 400
    np.testing.assert_allclose(area, 1.0, atol=0.1)
    edges = mel_band_edges()
    np.testing.assert_allclose(np.diff(hz_to_mel(edges)), np.diff(hz_to_mel(edges))[0])
    assert edges[0] == 0.0 and edges[-1] == pytest.approx(SR / 2)


def test_mel_filterbank_errors():
    with pytest.raises(ValueError, match="f_max"):
        mel_filterbank(f_max=9000.0)
    with pytest.raises(ValueError, match="n_mels"):
        mel_filterbank(n_mels=0)


@pytest.mark.parametrize("offset", [0.0, -0.2, 0.2])
def test_tone_peaks_in_the_nearest_mel_band(offset):
    centres = mel_band_edges()[1:-1]
    for m in range(8, 40):
        gap = centres[m] - centres[m - 1] if offset < 0 else centres[min(m + 1, 39)] - centres[m]
        f = centres[m] + offset * gap
        S = mel_spectrogram(tone(f, 0.2))
        assert np.argmax(S.mean(axis=0)) == np.argmin(np.abs(centres - f)) == m


def test_log_mel_is_log_of_power_mel():
    x = np.random.default_rng(2).normal(size=2000)
    np.testing.assert_allclose(mel_spectrogram(x), np.log(mel_spectrogram(x, log=False) + 1e-6))


# ---------------------------------------------------------------- silence trimming


@pytest.mark.parametrize("gap", ["zeros", "noise"])
def test_trim_removes_long_silence_in_the_middle_and_at_the_ends(gap):
    rng = np.random.default_rng(3)
    n = 32 * 480  # 32 trimming frames of 30 ms
    silence = np.zeros(n) if gap == "zeros" else 1e-4 * rng.normal(size=n)
    a, b = tone(300, n / SR), tone(600, n / SR)
    x = np.concatenate([silence, a, silence, b, silence])
    y = trim_silence(x)
    # each tone keeps 7 frames of padding on both sides, plus 1 frame after it from the even (8) smoothing width
    assert len(y) == len(a) + len(b) + 2 * (2 * 7 + 1) * 480
    np.testing.assert_allclose(np.sum(y**2), np.sum(a**2) + np.sum(b**2), rtol=1e-6)


def test_trim_keeps_short_pauses():
    x = np.concatenate([tone(300, 0.96), np.zeros(int(0.3 * SR)), tone(300, 0.96)])
    np.testing.assert_array_equal(trim_silence(x), x[: len(x) // 480 * 480])


def test_trim_silence_of_silence_is_empty():
    assert trim_silence(np.zeros(SR)).shape == (0,)
    assert trim_silence(np.zeros(100)).shape == (0,)


def test_voiced_frames_errors():
    with pytest.raises(ValueError, match="smooth_frames"):
        voiced_frames(np.zeros(1000), smooth_frames=0)
    with pytest.raises(ValueError, match="mono waveform"):
        trim_silence(np.zeros((2, 1000)))


# ---------------------------------------------------------------- pipeline and normalisation


def test_pipeline_is_level_invariant_for_quiet_input_and_plain_mel_without_steps():
    x = np.concatenate([np.zeros(SR), tone(440, 1.0, amplitude=0.01)])
    S = features_from_waveform(x)
    np.testing.assert_allclose(features_from_waveform(0.1 * x), S, atol=1e-9)
    assert S.shape == (n_frames(len(trim_silence(x))), 40)
    plain = FeatureConfig(trim=False, target_dbfs=None, log=False)
    np.testing.assert_array_equal(features_from_waveform(x, plain), mel_spectrogram(x, log=False))


def test_feature_normalisation_global_and_per_utterance():
    rng = np.random.default_rng(4)
    utterances = [rng.normal(3.0, 2.0, size=(T, 5)) for T in (10, 20, 7)]
    mean, std = feature_stats(utterances)
    pooled = np.concatenate([normalize_features(S, mean, std) for S in utterances])
    np.testing.assert_allclose(pooled.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(pooled.std(axis=0), 1.0, atol=1e-6)
    own = normalize_features(utterances[0])
    np.testing.assert_allclose(own.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(own.std(axis=0), 1.0, atol=1e-6)


def test_feature_normalisation_errors():
    with pytest.raises(ValueError, match="empty list"):
        feature_stats([])
    with pytest.raises(ValueError, match="both mean and std"):
        normalize_features(np.zeros((3, 2)), mean=np.zeros(2))
    with pytest.raises(ValueError, match=r"shape \(T, M\)"):
        normalize_features(np.zeros(3))
    with pytest.raises(ValueError, match="0 frames"):
        normalize_features(np.zeros((0, 2)))


def test_non_finite_waveforms_and_impossible_filterbanks_are_refused():
    x = np.sin(np.arange(4000) / 7.0)  # (L,)
    x[100] = np.nan
    with pytest.raises(ValueError, match="expected a finite waveform, got 1 NaN or infinite samples of 4000"):
        features_from_waveform(x)
    with pytest.raises(ValueError, match="n_fft must be an integer >= 2, got 0"):
        mel_filterbank(40, 0)
    with pytest.raises(ValueError, match=r"\d+ of n_mels=256 filters catch no FFT bin at n_fft=512"):
        mel_filterbank(256, 512)
    F = mel_filterbank()  # the defaults: every one of the 40 filters catches a bin
    assert F.shape == (40, 201) and np.all(F.max(axis=1) > 0)


def test_an_undecodable_audio_file_is_named(tmp_path):
    pytest.importorskip("soundfile")
    bad = tmp_path / "1-2-3.flac"
    bad.write_bytes(b"fLaC" + bytes(100))  # a FLAC header and nothing readable after it
    with pytest.raises(DataError, match=f"cannot decode the audio file {bad}: .*corrupt or truncated"):
        read_audio(bad)
