"""The speaker-verification experiment (docs/method.md §8): a (TT-)LSTM d-vector encoder trained with GE2E.

Index letters: j speaker (N per batch), i crop (M per speaker), t frame (T per crop), m mel channel (40),
H hidden size, D embedding size, u utterance, w window.

**Encoder.**  A crop X (T, 40) of normalised log-mel frames runs through one LSTM layer (dense, naive, joint
or joint + gate core, d cores, rank R) and the last hidden state through the embedding head:

    e = ReLU(h_T W + b) / ‖ReLU(h_T W + b)‖        W (H, D) dense or a TT-matrix a(H) → a(D)

**Loss.**  A batch (N, M, T, 40) gives E (N, M, D) and the GE2E softmax loss L(E, w, b) (``speech.ge2e``).
The scalars w, b live in the parameter pytree, {"encoder": …, "ge2e": {"w", "b"}}; their gradients are
multiplied by 0.01 inside the loss (an identity with a scaled VJP), so the scaling happens before global-norm
clipping (clip 3) as in the reference.  Adam is invariant to a constant gradient scale (m/√v), so under Adam
the ×0.01 mainly keeps w, b out of the clipped norm; we follow the paper anyway.  b adds the same constant to
every logit of the softmax over k, so ∂L/∂b = 0 and b stays at −5: only w (the softmax temperature) learns
(see ``speech.ge2e``).

**Data, corpus "an4"** (the default; docs/method.md §8 for the protocol).  CMU AN4's 84 speakers are split
BY SPEAKER with a fixed seed (``speech.an4.split_speakers``, ``split_seed``): 44 evaluation speakers never
seen in training or validation, 12 validation speakers, 28 training speakers.  Training mixes the AN4
training speakers (9–14 utterances each, so a batch's M crops of a speaker come from M different utterances
when it has M) with the 251 LibriSpeech train-clean-100 speakers of the shared sample (one long utterance
each, so M crops of it) unless ``mix_librispeech`` is off.  ``fraction`` keeps the first part of each
corpus's training speakers.  Utterances shorter than a training crop (T frames) are not used for training.

**Data, corpus "librispeech"** (the earlier protocol): the last ``val_speakers`` (20) of the 251 training
speakers validate on 10 fixed crops each (5 enrol, 5 verify), the rest train.

**Inputs** are log-mel frames normalised per channel by the mean and std of all training frames, (S − μ)/σ,
the same μ, σ for validation and test.

**Evaluation.**  An utterance is cut into T-frame windows with 50 % overlap (``speech.eer.sliding_windows``),
each window embedded, and the window embeddings averaged; an utterance shorter than one window (AN4 has some
of 64–80 frames) is embedded whole.  Test sets: AN4's evaluation speakers, each with ALL its utterances,
the first 4 (by file name) enrolling and the rest (5–10) verifying; and, when LibriSpeech is loaded, the
10 test-other speakers × their first 10 utterances (5 enrol + 5 verify), a cross-corpus test.  Every test
EER comes with a 95 % interval from the speaker bootstrap (``speech.eer.bootstrap_eer``), for the
enrolment protocol and for the pairwise one (all utterance pairs), and the no-training mean/std baseline is
scored on the same trials with the same bootstrap draws.

**Convergence, not a step count.**  After every ``eval_every`` steps the validation EER (enrolment protocol
on the validation speakers) is measured; the checkpoint with the lowest one is "best" and is the one tested
(test numbers never choose anything).  Training stops when the last ``patience`` validations have not
improved on the best before them by more than ``min_delta`` ("plateau"), or at ``max_steps`` ("step cap").
Test sets are evaluated once, at the end, on the best checkpoint (and, point EERs only, on the last).

**CPU scale.**  One float32 GE2E step (N = 16, M = 8, T = 160, H = 128) takes ≈ 0.2 s dense and ≈ 0.25 s
joint TT d = 2, R = 2 on one core with single-threaded BLAS, and up to 10× longer with OpenBLAS threads
fighting over 2 busy cores, so ``ttrnn speaker`` sets one BLAS thread (``--blas-threads``) and tunes malloc
(``runtime``) first.  TT saves FLOPs but not time at these sizes: the per-step overhead, not the products,
dominates.

The command line (``ttrnn speaker``: options, the end-of-run table) is ``speaker_cli``; the fake corpus for
tests and the tutorial is ``speech.synthetic``.
"""
import dataclasses
import math
import os
import sys
import time
from pathlib import Path

import autograd.numpy as np
import numpy as onp
from autograd.extend import defvjp, primitive
from autograd.tracer import getval

from ..cells import CellConfig
from ..heads import HeadConfig
from ..sizes import model_sizes
from ..rnn import ModelConfig, forward, init_model
from ..speech import (GE2E_GRAD_SCALE, TEST_SPLIT, TRAIN_SPLIT, FeatureConfig, average_windows, baseline_embeddings,
                      bootstrap_eer, eer, enrolment_eer, enrolment_trials, feature_stats, ge2e_loss,
                      ge2e_similarity, init_ge2e_params, load_an4, load_split, normalize_features, pairwise_trials,
                      sample_batch, sliding_windows, speaker_subset, split_speakers, take_utterances)
from ..training import fit
from .runfolder import RESULTS_FILE, check_writable, owned, write_json
from .runtime import machine_info

try:
    from tqdm.auto import tqdm
except ImportError:
    tqdm = None

CORPORA = ("an4", "librispeech")
N_MELS = 40
MAX_LOSS_FACTOR = 100.0  # a GE2E loss above this multiple of the first step's loss (at least 1) is divergence
EVAL_OVERLAP = 0.5
AN4_ENROL = 4  # enrolment utterances per AN4 evaluation speaker; all the others verify
LIBRI_TEST_UTTERANCES, LIBRI_ENROL = 10, 5
VAL_CROPS = 10  # crops per LibriSpeech validation speaker (one utterance each)
DEFAULT_VAL_SPEAKERS = {"an4": 12, "librispeech": 20}
N_BOOT, BOOT_SEED = 1000, 0
EMBED_CHUNK = 256


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


@dataclasses.dataclass(frozen=True)
class SpeakerConfig:
    """Every setting of one run: data, encoder, GE2E batch, optimisation, stopping.  Paper values in brackets."""
    corpus: str = "an4"
    layout: str = "joint"
    cores: int = 2
    rank: int = 2
    hidden_size: int = 128  # [768]
    embed_dim: int = 256
    head: str = None  # None: "tt" for TT layouts, "dense" for the dense layout
    speakers_per_batch: int = 16  # N [16]
    utterances_per_speaker: int = 8  # M [32]
    frames: int = 100  # T of a training crop and an evaluation window [160]
    max_steps: int = 20000  # the cap; training normally stops on the validation plateau [20,000 steps]
    eval_every: int = 100  # [10]
    patience: int = 10  # validations without an improvement of min_delta before stopping; 0: run to the cap
    min_delta: float = 0.005
    lr: float = 1e-3
    clip: float = 3.0
    seed: int = 11
    fraction: float = 1.0
    val_speakers: int = None  # None: 12 AN4 speakers, or 20 held-out LibriSpeech training speakers
    eval_speakers: int = 44  # AN4 evaluation speakers
    split_seed: int = 0  # the AN4 speaker split and the validation crops: the same for every run
    mix_librispeech: bool = True  # AN4: also train on the LibriSpeech sample's speakers
    dtype: str = "float32"

    def __post_init__(self):
        if self.corpus not in CORPORA:
            raise ValueError(f"corpus must be one of {CORPORA}, got {self.corpus!r}")
        if self.head not in (None, "dense", "tt"):
            raise ValueError(f"head must be 'dense', 'tt' or None (follow the layout), got {self.head!r}")
        if self.val_speakers is None:
            object.__setattr__(self, "val_speakers", DEFAULT_VAL_SPEAKERS[self.corpus])
        for name in ("cores", "rank", "hidden_size", "embed_dim", "speakers_per_batch", "utterances_per_speaker",
                     "frames", "max_steps", "eval_every", "val_speakers", "eval_speakers"):
            _check_positive_int(name, getattr(self, name))
        for name in ("speakers_per_batch", "utterances_per_speaker", "val_speakers", "eval_speakers"):
            if getattr(self, name) < 2:
                raise ValueError(f"GE2E and the EER need {name} ≥ 2, got {getattr(self, name)}")
        if isinstance(self.patience, bool) or not isinstance(self.patience, int) or self.patience < 0:
            raise ValueError(f"patience must be an integer ≥ 0 (0: no plateau stop), got {self.patience!r}")
        if not (self.lr > 0 and self.clip > 0 and self.min_delta >= 0):
            raise ValueError(f"lr and clip must be positive and min_delta ≥ 0, got lr={self.lr}, clip={self.clip}, "
                             f"min_delta={self.min_delta}")
        if not 0.0 < self.fraction <= 1.0:
            raise ValueError(f"fraction (of training speakers) must lie in (0, 1], got {self.fraction}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}")
        encoder_config(self)  # the cell validates layout, cores and rank

    @property
    def head_layout(self):
        return self.head or ("dense" if self.layout == "dense" else "tt")

    @property
    def name(self):
        """A short run name, e.g. ``an4-joint-d2-R2-H128-T100-f1-s11``."""
        shape = "" if self.layout == "dense" else f"-d{self.cores}-R{self.rank}"
        return f"{self.corpus}-{self.layout}{shape}-H{self.hidden_size}-T{self.frames}-f{self.fraction:g}-s{self.seed}"


def encoder_config(config):
    """The encoder as a ModelConfig: one LSTM layer (I = 40 mel channels) and an embedding head H → D."""
    cell = CellConfig("lstm", config.layout, N_MELS, config.hidden_size, n_cores=config.cores, rank=config.rank)
    return ModelConfig(cell, head=HeadConfig(kind="embed", out_size=config.embed_dim, layout=config.head_layout))


def init_params(model, rng, dtype="float32"):
    """{"encoder": encoder parameters in ``dtype``, "ge2e": {"w": 10, "b": −5} (float64 scalars)}."""
    return {"encoder": init_model(model, rng, onp.dtype(dtype)), "ge2e": init_ge2e_params()}


def encoder_sizes(config):
    """The encoder's ``sizes.model_sizes`` (parameters by part, total, dense equivalent, compression, FLOPs per
    step), plus the two GE2E scalars w, b, which are not counted in the total."""
    return {**model_sizes(encoder_config(config)), "ge2e_scalars": 2}


@primitive
def scale_gradient(x, factor):
    """The identity on x whose gradient is multiplied by ``factor`` (GE2E's ×0.01 on w and b)."""
    return x


defvjp(scale_gradient, lambda ans, x, factor: lambda g: g * factor, None)


def ge2e_batch_loss(model, params, batch, keep=None):
    """GE2E loss of a batch (N, M, T, 40); ``keep`` (a list) receives E (N, M, D) as a plain array."""
    N, M, T, F = np.shape(batch)
    E = forward(model, params["encoder"], np.reshape(batch, (N * M, T, F)))  # (N·M, D)
    E = np.reshape(E, (N, M, -1))  # (N, M, D)
    if keep is not None:
        keep.append(getval(E))
    w = scale_gradient(params["ge2e"]["w"], GE2E_GRAD_SCALE)
    b = scale_gradient(params["ge2e"]["b"], GE2E_GRAD_SCALE)
    return ge2e_loss(E, w, b)


def batch_eer(E):
    """EER of a batch's GE2E similarities: utterance (j, i) against centroid k (exclusive for k = j).

    The trials are scored by the cosines, w = 1, b = 0: any w > 0 and b give the same EER.
    """
    S = ge2e_similarity(onp.asarray(E, dtype=onp.float64), 1.0, 0.0)  # (N, M, N)
    N = S.shape[0]
    labels = onp.broadcast_to(onp.eye(N, dtype=bool)[:, None, :], S.shape)  # (N, M, N)
    return eer(S.ravel(), labels.ravel())[0]


def embed_windows(model, encoder, X, chunk=EMBED_CHUNK):
    """Embeddings (B, D) of crops X (B, T, 40), ``chunk`` crops per forward pass (no gradient)."""
    return onp.concatenate([forward(model, encoder, X[k:k + chunk]) for k in range(0, len(X), chunk)])  # (B, D)


def embed_utterances(model, encoder, features_by_speaker, n_frames, overlap=EVAL_OVERLAP):
    """Speaker → (U, D) utterance embeddings: the mean of the ``n_frames``-frame window embeddings (50 %
    overlap); an utterance shorter than one window is embedded whole."""
    utterances = [S for utts in features_by_speaker.values() for S in utts]
    long = [k for k, S in enumerate(utterances) if len(S) >= n_frames]
    windows = [sliding_windows(utterances[k], n_frames, overlap) for k in long]  # each (W_u, T, 40)
    embedded = [None] * len(utterances)
    if windows:
        e = embed_windows(model, encoder, onp.concatenate(windows))  # (ΣW_u, D)
        bounds = onp.cumsum([len(w) for w in windows])[:-1]
        for k, e_u in zip(long, onp.split(e, bounds)):
            embedded[k] = average_windows(e_u)  # (D,)
    for k, S in enumerate(utterances):
        if embedded[k] is None:
            embedded[k] = onp.asarray(forward(model, encoder, S[None]), dtype=onp.float64)[0]  # (D,)
    out, start = {}, 0
    for s, utts in features_by_speaker.items():
        out[s] = onp.stack(embedded[start:start + len(utts)])  # (U, D)
        start += len(utts)
    return out


def verification(embeddings_by_speaker, n_enrol, n_boot=N_BOOT):
    """{"enrolment", "pairwise": {"eer", "low", "high"}}: both protocols' EERs with 95 % speaker-bootstrap
    intervals (the same draws for every system scored on the same speakers)."""
    return {"enrolment": bootstrap_eer(*enrolment_trials(embeddings_by_speaker, n_enrol), n_boot, seed=BOOT_SEED),
            "pairwise": bootstrap_eer(*pairwise_trials(embeddings_by_speaker), n_boot, seed=BOOT_SEED)}


def point_eers(embeddings_by_speaker, n_enrol):
    """{"enrolment": EER, "pairwise": EER} without intervals."""
    scores, pairs = pairwise_trials(embeddings_by_speaker)
    return {"enrolment": enrolment_eer(embeddings_by_speaker, n_enrol)[0],
            "pairwise": eer(scores, pairs[:, 0] == pairs[:, 1])[0]}


def score_tests(model, encoder, data, n_frames):
    """Every test set of ``data`` (``load_data``) scored with the encoder parameters ``encoder``:
    {name: ``verification``}, the EERs of both protocols with their 95 % intervals."""
    return {name: verification(embed_utterances(model, encoder, t, n_frames), data["test_enrol"][name])
            for name, t in data["tests"].items()}


def score_validation(model, encoder, data, n_frames):
    """The validation speakers' ``point_eers`` with the encoder parameters ``encoder`` (what picks "best")."""
    return point_eers(embed_utterances(model, encoder, data["val"], n_frames), data["val_enrol"])


def trial_counts(features_by_speaker, n_enrol):
    """Speakers, utterances, and target / non-target trials of both protocols on a test set."""
    sizes = [len(u) for u in features_by_speaker.values()]
    N, U = len(sizes), sum(sizes)
    verify = U - N * n_enrol
    same = sum(n * (n - 1) // 2 for n in sizes)
    return {"speakers": N, "utterances": U, "n_enrol": n_enrol,
            "enrolment_trials": {"target": verify, "nontarget": verify * (N - 1)},
            "pairwise_trials": {"target": same, "nontarget": U * (U - 1) // 2 - same}}


def _an4_parts(config, root, feature_config, cache_dir, progress):
    """AN4's training, validation and evaluation speakers (raw features) and the split."""
    an4, dropped = load_an4(root, feature_config, cache_dir, progress=progress)
    split = split_speakers(an4, config.eval_speakers, config.val_speakers, config.split_seed)
    short = {s: len(an4[s]) for s in split["eval"] if len(an4[s]) < 2 * AN4_ENROL}
    if short:
        raise ValueError(f"every AN4 evaluation speaker needs ≥ {2 * AN4_ENROL} utterances ({AN4_ENROL} enrol, "
                         f"≥ {AN4_ENROL} verify); these have fewer: {short}")
    train = {s: an4[s] for s in speaker_subset({s: None for s in split["train"]}, config.fraction)}
    return train, {s: an4[s] for s in split["val"]}, {s: an4[s] for s in split["eval"]}, split, len(dropped)


def _librispeech_test(root, feature_config, cache_dir, progress):
    test, dropped = load_split(TEST_SPLIT, root, feature_config, cache_dir, progress=progress)
    return take_utterances(test, LIBRI_TEST_UTTERANCES), len(dropped)


def load_data(config, an4_dir=None, librispeech_dir=None, feature_config=FeatureConfig(), cache_dir=None,
              progress=False):
    """Features for ``config``'s corpus and protocol (module docstring), normalised by the training frames.

    Returns {"train", "val" (speaker → list of (T_u, 40) float32), "val_enrol", "tests", "tests_raw" (test set
    name → speaker → list), "test_enrol" (name → enrolment utterances), "mean", "std", "split" (AN4's, or
    None), "train_speakers" (per corpus), "dropped" (files too short to load), "short_for_training"}.
    """
    train, val, tests_raw, test_enrol, split, dropped = {}, {}, {}, {}, None, 0
    by_corpus = {}
    if config.corpus == "an4":
        an4_train, val, tests_raw["an4"], split, dropped = _an4_parts(config, an4_dir, feature_config, cache_dir,
                                                                      progress)
        train.update(an4_train)
        by_corpus["an4"], test_enrol["an4"], val_enrol = len(an4_train), AN4_ENROL, AN4_ENROL
    if config.corpus == "librispeech" or config.mix_librispeech:
        pool, dropped_pool = load_split(TRAIN_SPLIT, librispeech_dir, feature_config, cache_dir, progress=progress)
        names = list(pool)
        if config.corpus == "librispeech":
            if len(names) - config.val_speakers < 2:
                raise ValueError(f"{len(names)} training speakers leave fewer than 2 after holding out "
                                 f"val_speakers={config.val_speakers}")
            rng = onp.random.default_rng(config.split_seed)
            val = {s: list(sample_batch({s: pool[s]}, 1, VAL_CROPS, config.frames, rng)[0])  # 10 × (T, 40)
                   for s in names[-config.val_speakers:]}
            val_enrol, names = VAL_CROPS // 2, names[:-config.val_speakers]
        libri_train = speaker_subset({s: pool[s] for s in names}, config.fraction)
        clash = sorted(set(libri_train) & set(train))
        if clash:
            raise ValueError(f"speaker names occur in both corpora: {clash[:5]}")
        train.update(libri_train)
        by_corpus["librispeech"] = len(libri_train)
        tests_raw["librispeech"], dropped_test = _librispeech_test(librispeech_dir, feature_config, cache_dir,
                                                                   progress)
        test_enrol["librispeech"] = LIBRI_ENROL
        dropped += len(dropped_pool) + dropped_test
    usable = {s: [S for S in utts if len(S) >= config.frames] for s, utts in train.items()}
    short = sum(len(u) for u in train.values()) - sum(len(u) for u in usable.values())
    train = {s: u for s, u in usable.items() if u}
    if len(train) < 2:
        raise ValueError(f"fraction={config.fraction} and frames={config.frames} keep {len(train)} training "
                         f"speaker(s); GE2E needs at least 2")
    mean, std = feature_stats(S for utts in train.values() for S in utts)  # (40,), (40,)

    def normalised(split_features):
        return {s: [normalize_features(S, mean, std).astype(onp.float32) for S in utts]  # (T_u, 40) each
                for s, utts in split_features.items()}

    return {"train": normalised(train), "val": normalised(val), "val_enrol": val_enrol,
            "tests": {name: normalised(t) for name, t in tests_raw.items()}, "tests_raw": tests_raw,
            "test_enrol": test_enrol, "mean": mean, "std": std, "split": split, "train_speakers": by_corpus,
            "dropped": dropped, "short_for_training": short}


def baselines(tests_raw, test_enrol, n_boot=N_BOOT):
    """The no-training mean/std baseline on every test set: {name: {"normalised", "raw": verification(...)}}."""
    return {name: {"normalised": verification(baseline_embeddings(t, normalize=True), test_enrol[name], n_boot),
                   "raw": verification(baseline_embeddings(t, normalize=False), test_enrol[name], n_boot)}
            for name, t in tests_raw.items()}


def baseline_only(config, an4_dir=None, librispeech_dir=None, feature_config=FeatureConfig(), cache_dir=None):
    """``baselines`` on ``config``'s test sets, loading only those (no training data); with the trial counts."""
    tests_raw, test_enrol = {}, {}
    if config.corpus == "an4":
        tests_raw["an4"] = _an4_parts(config, an4_dir, feature_config, cache_dir, False)[2]
        test_enrol["an4"] = AN4_ENROL
    if config.corpus == "librispeech" or config.mix_librispeech:
        tests_raw["librispeech"] = _librispeech_test(librispeech_dir, feature_config, cache_dir, False)[0]
        test_enrol["librispeech"] = LIBRI_ENROL
    scores = baselines(tests_raw, test_enrol)
    return {name: {**scores[name], "trials": trial_counts(t, test_enrol[name])} for name, t in tests_raw.items()}


def stop_reason(val_eers, patience, min_delta, steps, max_steps):
    """"plateau" when none of the last ``patience`` validation EERs is below the best before them by more than
    ``min_delta`` (patience 0: never), "step cap" at ``max_steps``, else None."""
    if patience and len(val_eers) > patience and min(val_eers[-patience:]) >= min(val_eers[:-patience]) - min_delta:
        return "plateau"
    return "step cap" if steps >= max_steps else None


def train(config, data, out_dir, resume=False, progress=True):
    """Train the encoder on ``data`` (``load_data``) until the validation plateau or the step cap, then test.

    One ``fit`` call per ``eval_every`` steps, each resuming from the previous one's checkpoint (the numbers
    are those of one uninterrupted run).  Checkpoints ``best`` (lowest validation EER) and ``last`` go to
    ``out_dir/checkpoints``; ``resume`` continues from ``last``.  The results dict is also written (atomically)
    to ``out_dir/results.json``.  ``out_dir`` is a run folder (``runfolder``): locked for the run, and a folder
    that already holds a run is refused unless ``resume`` (``check_out``).  Divergence (a non-finite loss or
    gradient, or a loss above ``MAX_LOSS_FACTOR`` × the first) raises ``TrainingDiverged``; the checkpoints of
    the last good evaluation stay.
    """
    with owned(out_dir):
        check_out(out_dir, resume)
        return _train(config, data, out_dir, resume, progress)


def check_out(out_dir, resume):
    """Refuse a run folder that holds a run unless resuming; prove it can be written (before any work)."""
    held = [name for name in (RESULTS_FILE, "checkpoints/last.json") if (Path(out_dir) / name).exists()]
    if held and not resume:
        raise ValueError(f"{out_dir} already holds a run ({held[0]}); pass --resume to continue it, or choose "
                         "another --out")
    check_writable(out_dir)


def _train(config, data, out_dir, resume, progress):
    """``train`` with ``out_dir`` owned."""
    session_start = time.perf_counter()
    model = encoder_config(config)
    params = init_params(model, onp.random.default_rng(config.seed), config.dtype)
    N, M, T = config.speakers_per_batch, config.utterances_per_speaker, config.frames
    if N > len(data["train"]):
        raise ValueError(f"speakers_per_batch={N} exceeds the {len(data['train'])} training speakers")
    kept, step_log = [], {"eer": [], "time": []}
    bar = tqdm(total=config.max_steps, desc=config.name, unit="step") if progress and tqdm is not None else None

    def loss_fn(p, batch):
        return ge2e_batch_loss(model, p, batch, keep=kept)

    def train_batches(epoch, rng):
        count = min(config.eval_every, config.max_steps - epoch * config.eval_every)
        return (sample_batch(data["train"], N, M, T, rng, distinct="auto") for _ in range(count))  # (N, M, T, 40) each

    def on_step(record):
        step_log["eer"].append(batch_eer(kept.pop()))
        step_log["time"].append(record["time"])
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{record['loss']:.3f}", refresh=False)

    def evaluate(p):
        start = time.perf_counter()
        val = score_validation(model, p["encoder"], data, T)
        metrics = {"val_eer": val["enrolment"], "val_pairwise_eer": val["pairwise"],
                   "train_eer": float(onp.mean(step_log["eer"])),
                   "steps_per_s": len(step_log["time"]) / sum(step_log["time"]),
                   "ge2e_w": float(p["ge2e"]["w"]), "ge2e_b": float(p["ge2e"]["b"])}
        step_log["eer"].clear()
        step_log["time"].clear()
        return {**metrics, "eval_time": time.perf_counter() - start}

    stopping = ("max_steps", "patience", "min_delta")
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k not in stopping}
    max_epochs = math.ceil(config.max_steps / config.eval_every)
    epochs, reason = 0, None
    try:
        while reason is None:
            result = fit(loss_fn, params, train_batches, epochs=min(epochs + 1, max_epochs), lr=config.lr,
                         lr_unit="step", clip=config.clip, evaluate=evaluate, select_metric="val_eer", mode="min",
                         seed=config.seed, config=settings, checkpoint_dir=os.path.join(out_dir, "checkpoints"),
                         resume=resume or epochs > 0, progress=False, log_grad_norms=True, on_step=on_step,
                         max_loss_factor=MAX_LOSS_FACTOR)
            evals = result.history["epochs"]
            epochs = len(evals)
            steps = len(result.history["steps"]["loss"])
            reason = stop_reason([e["val_eer"] for e in evals], config.patience, config.min_delta,
                                 steps, config.max_steps)
            if bar is not None:
                bar.n = steps
                bar.set_postfix(val_eer=f"{100 * evals[-1]['val_eer']:.1f}%",
                                best=f"{100 * result.best_metrics['val_eer']:.1f}%")
    finally:
        if bar is not None:
            bar.close()
    final_start = time.perf_counter()
    tests = score_tests(model, result.best_params["encoder"], data, T)
    last_tests = {name: point_eers(embed_utterances(model, result.params["encoder"], t, T), data["test_enrol"][name])
                  for name, t in data["tests"].items()}
    baseline = baselines(data["tests_raw"], data["test_enrol"])
    final_time = time.perf_counter() - final_start
    results = summarize(config, data, result, reason, tests, last_tests, baseline, final_time,
                        time.perf_counter() - session_start)
    write_json(Path(out_dir) / RESULTS_FILE, results)
    return results


def summarize(config, data, result, reason, tests, last_tests, baseline, final_time, session_time):
    """The results dict of a finished run (JSON-able)."""
    evals, steps = result.history["epochs"], result.history["steps"]
    leaf_norms = steps.get("leaf_grad_norms", {})
    sizes = encoder_sizes(config)
    train_time = sum(e["time"] for e in evals)
    eval_time = sum(e.get("eval_time", 0.0) for e in evals)
    return {
        "config": dataclasses.asdict(config), "name": config.name, "command": " ".join(sys.argv),
        "machine": machine_info(), "sizes": sizes, "params": sizes["total"],
        "data": {"corpus": config.corpus, "train_speakers": len(data["train"]),
                 "train_speakers_by_corpus": data["train_speakers"], "val_speakers": len(data["val"]),
                 "split": data["split"], "dropped": data["dropped"], "short_for_training": data["short_for_training"],
                 "tests": {name: trial_counts(t, data["test_enrol"][name]) for name, t in data["tests"].items()}},
        "stop_reason": reason, "steps": len(steps["loss"]),
        "best": {"step": (result.best_epoch + 1) * config.eval_every if result.best_epoch is not None else None,
                 **(result.best_metrics or {}), "tests": tests},
        "last": {**(evals[-1] if evals else {}), "tests": last_tests},
        "baseline": baseline,
        "train_time_s": train_time, "eval_time_s": eval_time, "test_time_s": final_time,
        "wall_time_s": train_time + eval_time + final_time, "session_time_s": session_time,
        "steps_per_s": len(steps["time"]) / sum(steps["time"]) if steps["time"] else None,
        "history": {"evals": evals, "loss": steps["loss"], "grad_norm": steps["grad_norm"],
                    "ge2e_grad_norm": {k: leaf_norms.get(f"ge2e/{k}", []) for k in ("w", "b")}},
    }
