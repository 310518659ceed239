"""CMU AN4: find utterances per speaker, cache their features, and split the speakers for verification.

Index letters: s speaker, u utterance.

**The corpus.**  AN4 (CMU, about 1991) holds 1,078 short utterances (16 kHz WAV, median 2.4 s after silence
trimming) of 84 speakers, 9–14 each, recorded on one close-talking microphone.  Its layout is a folder per
speaker holding WAV files, ``wav/an4_clstk/fash/an251-fash-b.wav``, where the original training and test
folders (``an4_clstk``, ``an4test_clstk``) mean nothing for verification: every speaker is just a speaker.
``list_an4_speakers`` finds every ``.wav`` file below the root and takes its folder's name as the speaker,
so a flat ``SPEAKER/*.wav`` copy works too.  Speakers are ordered by name and each speaker's utterances by
file name — a fixed order, never the file system's.  An optional ``speakers.tsv`` (tab-separated, with
columns ``speaker`` and ``n_utts``) is checked against what was found, so a partial copy is an error.

**Features** go through the LibriSpeech loader's cache (``librispeech.speaker_features``): the same
−30 dBFS volume normalisation, silence trimming and 40 log-mel channels, and an unreadable file is an
error naming the file.  AN4 utterances are short (64–619 frames after trimming), so ``load_an4`` keeps
every utterance by default (``min_frames=1``); the experiment drops those shorter than a training crop
from training only.

**The verification split** (``split_speakers``) is BY SPEAKER: a seeded permutation of the sorted speaker
names gives ``n_eval`` evaluation speakers, then ``n_val`` validation speakers, and the rest train.  It
depends only on the names, the sizes and the seed, so every run (any model, any seed) sees the same
evaluation speakers, and none of them is ever seen in training or validation.
"""
import csv
from pathlib import Path

import numpy as np

from .features import FeatureConfig
from .librispeech import corpus_dir, speaker_features

AN4_DIR_NAME = "an4"
SPEAKERS_TSV = "speakers.tsv"


def an4_root(root=None):
    """The AN4 data directory: ``root`` if given, else ``$TTRNN_DATA/an4``."""
    return corpus_dir(root, AN4_DIR_NAME, "AN4", "a folder of WAV files per speaker")


def _check_speakers_tsv(path, speakers):
    """Compare ``speakers.tsv`` (columns speaker, n_utts) with the speakers and utterance counts found."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    if not rows or not {"speaker", "n_utts"} <= set(rows[0]):
        raise ValueError(f"{path}: expected a tab-separated table with columns 'speaker' and 'n_utts', got "
                         f"columns {sorted(rows[0]) if rows else 'none'}")
    listed = {row["speaker"]: int(row["n_utts"]) for row in rows}
    found = {s: len(u) for s, u in speakers.items()}
    if listed != found:
        differ = {s: (listed.get(s), found.get(s)) for s in sorted(set(listed) | set(found))
                  if listed.get(s) != found.get(s)}
        raise ValueError(f"{path} does not match the WAV files found; speaker: (listed, found) utterances "
                         f"{dict(list(differ.items())[:5])}{' …' if len(differ) > 5 else ''}")


def list_an4_speakers(root):
    """Map speaker (its folder's name) → sorted list of the ``.wav`` paths in it, for every file below ``root``.

    Speakers come sorted by name.  Two folders of the same name in different places are an error, as is a
    ``speakers.tsv`` in ``root`` that disagrees with the files.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"AN4 data directory not found: {root.resolve()}")
    folders = {}
    for path in root.rglob("*"):
        if path.suffix.lower() == ".wav" and path.is_file():
            folders.setdefault(path.parent, []).append(path)
    if not folders:
        raise FileNotFoundError(f"no .wav files below {root.resolve()} (expected a folder of WAV files per speaker)")
    speakers = {}
    for folder in sorted(folders):
        if folder.name in speakers:
            raise ValueError(f"speaker {folder.name!r} has two folders: {speakers[folder.name][0].parent} and {folder}")
        speakers[folder.name] = sorted(folders[folder], key=lambda p: p.name)
    speakers = dict(sorted(speakers.items()))
    if (root / SPEAKERS_TSV).is_file():
        _check_speakers_tsv(root / SPEAKERS_TSV, speakers)
    return speakers


def load_an4(root=None, config=FeatureConfig(), cache_dir=None, min_frames=1, progress=False):
    """Discover AN4 below ``root`` (default ``$TTRNN_DATA/an4``) and compute features.

    Returns ``(features_by_speaker, dropped)`` as ``librispeech.load_split``: speaker → list of (T_u, 40)
    float32 arrays, and the paths of utterances shorter than ``min_frames`` frames.
    """
    return speaker_features(list_an4_speakers(an4_root(root)), config, cache_dir, min_frames, progress)


def split_speakers(speakers, n_eval, n_val, seed=0):
    """A fixed, seeded split BY SPEAKER: {"train": [...], "val": [...], "eval": [...]} (see the module docstring).

    ``speakers`` is any collection of names (sorted first, so its order does not matter).  The lists are
    disjoint, cover every speaker, and each keeps the permutation's order.
    """
    names = sorted(speakers)
    if len(set(names)) != len(names):
        raise ValueError(f"speaker names must be unique, got {len(names)} names of which {len(set(names))} differ")
    if n_eval < 2 or n_val < 2 or n_eval + n_val > len(names) - 2:
        raise ValueError(f"need n_eval ≥ 2, n_val ≥ 2 and at least 2 training speakers left; got n_eval={n_eval}, "
                         f"n_val={n_val} of {len(names)} speakers")
    order = [names[k] for k in np.random.default_rng(seed).permutation(len(names))]
    return {"train": order[n_eval + n_val:], "val": order[n_eval:n_eval + n_val], "eval": order[:n_eval]}
