"""Tests for ttrnn_np.speech.an4: discovery in AN4's layout, its errors, features, and the by-speaker split."""
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from ttrnn_np.errors import DataError
from ttrnn_np.speech import an4
from ttrnn_np.speech.an4 import an4_root, list_an4_speakers, load_an4, split_speakers
from ttrnn_np.speech.audio import dbfs
from ttrnn_np.speech.features import FeatureConfig
from ttrnn_np.speech.synthetic import synthetic_voice, write_synthetic_an4, write_wav

pytest.importorskip("soundfile")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A fake AN4: 6 speakers × 3–4 utterances of ≈ 1 s, with speakers.tsv."""
    return write_synthetic_an4(tmp_path_factory.mktemp("an4"), n_speakers=6, utterances=(3, 4), seconds=0.8, seed=3)


# ---------------------------------------------------------------- discovery


def test_list_speakers_in_the_an4_layout(corpus):
    speakers = list_an4_speakers(corpus)
    assert list(speakers) == [f"s{k:03d}" for k in range(6)]
    tsv = dict(line.split("\t")[1:] for line in (corpus / "speakers.tsv").read_text().splitlines()[1:])
    assert {s: len(u) for s, u in speakers.items()} == {s: int(n) for s, n in tsv.items()}
    for s, paths in speakers.items():
        assert all(p.parent.name == s and p.suffix == ".wav" for p in paths)
        assert [p.name for p in paths] == sorted(p.name for p in paths)


def test_list_speakers_sorts_names_and_files_and_ignores_other_files(tmp_path):
    rng = np.random.default_rng(0)
    for speaker, names in (("mzz", ["cen2-mzz.wav", "an10-mzz.wav", "cen10-mzz.wav"]), ("faa", ["b.wav", "a.WAV"])):
        for name in names:
            write_wav(tmp_path / "flat" / speaker / name, 0.1 * rng.standard_normal(800))
    (tmp_path / "flat" / "faa" / "notes.txt").write_text("not audio")
    (tmp_path / "flat" / "README.md").write_text("not audio")
    speakers = list_an4_speakers(tmp_path / "flat")
    assert list(speakers) == ["faa", "mzz"]
    assert [p.name for p in speakers["mzz"]] == ["an10-mzz.wav", "cen10-mzz.wav", "cen2-mzz.wav"]
    assert [p.name for p in speakers["faa"]] == ["a.WAV", "b.wav"]


def test_discovery_errors(corpus, tmp_path):
    with pytest.raises(FileNotFoundError, match="AN4 data directory not found: .*nowhere"):
        list_an4_speakers(tmp_path / "nowhere")
    (tmp_path / "empty" / "fash").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no .wav files below .*empty"):
        list_an4_speakers(tmp_path / "empty")
    twice = tmp_path / "twice"
    write_wav(twice / "an4_clstk" / "fash" / "a.wav", np.zeros(800))
    write_wav(twice / "an4test_clstk" / "fash" / "b.wav", np.zeros(800))
    with pytest.raises(ValueError, match="speaker 'fash' has two folders"):
        list_an4_speakers(twice)
    partial = shutil.copytree(corpus, tmp_path / "partial")
    removed = sorted((partial / "wav" / "an4_clstk" / "s002").iterdir())[0]
    removed.unlink()
    with pytest.raises(ValueError, match=r"speakers.tsv does not match .*'s002': \((\d), (\d)\)"):
        list_an4_speakers(partial)
    (partial / "speakers.tsv").write_text("who\tcount\nfash\t3\n")
    with pytest.raises(ValueError, match="expected a tab-separated table with columns 'speaker' and 'n_utts'"):
        list_an4_speakers(partial)
    (partial / "speakers.tsv").unlink()  # optional: without it the files alone count
    assert len(list_an4_speakers(partial)["s002"]) == len(list_an4_speakers(corpus)["s002"]) - 1


def test_an4_root_resolution(tmp_path, monkeypatch):
    assert an4_root(tmp_path) == tmp_path
    with pytest.raises(FileNotFoundError, match="AN4 data directory not found: .*missing.*TTRNN_DATA/an4"):
        an4_root(tmp_path / "missing")
    monkeypatch.delenv("TTRNN_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match=r"set TTRNN_DATA so that \$TTRNN_DATA/an4"):
        an4_root()
    monkeypatch.setenv("TTRNN_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=f"looked in {tmp_path / 'an4'}"):
        an4_root()
    (tmp_path / "an4").mkdir()
    assert an4_root() == tmp_path / "an4"


# ---------------------------------------------------------------- features


def test_load_an4_keeps_every_utterance_as_float32_log_mel(corpus, tmp_path):
    features, dropped = load_an4(corpus, cache_dir=tmp_path)
    assert dropped == []
    assert {s: len(u) for s, u in features.items()} == {s: len(u) for s, u in list_an4_speakers(corpus).items()}
    assert all(S.dtype == np.float32 and S.ndim == 2 and S.shape[1] == 40 and S.shape[0] > 0
               for utts in features.values() for S in utts)
    lengths = sorted(S.shape[0] for utts in features.values() for S in utts)
    cut = lengths[len(lengths) // 2]
    kept, dropped = load_an4(corpus, cache_dir=tmp_path, min_frames=cut)
    assert sum(len(u) for u in kept.values()) == sum(T >= cut for T in lengths) and len(dropped) == sum(
        T < cut for T in lengths) > 0


def test_quiet_recordings_are_raised_to_the_same_level(tmp_path):
    x = synthetic_voice(150.0, (500.0, 1500.0), 1.0, np.random.default_rng(0))  # (L,), peak 0.5
    assert dbfs(0.05 * x) < -30 and dbfs(0.01 * x) < -30
    write_wav(tmp_path / "loud" / "spk" / "a.wav", 0.05 * x)
    write_wav(tmp_path / "quiet" / "spk" / "a.wav", 0.01 * x)
    loud = load_an4(tmp_path / "loud", cache_dir=tmp_path / "cache")[0]["spk"][0]
    quiet = load_an4(tmp_path / "quiet", cache_dir=tmp_path / "cache")[0]["spk"][0]
    assert loud.shape == quiet.shape
    assert np.median(np.abs(quiet - loud)) < 0.05  # equal but for the 16-bit rounding noise of the quiet copy
    as_recorded = FeatureConfig(target_dbfs=None)
    loud = load_an4(tmp_path / "loud", as_recorded, cache_dir=tmp_path / "cache")[0]["spk"][0]
    quiet = load_an4(tmp_path / "quiet", as_recorded, cache_dir=tmp_path / "cache")[0]["spk"][0]
    assert np.median(loud - quiet) > 1.0  # without it the quiet copy stays 14 dB (log 25 = 3.2 at most) lower


def test_an_unreadable_file_is_named(corpus, tmp_path):
    broken = shutil.copytree(corpus, tmp_path / "broken")
    victim = sorted((broken / "wav" / "an4_clstk" / "s004").iterdir())[1]
    victim.write_bytes(b"RIFF0000WAVEnot really a wave file")
    with pytest.raises(DataError, match=f"cannot decode the audio file {victim}: .*corrupt or truncated"):
        load_an4(broken, cache_dir=tmp_path / "cache")


# ---------------------------------------------------------------- the by-speaker split


def test_split_is_disjoint_complete_and_sized():
    names = [f"{g}{k:03d}" for g in "fm" for k in range(42)]  # 84 speakers like AN4
    split = split_speakers(names, n_eval=44, n_val=12, seed=0)
    assert [len(split[k]) for k in ("eval", "val", "train")] == [44, 12, 28]
    groups = [set(split[k]) for k in ("eval", "val", "train")]
    assert all(not a & b for i, a in enumerate(groups) for b in groups[i + 1:])
    assert set().union(*groups) == set(names)


def test_split_is_seeded_and_stable():
    names = [f"spk{k}" for k in range(30)]
    a = split_speakers(names, 10, 5, seed=4)
    assert split_speakers(list(reversed(names)), 10, 5, seed=4) == a  # the input order does not matter
    assert split_speakers(set(names), 10, 5, seed=4) == a
    assert split_speakers(names, 10, 5, seed=5)["eval"] != a["eval"]
    # the permutation is fixed by the seed: evaluation speakers first, then validation, then training
    order = [sorted(names)[k] for k in np.random.default_rng(4).permutation(30)]
    assert a == {"eval": order[:10], "val": order[10:15], "train": order[15:]}


def test_split_errors():
    with pytest.raises(ValueError, match="at least 2 training speakers left; got n_eval=8, n_val=2 of 10"):
        split_speakers([str(k) for k in range(10)], 8, 2)
    with pytest.raises(ValueError, match="need n_eval ≥ 2"):
        split_speakers([str(k) for k in range(10)], 1, 2)
    with pytest.raises(ValueError, match="speaker names must be unique"):
        split_speakers(["a", "a", "b", "c", "d", "e", "f", "g"], 2, 2)


# ---------------------------------------------------------------- the real corpus


@pytest.fixture
def real_root():
    if not os.environ.get("TTRNN_DATA"):
        pytest.skip("TTRNN_DATA is unset; set it to the folder holding an4/ (CMU AN4) to run this test")
    return an4_root()  # fails (FileNotFoundError) when TTRNN_DATA is set but an4/ is missing


def test_real_an4_layout_split_and_features(real_root, tmp_path):
    speakers = list_an4_speakers(real_root)  # also checks speakers.tsv
    assert len(speakers) == 84 and sum(len(u) for u in speakers.values()) == 1078
    assert min(len(u) for u in speakers.values()) >= 9
    split = split_speakers(speakers, 44, 12, seed=0)
    assert len(split["eval"]) >= 40 and all(len(speakers[s]) >= 8 for s in split["eval"])
    some = {s: speakers[s][:2] for s in split["eval"][:2]}
    features, dropped = an4.speaker_features(some, cache_dir=tmp_path, min_frames=1)
    assert dropped == [] and all(S.shape[1] == 40 and S.shape[0] >= 50 for u in features.values() for S in u)
    assert Path(some[split["eval"][0]][0]).parent.name == split["eval"][0]
