"""LibriSpeech-style data: find utterances per speaker, cache their features, sample GE2E batches.

Index letters: j speaker (N per batch), i utterance or crop (M per speaker), t frame (T per crop),
m mel channel.

**Layout.**  An utterance is an audio file (``.flac`` or ``.wav``) named ``SPEAKER-CHAPTER-UTT``
(three integers).  It may sit anywhere below the split directory: the LibriSpeech tree
``SPEAKER/CHAPTER/SPEAKER-CHAPTER-UTT.flac``, ``SPEAKER/SPEAKER-CHAPTER-UTT.flac`` or a flat folder are
all found, because the speaker is read from the file name.  Speakers are ordered by their number and each
speaker's utterances by (chapter, utterance) number — a fixed order, never the file system's.  A file that
cannot be decoded is an error naming the file (``compute_features``).

**Features** (see ``features.py``) are cached as ``.npz`` files (no pickle) in a cache directory: the
argument, else ``$TTRNN_CACHE``, else ``$XDG_CACHE_HOME/ttrnn_np`` (default ``~/.cache/ttrnn_np``), in
a ``features/`` subfolder.  The file name carries a hash of the audio file's absolute path, size and
modification time and of every feature parameter, so changing any of them computes fresh features.  Files
are written to a temporary name and renamed (atomic), and features are stored as float32.

**GE2E batches.**  ``sample_batch`` draws N distinct speakers and M fixed-length crops per speaker:
each crop picks one of the speaker's utterances at random and a random start frame in it, giving a
(N, M, T, n_mels) array in the features' own dtype (float32 from the cache; no copy to float64).  By
default utterances are drawn *with* replacement, so with one long utterance per training speaker (the
shared sample) the M "utterances" of a speaker are M random crops of the same recording;
``distinct=True`` asks for M different utterances per speaker (the paper's full-data setting);
``distinct="auto"`` takes M different utterances from every speaker who has at least M and draws with
replacement from the others (a mix of corpora with one and with many utterances per speaker).
"""
import hashlib
import json
import os
import re
import tempfile
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..errors import DataError, output_error
from .audio import read_audio
from .features import FeatureConfig, features_from_waveform

MIN_FRAMES = 160
SAMPLE_DIR_NAME = "librispeech-sample"
TRAIN_SPLIT, TEST_SPLIT = "train-clean-100", "test-other"  # the shared sample's splits
AUDIO_SUFFIXES = (".flac", ".wav")
_UTTERANCE_NAME = re.compile(r"^(\d+)-(\d+)-(\d+)$")


def corpus_dir(root, dir_name, corpus, contents):
    """A speech corpus's data directory: ``root`` if given, else ``$TTRNN_DATA/<dir_name>``; a clear
    FileNotFoundError (what was looked for, where, and how to fix it) otherwise.  ``contents`` says what the
    folder should hold."""
    if root is not None:
        path = Path(root)
        if not path.is_dir():
            raise FileNotFoundError(f"{corpus} data directory not found: {path.resolve()} (looked for the folder "
                                    f"given as root; the shared copy lives in $TTRNN_DATA/{dir_name})")
        return path
    data = os.environ.get("TTRNN_DATA")
    if not data:
        raise FileNotFoundError(f"no {corpus} data directory: pass root=... or set TTRNN_DATA so that "
                                f"$TTRNN_DATA/{dir_name} holds {contents}")
    path = Path(data) / dir_name
    if not path.is_dir():
        raise FileNotFoundError(f"{corpus} not found: looked in {path} ($TTRNN_DATA/{dir_name} with "
                                f"TTRNN_DATA={data}); put the corpus there or pass root=...")
    return path


def librispeech_root(root=None):
    """The LibriSpeech data directory: ``root`` if given, else ``$TTRNN_DATA/librispeech-sample``."""
    return corpus_dir(root, SAMPLE_DIR_NAME, "LibriSpeech", "the splits (train-clean-100/, test-other/)")


def parse_utterance_id(path):
    """(speaker, chapter, utterance) numbers from a file named ``SPEAKER-CHAPTER-UTT.ext``."""
    match = _UTTERANCE_NAME.match(Path(path).stem)
    if match is None:
        raise ValueError(f"expected a file named SPEAKER-CHAPTER-UTT (three integers), got {Path(path).name!r}")
    return tuple(int(g) for g in match.groups())


def list_speakers(split_dir):
    """Map speaker id (str) → sorted list of utterance paths for every audio file below ``split_dir``.

    Speakers come in numeric order, utterances in (chapter, utterance) order.  Audio files whose names do
    not follow ``SPEAKER-CHAPTER-UTT`` are ignored; the same utterance id twice is an error.
    """
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise FileNotFoundError(f"speech data directory not found: {split_dir.resolve()}")
    found = {}
    for path in split_dir.rglob("*"):
        if path.suffix.lower() not in AUDIO_SUFFIXES or not _UTTERANCE_NAME.match(path.stem):
            continue
        uid = parse_utterance_id(path)
        if uid in found:
            raise ValueError(f"utterance {path.stem} appears twice: {found[uid]} and {path}")
        found[uid] = path
    if not found:
        raise FileNotFoundError(
            f"no audio files named SPEAKER-CHAPTER-UTT{'/'.join(AUDIO_SUFFIXES)} below {split_dir.resolve()}"
        )
    speakers = {}
    for uid in sorted(found):
        speakers.setdefault(str(uid[0]), []).append(found[uid])
    return speakers


def speaker_subset(by_speaker, fraction):
    """The first round(fraction·N) speakers (at least one), in the mapping's (sorted) order."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    names = list(by_speaker)
    keep = max(1, int(round(fraction * len(names))))
    return {s: by_speaker[s] for s in names[:keep]}


def take_utterances(by_speaker, n):
    """The first ``n`` utterances of every speaker; a speaker with fewer is an error."""
    short = {s: len(u) for s, u in by_speaker.items() if len(u) < n}
    if short:
        raise ValueError(f"every speaker needs at least {n} utterances; these have fewer: {short}")
    return {s: list(u)[:n] for s, u in by_speaker.items()}


def default_cache_dir():
    """``$TTRNN_CACHE``, else ``$XDG_CACHE_HOME/ttrnn_np``, else ``~/.cache/ttrnn_np``."""
    if os.environ.get("TTRNN_CACHE"):
        return Path(os.environ["TTRNN_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ttrnn_np"


def cache_path(path, config, cache_dir=None):
    """Where the features of audio file ``path`` under ``config`` are cached."""
    path = Path(path).resolve()
    stat = path.stat()
    key = json.dumps(
        {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "config": asdict(config)},
        sort_keys=True,
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return folder / "features" / f"{path.stem}-{digest}.npz"


def compute_features(path, config=FeatureConfig()):
    """Features of one audio file, not cached: (T, n_mels) float32.

    A file that exists but cannot be decoded raises ``errors.DataError`` (a ValueError) naming the file.
    """
    try:
        x = read_audio(path, config.sample_rate)  # (L,)
    except (FileNotFoundError, ImportError, DataError):
        raise
    except Exception as error:  # soundfile raises its own error types (RuntimeError subclasses, TypeError)
        raise DataError(f"unreadable audio file {path}: {error}") from error
    return features_from_waveform(x, config).astype(np.float32)  # (T, M)


def load_features(path, config=FeatureConfig(), cache_dir=None):
    """Features of one audio file through the cache: (T, n_mels) float32."""
    target = cache_path(path, config, cache_dir)
    if target.is_file():
        try:
            with np.load(target, allow_pickle=False) as stored:
                return stored["features"]  # (T, M)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            pass  # unreadable cache entry: recompute and overwrite it
    S = compute_features(path, config)  # (T, M)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.stem, suffix=".tmp")
    except OSError as err:  # a read-only or full cache folder
        raise output_error(f"the feature cache {target.parent}", err) from err
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, features=S)
        os.replace(tmp, target)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise output_error(f"the feature cache {target.parent}", err) from err
        raise
    return S


def speaker_features(by_speaker, config=FeatureConfig(), cache_dir=None, min_frames=MIN_FRAMES, progress=False):
    """Features for every utterance, dropping those shorter than ``min_frames`` frames.

    Returns ``(features_by_speaker, dropped)``: speaker → list of (T_i, n_mels) arrays (speakers left with
    no utterance are omitted) and the list of dropped paths.  ``progress`` shows a tqdm bar if installed.
    """
    jobs = [(s, p) for s, paths in by_speaker.items() for p in paths]
    if progress:
        try:
            from tqdm.auto import tqdm
            jobs = tqdm(jobs, desc="features", unit="utt")
        except ImportError:
            pass
    features, dropped = {}, []
    for speaker, path in jobs:
        S = load_features(path, config, cache_dir)  # (T, M)
        if S.shape[0] < min_frames:
            dropped.append(path)
        else:
            features.setdefault(speaker, []).append(S)
    return features, dropped


def load_split(split, root=None, config=FeatureConfig(), cache_dir=None, min_frames=MIN_FRAMES, fraction=1.0,
               progress=False):
    """Discover ``root/split`` (root defaults to ``$TTRNN_DATA/librispeech-sample``) and compute features.

    Returns ``(features_by_speaker, dropped)`` as ``speaker_features``, for the first ``fraction`` of speakers.
    """
    split_dir = librispeech_root(root) / split
    if not split_dir.is_dir():
        raise FileNotFoundError(f"split {split!r} not found: no folder {split_dir}")
    by_speaker = speaker_subset(list_speakers(split_dir), fraction)
    return speaker_features(by_speaker, config, cache_dir, min_frames, progress)


def sample_batch(features_by_speaker, n_speakers, n_utterances, n_frames, rng, distinct=False):
    """A GE2E batch of random crops, (N, M, T, n_mels) in the features' dtype (see the module docstring).

    ``rng`` is a ``numpy.random.Generator``.  N = ``n_speakers`` distinct speakers; for each, M =
    ``n_utterances`` crops of T = ``n_frames`` frames, from utterances drawn with replacement unless
    ``distinct`` (True: always distinct; "auto": distinct for speakers with at least M utterances).  The batch keeps the features' dtype (float32 from ``load_features``; NumPy's common type
    if utterances differ): the encoder casts its input to its parameters' dtype anyway.
    """
    speakers = list(features_by_speaker)
    if not 1 <= n_speakers <= len(speakers):
        raise ValueError(f"n_speakers must lie in [1, {len(speakers)}] (speakers available), got {n_speakers}")
    if n_utterances < 1 or n_frames < 1:
        raise ValueError(f"n_utterances and n_frames must be ≥ 1, got {n_utterances} and {n_frames}")
    if distinct not in (True, False, "auto"):
        raise ValueError(f"distinct must be True, False or 'auto', got {distinct!r}")
    batch = []
    for j in rng.choice(len(speakers), size=n_speakers, replace=False):
        utterances = features_by_speaker[speakers[j]]
        if distinct is True and len(utterances) < n_utterances:
            raise ValueError(
                f"speaker {speakers[j]} has {len(utterances)} utterances, fewer than the {n_utterances} "
                f"distinct ones asked for (use distinct=False to crop the same utterance several times)"
            )
        crops = []
        replace = distinct is False or (distinct == "auto" and len(utterances) < n_utterances)
        for i in rng.choice(len(utterances), size=n_utterances, replace=replace):
            S = utterances[i]  # (T_i, M)
            if S.shape[0] < n_frames:
                raise ValueError(
                    f"an utterance of speaker {speakers[j]} has {S.shape[0]} frames, fewer than the crop "
                    f"length {n_frames}; drop short utterances first (min_frames)"
                )
            t0 = rng.integers(0, S.shape[0] - n_frames + 1)
            crops.append(S[t0 : t0 + n_frames])  # (T, M)
        batch.append(np.stack(crops))  # (M, T, n_mels)
    return np.stack(batch)  # (N, M, T, n_mels)
