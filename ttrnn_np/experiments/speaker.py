"""The speaker-verification experiment (PAPER.md §6.2): a (TT-)LSTM d-vector encoder trained with GE2E.

Index letters: j speaker (N per batch), i crop (M per speaker), t frame (T per crop), m mel channel (40),
H hidden size, D embedding size, u utterance, w window, K held-out validation speakers.

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

**Data** (the shared LibriSpeech sample).  train-clean-100 has 251 speakers with ONE long utterance each, so
the M "utterances" of a speaker in a batch are M random crops of that one recording (``sample_batch`` draws
with replacement).  The last K = 20 training speakers (sorted order) are held out for validation; the first
``fraction`` of the rest train.  Inputs are log-mel frames normalised per channel by the global mean and std
of the training frames, (S − μ)/σ, the same μ, σ for validation and test.

**Evaluation** (the paper's protocol, on the 10 test-other speakers × their first 10 utterances, sorted):
cut each utterance into 160-frame windows with 50 % overlap, embed every window, average them (not
re-normalised) into the utterance embedding; the first 5 utterances of a speaker enrol (centroid), the last 5
verify against every centroid: 50 target and 450 non-target trials, so one target trial moves the EER by 2 %.
The pairwise EER scores all 4,950 utterance pairs.  The no-training mean/std baseline is scored on the same
trials.  Validation uses 10 fixed crops of each held-out speaker (5 enrol, 5 verify); the checkpoint with
the lowest validation EER is "best" and its test EER is the result (test numbers are never used to choose).

**CPU scale.**  One float32 GE2E step (N = 16, M = 8, T = 160, H = 128: 128 sequences of 160 steps, forward
and backward) takes ≈ 0.2 s dense and ≈ 0.25 s joint TT d = 2, R = 2 on one core with single-threaded BLAS
(H = 256: 0.56 s and 0.50 s), and up to 10× longer with OpenBLAS threads fighting over 2 busy cores, so
``ttrnn speaker`` sets one BLAS thread (``--blas-threads``) and tunes malloc (``runtime``) first.  TT saves
FLOPs (48k vs 172k per sample and step at H = 128) but not time: at these sizes the per-step overhead, not
the products, dominates.  The defaults (H = 128 instead of 768, M = 8 instead of 32, 2,000 steps instead of
20,000, float32) take 7–9 min alone on a core and took 23 min with two runs sharing 2 busy cores.

The command line (``ttrnn speaker``: options, the end-of-run table) is ``speaker_cli``; the fake corpus for
tests and the tutorial is ``speech.synthetic``.
"""
import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path

import autograd.numpy as np
import numpy as onp
from autograd.extend import defvjp, primitive
from autograd.tracer import getval

from ..cells import LAYOUTS, CellConfig, check_dtype, check_positive_int
from ..heads import HeadConfig
from ..rnn import ModelConfig, forward, init_model
from ..sizes import model_sizes
from ..speech import (GE2E_GRAD_SCALE, TEST_SPLIT, TRAIN_SPLIT, FeatureConfig, average_windows, baseline_eer, eer,
                      enrolment_eer, feature_stats, ge2e_loss, ge2e_similarity, init_ge2e_params, load_split,
                      normalize_features, pairwise_eer, sample_batch, sliding_windows, speaker_subset,
                      take_utterances)
from ..training import fit
from .runtime import machine_info

N_MELS = 40
EVAL_FRAMES, EVAL_OVERLAP = 160, 0.5
TEST_UTTERANCES, N_ENROL = 10, 5
VAL_CROPS = 10
EMBED_CHUNK = 256


@dataclasses.dataclass(frozen=True)
class SpeakerConfig:
    """Every setting of one run: encoder, GE2E batch, optimisation, data.  Paper values in brackets."""
    layout: str = "joint"
    cores: int = 2
    rank: int = 2
    hidden: int = 128  # [768]
    embed_dim: int = 256
    head: str = None  # None: "tt" for TT layouts, "dense" for the dense layout
    speakers_per_batch: int = 16  # N [16]
    utterances_per_speaker: int = 8  # M [32]
    frames: int = 160  # T [160]
    steps: int = 2000  # [20,000]
    lr: float = 1e-3
    clip: float = 3.0
    eval_every: int = 100  # [10]
    seed: int = 11
    fraction: float = 1.0
    val_speakers: int = 20
    dtype: str = "float32"

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")
        if self.head not in (None, "dense", "tt"):
            raise ValueError(f"head must be 'dense', 'tt' or None (follow the layout), got {self.head!r}")
        for name in ("cores", "rank", "hidden", "embed_dim", "speakers_per_batch", "utterances_per_speaker",
                     "frames", "steps", "eval_every", "val_speakers"):
            check_positive_int(name, getattr(self, name))
        for name in ("speakers_per_batch", "utterances_per_speaker", "val_speakers"):
            if getattr(self, name) < 2:
                raise ValueError(f"GE2E and the EER need {name} ≥ 2, got {getattr(self, name)}")
        if not (self.lr > 0 and self.clip > 0):
            raise ValueError(f"lr and clip must be positive, got lr={self.lr}, clip={self.clip}")
        if not 0.0 < self.fraction <= 1.0:
            raise ValueError(f"fraction (of training speakers) must lie in (0, 1], got {self.fraction}")
        check_dtype(self.dtype)

    @property
    def head_layout(self):
        return self.head or ("dense" if self.layout == "dense" else "tt")

    @property
    def tag(self):
        """A short run name, e.g. ``joint-d2-R2-H128-f1-s11``."""
        shape = "" if self.layout == "dense" else f"-d{self.cores}-R{self.rank}"
        return f"{self.layout}{shape}-H{self.hidden}-f{self.fraction:g}-s{self.seed}"


def encoder_config(config):
    """The encoder as a ModelConfig: one LSTM layer (I = 40 mel channels) and an embedding head H → D."""
    cell = CellConfig("lstm", config.layout, N_MELS, config.hidden, n_cores=config.cores, rank=config.rank)
    return ModelConfig(cell, head=HeadConfig(kind="embed", out_size=config.embed_dim, layout=config.head_layout))


def init_params(model, rng, dtype="float32"):
    """{"encoder": encoder parameters in ``dtype``, "ge2e": {"w": 10, "b": −5} (float64 scalars)}."""
    return {"encoder": init_model(model, rng, check_dtype(dtype)), "ge2e": init_ge2e_params()}


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


def embed_utterances(model, encoder, features_by_speaker, n_frames=EVAL_FRAMES, overlap=EVAL_OVERLAP):
    """Speaker → (U, D) utterance embeddings: mean of the 160-frame, 50 %-overlap window embeddings."""
    windows = [sliding_windows(S, n_frames, overlap) for utts in features_by_speaker.values() for S in utts]
    e = embed_windows(model, encoder, onp.concatenate(windows))  # (ΣW_u, D)
    bounds = onp.cumsum([len(w) for w in windows])[:-1]  # (U_total − 1,)
    utterances = [average_windows(e_u) for e_u in onp.split(e, bounds)]  # U_total × (D,)
    out, start = {}, 0
    for s, utts in features_by_speaker.items():
        out[s] = onp.stack(utterances[start:start + len(utts)])  # (U, D)
        start += len(utts)
    return out


def evaluate_test(model, encoder, test_features, n_enrol=N_ENROL):
    """{"test_eer": enrolment protocol, "test_pairwise_eer": all utterance pairs} of the encoder."""
    embeddings = embed_utterances(model, encoder, test_features)
    ids = [s for s, e in embeddings.items() for _ in e]
    return {"test_eer": enrolment_eer(embeddings, n_enrol)[0],
            "test_pairwise_eer": pairwise_eer(onp.concatenate(list(embeddings.values())), ids)[0]}


def load_data(root=None, fraction=1.0, val_speakers=20, feature_config=FeatureConfig(), cache_dir=None,
              progress=False):
    """Features of the sample: {"train", "val", "test" (normalised), "test_raw", "mean", "std", "dropped"}."""
    pool, dropped = load_split(TRAIN_SPLIT, root, feature_config, cache_dir, progress=progress)
    names = list(pool)
    if len(names) - val_speakers < 2:
        raise ValueError(f"{len(names)} training speakers leave fewer than 2 after holding out "
                         f"val_speakers={val_speakers}")
    train = speaker_subset({s: pool[s] for s in names[:-val_speakers]}, fraction)
    val = {s: pool[s] for s in names[-val_speakers:]}
    if len(train) < 2:
        raise ValueError(f"fraction={fraction} keeps {len(train)} training speaker; GE2E needs at least 2")
    test_raw, dropped_test = load_split(TEST_SPLIT, root, feature_config, cache_dir, progress=progress)
    test_raw = take_utterances(test_raw, TEST_UTTERANCES)
    mean, std = feature_stats(S for utts in train.values() for S in utts)  # (40,), (40,)

    def normalised(split):
        return {s: [normalize_features(S, mean, std).astype(onp.float32) for S in utts]  # (T_u, 40) each
                for s, utts in split.items()}

    return {"train": normalised(train), "val": normalised(val), "test": normalised(test_raw),
            "test_raw": test_raw, "mean": mean, "std": std, "dropped": len(dropped) + len(dropped_test)}


def baselines(test_raw, n_enrol=N_ENROL):
    """The no-training mean/std baseline EER on the test trials: globally normalised and raw log-mel."""
    return {"normalised": baseline_eer(test_raw, n_enrol, normalize=True)[0],
            "raw": baseline_eer(test_raw, n_enrol, normalize=False)[0]}


def baseline_on_test_split(root=None, feature_config=FeatureConfig(), cache_dir=None):
    """``baselines`` from the test split alone (no training data needed), with the trial counts."""
    test_raw, dropped = load_split(TEST_SPLIT, root, feature_config, cache_dir)
    test_raw = take_utterances(test_raw, TEST_UTTERANCES)
    return {**baselines(test_raw, N_ENROL), "speakers": len(test_raw), "dropped": len(dropped),
            "target_trials": len(test_raw) * (TEST_UTTERANCES - N_ENROL)}


def train(config, data, out_dir, resume=False, progress=True):
    """Train the encoder on ``data`` (``load_data``), evaluating every ``eval_every`` steps; returns results.

    Checkpoints ``best`` (lowest validation EER) and ``last`` go to ``out_dir/checkpoints``; ``resume``
    continues from ``last``.  The results dict is also written to ``out_dir/results.json``.
    """
    model = encoder_config(config)
    params = init_params(model, onp.random.default_rng(config.seed), config.dtype)
    N, M, T = config.speakers_per_batch, config.utterances_per_speaker, config.frames
    if N > len(data["train"]):
        raise ValueError(f"speakers_per_batch={N} exceeds the {len(data['train'])} training speakers")
    val_batch = sample_batch(data["val"], len(data["val"]), VAL_CROPS, EVAL_FRAMES,
                             onp.random.default_rng(config.seed + 1))  # (K, 10, 160, 40)
    epochs = math.ceil(config.steps / config.eval_every)
    kept, step_log = [], {"eer": [], "time": []}

    def loss_fn(p, batch):
        return ge2e_batch_loss(model, p, batch, keep=kept)

    def train_batches(epoch, rng):
        count = min(config.eval_every, config.steps - epoch * config.eval_every)
        return (sample_batch(data["train"], N, M, T, rng) for _ in range(count))  # count × (N, M, T, 40), lazily

    def on_step(record):
        step_log["eer"].append(batch_eer(kept.pop()))
        step_log["time"].append(record["time"])

    def evaluate(p):
        start = time.perf_counter()
        K = val_batch.shape[0]
        E_val = embed_windows(model, p["encoder"], val_batch.reshape(K * VAL_CROPS, EVAL_FRAMES, N_MELS))
        metrics = {"val_eer": enrolment_eer(E_val.reshape(K, VAL_CROPS, -1), VAL_CROPS // 2)[0],
                   **evaluate_test(model, p["encoder"], data["test"]),
                   "train_eer": float(onp.mean(step_log["eer"])),
                   "steps_per_s": len(step_log["time"]) / sum(step_log["time"]),
                   "ge2e_w": float(p["ge2e"]["w"]), "ge2e_b": float(p["ge2e"]["b"])}
        step_log["eer"].clear()
        step_log["time"].clear()
        return {**metrics, "eval_time": time.perf_counter() - start}

    settings = {k: v for k, v in dataclasses.asdict(config).items() if k != "steps"}
    result = fit(loss_fn, params, train_batches, epochs=epochs, lr=config.lr, lr_unit="step", clip=config.clip,
                 evaluate=evaluate, select_metric="val_eer", mode="min", seed=config.seed, config=settings,
                 checkpoint_dir=os.path.join(out_dir, "checkpoints"), resume=resume, progress=progress,
                 log_grad_norms=True, on_step=on_step)
    results = summarize(config, model, data, result)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    Path(out_dir, "results.json").write_text(json.dumps(results, indent=1))
    return results


def summarize(config, model, data, result):
    """The results dict of a finished run (JSON-able)."""
    sizes = model_sizes(model)
    evals, steps = result.history["epochs"], result.history["steps"]
    leaf_norms = steps.get("leaf_grad_norms", {})
    return {
        "config": dataclasses.asdict(config), "tag": config.tag, "command": " ".join(sys.argv),
        "machine": machine_info(),
        "sizes": {"parts": sizes["parts"], "total": sizes["total"], "total_no_bias": sizes["total_no_bias"],
                  "dense_total": sizes["dense_total"], "compression": sizes["compression"],
                  "ge2e_scalars": 2, "flops_per_step": sizes["flops_per_step"]["best"]},
        "data": {"train_speakers": len(data["train"]), "val_speakers": len(data["val"]),
                 "test_speakers": len(data["test"]), "dropped": data["dropped"],
                 "target_trials": len(data["test"]) * (TEST_UTTERANCES - N_ENROL),
                 "nontarget_trials": len(data["test"]) * (len(data["test"]) - 1) * (TEST_UTTERANCES - N_ENROL)},
        "best": {"step": (result.best_epoch + 1) * config.eval_every if result.best_epoch is not None else None,
                 **(result.best_metrics or {})},
        "last": evals[-1] if evals else None,
        "baseline": baselines(data["test_raw"]),
        "steps": len(steps["loss"]), "train_time_s": sum(e["time"] for e in evals),
        "eval_time_s": sum(e.get("eval_time", 0.0) for e in evals),
        "steps_per_s": len(steps["time"]) / sum(steps["time"]) if steps["time"] else None,
        "history": {"evals": evals, "loss": steps["loss"], "grad_norm": steps["grad_norm"],
                    "ge2e_grad_norm": {k: leaf_norms.get(f"ge2e/{k}", []) for k in ("w", "b")}},
    }
