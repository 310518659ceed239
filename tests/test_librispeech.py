"""Tests for ttrnn_np.speech.librispeech: discovery, feature cache, GE2E batches, and the real sample."""
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ttrnn_np.errors import DataError
from ttrnn_np.speech import librispeech
from ttrnn_np.speech.audio import read_audio
from ttrnn_np.speech.baseline import run_baseline
from ttrnn_np.speech.features import FeatureConfig, features_from_waveform
from ttrnn_np.speech.librispeech import (cache_path, compute_features, librispeech_root, list_speakers,
                                         load_features, load_split, parse_utterance_id, sample_batch,
                                         speaker_features, speaker_subset, take_utterances)

soundfile = pytest.importorskip("soundfile")
SR = 16000
# (speaker, chapter, utterance, seconds); speaker 19 sorts before 103 numerically, chapter 9 before 10
UTTERANCES = [(103, 10, 0, 2.0), (103, 9, 1, 1.8), (103, 9, 0, 0.5), (19, 198, 2, 1.9), (19, 198, 0, 2.1)]


def write_utterance(path, speaker, seconds):
    t = np.arange(int(seconds * SR)) / SR
    x = 0.3 * np.sin(2 * np.pi * (150 + speaker) * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, x, SR)


def make_corpus(root, layout, suffix=".flac"):
    for speaker, chapter, utt, seconds in UTTERANCES:
        name = f"{speaker}-{chapter}-{utt:04d}{suffix}"
        folder = {"nested": root / str(speaker) / str(chapter), "speaker": root / str(speaker), "flat": root}
        write_utterance(folder[layout] / name, speaker, seconds)
    return root


@pytest.fixture
def corpus(tmp_path):
    return make_corpus(tmp_path / "split", "nested")


# ---------------------------------------------------------------- discovery


@pytest.mark.parametrize("layout", ["nested", "speaker", "flat"])
def test_list_speakers_in_every_layout_is_sorted_numerically(tmp_path, layout):
    root = make_corpus(tmp_path / layout, layout, ".wav" if layout == "flat" else ".flac")
    (root / "README.TXT").write_text("not audio")
    (root / "notes.flac").write_bytes(b"")
    speakers = list_speakers(root)
    assert list(speakers) == ["19", "103"]
    names = {s: [p.stem for p in paths] for s, paths in speakers.items()}
    assert names == {"19": ["19-198-0000", "19-198-0002"], "103": ["103-9-0000", "103-9-0001", "103-10-0000"]}


def test_list_speakers_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="speech data directory not found"):
        list_speakers(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no audio files named SPEAKER-CHAPTER-UTT"):
        list_speakers(tmp_path / "empty")
    write_utterance(tmp_path / "dup" / "1-2-0003.flac", 1, 0.1)
    write_utterance(tmp_path / "dup" / "1" / "1-2-0003.wav", 1, 0.1)
    with pytest.raises(ValueError, match="appears twice"):
        list_speakers(tmp_path / "dup")


def test_parse_utterance_id():
    assert parse_utterance_id("/a/b/1688-142285-0007.flac") == (1688, 142285, 7)
    with pytest.raises(ValueError, match="SPEAKER-CHAPTER-UTT"):
        parse_utterance_id("speaker1.flac")


def test_librispeech_root_resolution(tmp_path, monkeypatch):
    assert librispeech_root(tmp_path) == tmp_path
    with pytest.raises(FileNotFoundError, match="not found: .*missing.*TTRNN_DATA"):
        librispeech_root(tmp_path / "missing")
    monkeypatch.delenv("TTRNN_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match=r"set TTRNN_DATA .*\$TTRNN_DATA/librispeech-sample"):
        librispeech_root()
    monkeypatch.setenv("TTRNN_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=f"looked in {tmp_path / 'librispeech-sample'}"):
        librispeech_root()
    (tmp_path / "librispeech-sample").mkdir()
    assert librispeech_root() == tmp_path / "librispeech-sample"


def test_speaker_subset_and_take_utterances():
    by_speaker = {str(s): [f"u{s}-{i}" for i in range(s % 3 + 1)] for s in range(10)}
    assert list(speaker_subset(by_speaker, 0.2)) == ["0", "1"]
    assert list(speaker_subset(by_speaker, 0.01)) == ["0"]
    assert speaker_subset(by_speaker, 1.0) == by_speaker
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match=r"fraction must lie in \(0, 1\]"):
            speaker_subset(by_speaker, bad)
    assert take_utterances(by_speaker, 1) == {s: u[:1] for s, u in by_speaker.items()}
    with pytest.raises(ValueError, match=r"at least 2 utterances; these have fewer: \{'0': 1, '3': 1"):
        take_utterances(by_speaker, 2)


# ---------------------------------------------------------------- feature cache


def test_compute_features_is_the_pipeline_in_float32(corpus):
    path = list_speakers(corpus)["19"][0]
    S = compute_features(path)
    assert S.dtype == np.float32 and S.shape[1] == 40
    np.testing.assert_array_equal(S, features_from_waveform(read_audio(path)).astype(np.float32))


def test_cache_writes_once_and_reads_back(corpus, tmp_path, monkeypatch):
    path = list_speakers(corpus)["19"][0]
    cache = tmp_path / "cache"
    S = load_features(path, cache_dir=cache)
    stored = list((cache / "features").iterdir())
    assert stored == [cache_path(path, FeatureConfig(), cache)] and stored[0].name.startswith("19-198-0000-")
    with np.load(stored[0], allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["features"], S)

    def no_compute(*args):
        raise AssertionError("features were recomputed despite a cache entry")

    monkeypatch.setattr(librispeech, "compute_features", no_compute)
    np.testing.assert_array_equal(load_features(path, cache_dir=cache), S)
    with pytest.raises(AssertionError, match="recomputed"):
        load_features(path, FeatureConfig(log=False), cache_dir=cache)


def test_cache_key_depends_on_parameters_and_file(corpus, tmp_path):
    path = list_speakers(corpus)["19"][0]
    base = cache_path(path, FeatureConfig(), tmp_path)
    assert cache_path(path, FeatureConfig(n_mels=20), tmp_path) != base
    assert cache_path(list_speakers(corpus)["19"][1], FeatureConfig(), tmp_path) != base
    os.utime(path, ns=(1, 1))
    assert cache_path(path, FeatureConfig(), tmp_path) != base


def test_corrupt_cache_entry_is_recomputed(corpus, tmp_path):
    path = list_speakers(corpus)["19"][0]
    target = cache_path(path, FeatureConfig(), tmp_path)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not a zip file")
    np.testing.assert_array_equal(load_features(path, cache_dir=tmp_path), compute_features(path))
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]


def test_an_unreadable_audio_file_is_named(corpus, tmp_path):
    victim = list_speakers(corpus)["103"][1]
    victim.write_bytes(b"fLaC but not really")
    with pytest.raises(DataError, match=f"cannot decode the audio file {victim}: .*corrupt or truncated"):
        load_features(victim, cache_dir=tmp_path)
    with pytest.raises(DataError, match=f"cannot decode the audio file {victim}: .*corrupt or truncated"):
        load_split("split", root=corpus.parent, cache_dir=tmp_path)


def test_default_cache_dir_from_environment(corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("TTRNN_CACHE", str(tmp_path / "env-cache"))
    path = list_speakers(corpus)["103"][0]
    assert cache_path(path, FeatureConfig()).parent == tmp_path / "env-cache" / "features"
    monkeypatch.delenv("TTRNN_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_path(path, FeatureConfig()).parent == tmp_path / "xdg" / "ttrnn_np" / "features"


def test_speaker_features_drop_short_utterances(corpus, tmp_path):
    features, dropped = speaker_features(list_speakers(corpus), cache_dir=tmp_path, min_frames=160)
    assert [Path(p).name for p in dropped] == ["103-9-0000.flac"]
    assert {s: len(u) for s, u in features.items()} == {"19": 2, "103": 2}
    assert all(S.shape[0] >= 160 and S.shape[1] == 40 for u in features.values() for S in u)
    features, dropped = speaker_features(list_speakers(corpus), cache_dir=tmp_path, min_frames=205)
    assert list(features) == ["19"] and len(dropped) == 4


def test_load_split_with_fraction(tmp_path):
    make_corpus(tmp_path / "data" / "train", "speaker")
    features, dropped = load_split("train", root=tmp_path / "data", cache_dir=tmp_path / "c", fraction=0.5)
    assert list(features) == ["19"] and dropped == []
    with pytest.raises(FileNotFoundError, match="split 'dev' not found"):
        load_split("dev", root=tmp_path / "data")


# ---------------------------------------------------------------- GE2E batches


def coded_features(lengths_by_speaker, n_mels=3):
    """Feature arrays whose entries say where they come from: 10⁵·speaker + 10³·utterance + frame."""
    return {str(s): [np.tile(100000 * s + 1000 * u + np.arange(T, dtype=np.float32)[:, None], (1, n_mels))
                     for u, T in enumerate(lengths)] for s, lengths in lengths_by_speaker.items()}


@settings(max_examples=30, deadline=None)
@given(n_speakers=st.integers(1, 4), n_utterances=st.integers(1, 5), n_frames=st.integers(1, 20),
       seed=st.integers(0, 2**16), distinct=st.booleans())
def test_sample_batch_crops_contiguous_frames_of_distinct_speakers(n_speakers, n_utterances, n_frames, seed,
                                                                   distinct):
    features = coded_features({s: [20, 25, 30, 40, 21] for s in range(1, 5)})
    batch = sample_batch(features, n_speakers, n_utterances, n_frames, np.random.default_rng(seed), distinct)
    assert batch.shape == (n_speakers, n_utterances, n_frames, 3) and batch.dtype == np.float32
    speakers = batch[:, :, 0, 0] // 100000
    assert len(set(speakers[:, 0])) == n_speakers and np.all(speakers == speakers[:, :1])
    np.testing.assert_array_equal(np.diff(batch[..., 0], axis=2), 1.0)
    utterance = batch[:, :, 0, 0] % 100000 // 1000
    if distinct:
        assert all(len(set(row)) == n_utterances for row in utterance)
    again = sample_batch(features, n_speakers, n_utterances, n_frames, np.random.default_rng(seed), distinct)
    np.testing.assert_array_equal(batch, again)


def test_sample_batch_one_long_utterance_gives_many_crops():
    features = coded_features({s: [400] for s in range(5)})
    batch = sample_batch(features, 5, 8, 160, np.random.default_rng(0))
    assert np.all(batch[:, :, 0, 0] % 100000 // 1000 == 0)
    assert len(np.unique(batch[:, :, 0, 0])) > 5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sample_batch_keeps_the_features_dtype(dtype):
    features = {s: [u.astype(dtype) for u in utts] for s, utts in coded_features({1: [30], 2: [40]}).items()}
    batch = sample_batch(features, 2, 3, 10, np.random.default_rng(0))
    assert batch.dtype == dtype
    again = sample_batch(coded_features({1: [30], 2: [40]}), 2, 3, 10, np.random.default_rng(0))  # float32
    np.testing.assert_array_equal(batch, again)


def test_sample_batch_auto_takes_distinct_utterances_when_a_speaker_has_enough():
    features = coded_features({1: [30] * 6, 2: [30]})  # speaker 1: six utterances, speaker 2: one
    for seed in range(10):
        batch = sample_batch(features, 2, 4, 10, np.random.default_rng(seed), distinct="auto")  # (2, 4, 10, 3)
        utterance = {int(row[0, 0, 0]) // 100000: row[:, 0, 0] % 100000 // 1000 for row in batch}
        assert len(set(utterance[1])) == 4 and set(utterance[2]) == {0}


def test_sample_batch_errors():
    features = coded_features({1: [30, 30], 2: [30, 10]})
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"n_speakers must lie in \[1, 2\]"):
        sample_batch(features, 3, 2, 5, rng)
    with pytest.raises(ValueError, match="≥ 1"):
        sample_batch(features, 2, 0, 5, rng)
    with pytest.raises(ValueError, match="has 2 utterances, fewer than the 3 distinct"):
        sample_batch(features, 1, 3, 5, rng, distinct=True)
    with pytest.raises(ValueError, match="10 frames, fewer than the crop length 20"):
        sample_batch(features, 2, 2, 20, rng, distinct=True)
    with pytest.raises(ValueError, match="distinct must be True, False or 'auto'"):
        sample_batch(features, 2, 2, 5, rng, distinct="yes")


# ---------------------------------------------------------------- the shared LibriSpeech sample


@pytest.fixture
def sample_root():
    if not os.environ.get("TTRNN_DATA"):
        pytest.skip("TTRNN_DATA is unset; set it to the folder holding librispeech-sample/ to run this test")
    return librispeech_root()  # fails (FileNotFoundError) when TTRNN_DATA is set but the sample is missing


def test_real_sample_layout_features_and_baseline(sample_root, tmp_path):
    train = list_speakers(sample_root / "train-clean-100")
    test = list_speakers(sample_root / "test-other")
    assert len(train) == 251 and all(len(u) == 1 for u in train.values())
    assert len(test) == 10 and all(len(u) == 10 for u in test.values())
    assert not set(train) & set(test)
    features, dropped = load_split("test-other", cache_dir=tmp_path)
    assert dropped == [] and all(S.shape[0] >= 160 and S.shape[1] == 40 for u in features.values() for S in u)
    result = run_baseline(cache_dir=tmp_path)
    assert result["target_trials"] == 50 and result["nontarget_trials"] == 450
    assert result["eer"] < 0.25
