# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · Speaker verification with a tensorized LSTM encoder
#
# The paper's second experiment (docs/method.md §8) trains an LSTM to turn a slice of speech into a
# **d-vector**: a unit-length embedding $e \in \mathbb{R}^D$ such that two slices of the same voice point in
# nearly the same direction. To *verify* a claimed speaker we average the d-vectors of a few enrolment
# utterances into a centroid $c$ and accept a new utterance $v$ when $\cos(v, c) \ge \theta$. The error
# measure is the **equal error rate** (EER): the rate at which, for the threshold where they are equal, false
# accepts and false rejects happen.
#
# This notebook goes from the waveform to mel frames, draws the GE2E loss as a similarity matrix, and trains a
# small joint TT-LSTM encoder live: that shows the mechanics (batches, loss, checkpoints, EER), but a model this
# small, trained for minutes and tested on 10 speakers, cannot show that training beats a no-training baseline.
# The result comes from the encoders of the speaker study, which trained for hours and ship with the
# repository: section 7 loads them, scores 44 speakers they never heard, and compares them with the baseline on
# the same trials (EERs with intervals, error rates against the threshold, embeddings in 2-D); section 8
# compares every TT shape with the dense encoder.
#
# **Index letters.** $j$ speaker ($N$ per batch), $i$ utterance or crop ($M$ per speaker), $k$ candidate
# speaker (a centroid), $t$ frame ($T$), $m$ mel channel (40), $H$ hidden size, $D$ embedding size.
#
# **Data.** The shared LibriSpeech sample: 251 training speakers with *one* long utterance each, and 10
# test speakers (test-other) with 10 utterances each; section 7 also reads CMU AN4 (84 speakers, about 13 short
# utterances each). In fast mode without `$TTRNN_DATA` the notebook makes a tiny **synthetic** corpus instead
# (buzzing tones with speaker-specific pitch and resonances, clearly not speech) so that sections 1–6 still run,
# with meaningless numbers, and skips section 7, which needs the real corpora.

# %%
import os
import tempfile
from pathlib import Path

for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")  # small matrices: one BLAS thread is fastest on a shared CPU

import json

import matplotlib.pyplot as plt
import numpy as np

from checks import speaker as check  # the exercises' checkers (tutorials/checks/)
from ttrnn_np.checkpoint import load_checkpoint
from ttrnn_np.experiments import report, speaker as sv
from ttrnn_np.experiments.runs import load_run
from ttrnn_np.experiments.speaker_cli import results_table
from ttrnn_np.shapes import auto_shape
from ttrnn_np.sizes import size_story
from ttrnn_np.speech import (baseline_embeddings, eer, enrolment_scores, error_rates, features_from_waveform,
                             ge2e_loss, list_speakers, mel_filterbank, read_audio, roc_points, sample_batch,
                             similarity_matrix, stft, trim_silence, write_synthetic_corpus)

FAST = os.environ.get("TTRNN_FAST") == "1"
SAMPLE = Path(os.environ["TTRNN_DATA"]) / "librispeech-sample" if os.environ.get("TTRNN_DATA") else None
SYNTHETIC = SAMPLE is None or not SAMPLE.is_dir()
if SYNTHETIC and not FAST:
    raise FileNotFoundError("this notebook needs the LibriSpeech sample: set TTRNN_DATA so that "
                            "$TTRNN_DATA/librispeech-sample exists (or run it with TTRNN_FAST=1 on synthetic data)")
if SYNTHETIC:
    SAMPLE = write_synthetic_corpus(Path(tempfile.mkdtemp()) / "synthetic", n_train=24, n_test=6, seed=0)
    print("SYNTHETIC DATA (no $TTRNN_DATA): fake buzzing 'speakers', for running the code only")
print("data:", "synthetic corpus" if SYNTHETIC else "$TTRNN_DATA/librispeech-sample")

# %% [markdown]
# ## 1. From waveform to mel frames
#
# A waveform $x[l]$ (16 kHz) is cut into frames of 400 samples (25 ms) every 160 samples (10 ms). Each frame,
# times a Hann window $w[n]$, goes through the FFT, and its power is summed by 40 triangular mel filters
# $F[m, k]$:
#
# $$X[t, k] = \sum_n w[n]\, x[t \cdot 160 + n]\, e^{-2\pi i k n / 400}, \qquad
#   S[t, m] = \log\Big(\sum_k |X[t, k]|^2 F[m, k] + 10^{-6}\Big).$$
#
# Before that the level is raised to −30 dBFS and long silences are trimmed. The paper feeds the mel power
# itself; we use its logarithm, normalised per channel by the mean and standard deviation of all training
# frames, $(S - \mu) / \sigma$, which suits the LSTM's saturating gates better.

# %%
test_speakers = list_speakers(SAMPLE / "test-other")  # speaker → utterance paths, sorted
path = next(iter(test_speakers.values()))[0]
x = read_audio(path)  # (L,)
x_trim = trim_silence(x)  # (L',)
P = np.abs(stft(x_trim)) ** 2  # (T, 201) power spectrogram
F = mel_filterbank()  # (40, 201)
S = features_from_waveform(x)  # (T, 40) log-mel, trimmed
print(f"{path.name}: {len(x) / 16000:.2f} s, {len(x_trim) / 16000:.2f} s after trimming, "
      f"power spectrogram {P.shape}, mel filterbank {F.shape}, log-mel {S.shape}")

fig, axes = plt.subplots(4, 1, figsize=(9, 10))
axes[0].plot(np.arange(len(x)) / 16000, x, lw=0.3)
axes[0].set(title="waveform x (16 kHz)", xlabel="seconds")
axes[1].imshow(np.log(P.T + 1e-10), origin="lower", aspect="auto", extent=(0, len(P) / 100, 0, 8000))
axes[1].set(title="log power spectrogram |X[t, k]|² (after trimming silence)", xlabel="seconds", ylabel="Hz")
axes[2].plot(np.arange(201) * 40, F.T, lw=0.8)
axes[2].set(title="40 mel filters F[m, k] (unit area: high filters are wide and low)", xlabel="Hz")
axes[3].imshow(S.T, origin="lower", aspect="auto", extent=(0, len(S) / 100, 0, 40))
axes[3].set(title="log-mel frames S[t, m]: the encoder's input", xlabel="seconds", ylabel="mel channel")
fig.tight_layout()

# %% [markdown]
# ## 2. Training data: GE2E batches of crops
#
# Here we train on the LibriSpeech sample (the study of sections 7–8 uses CMU AN4's 84 speakers as well).
# `load_data` computes (and caches) the features, holds out the last 20 training speakers for validation
# (model selection), normalises everything with the training frames' $\mu, \sigma$, and keeps the first 10
# utterances of every test speaker. A GE2E batch takes $N$ speakers and $M$ crops of $T$ frames each: a
# tensor $(N, M, T, 40)$. With one utterance per training speaker, the $M$ crops come from the same recording.

# %%
VAL_SPEAKERS = 4 if SYNTHETIC else 20
N, M, T = (4, 4, 160) if FAST else (8, 6, 160)
config = sv.SpeakerConfig(corpus="librispeech", layout="joint", cores=2, rank=2, hidden_size=16 if FAST else 64,
                          embed_dim=32 if FAST else 64, speakers_per_batch=N, utterances_per_speaker=M, frames=T,
                          max_steps=40 if FAST else 1200, patience=0, eval_every=10 if FAST else 100, lr=3e-3,
                          val_speakers=VAL_SPEAKERS, seed=11)
data = sv.load_data(config, librispeech_dir=SAMPLE)
test = data["tests"]["librispeech"]  # speaker → list of (T_u, 40)
print({split: len(data[split]) for split in ("train", "val")}, "speakers;",
      f"{len(test)} test speakers with {len(next(iter(test.values())))} utterances each")
batch = sample_batch(data["train"], N, M, T, np.random.default_rng(0))  # (N, M, T, 40)
print("batch", batch.shape)

# %% [markdown]
# ## 3. The encoder and the GE2E loss as a similarity matrix
#
# The encoder is one LSTM layer whose $W_x$ ($40 \times 4H$) and $W_h$ ($H \times 4H$) are each one TT-matrix
# (the paper's joint layout), and a TT head $H \to D$: $e = \mathrm{ReLU}(h_T W + b) / \|\cdot\|$. The
# batch gives embeddings $E \in \mathbb{R}^{N \times M \times D}$. GE2E compares every utterance $e_{ji}$ with
# every speaker's centroid; for its own speaker it uses the centroid *without* itself:
#
# $$S[j, i, k] = w \cos(e_{ji}, c_k) + b \ (k \ne j), \qquad S[j, i, j] = w \cos(e_{ji}, c_j^{(-i)}) + b,$$
# $$L = \frac{1}{NM} \sum_{j, i} \Big(-S[j, i, j] + \log \sum_k e^{S[j, i, k]}\Big),$$
#
# a softmax over speakers. Drawn as an $(NM) \times N$ matrix, a good encoder makes it block-diagonal. The
# scalars $w = 10, b = -5$ are learned too (with gradients × 0.01); in fact only $w$, the softmax's inverse
# temperature, moves: $b$ shifts every logit of the softmax by the same amount, so $\partial L / \partial b = 0$.

# %%
model = sv.encoder_config(config)
print(size_story(model))
params0 = sv.init_params(model, np.random.default_rng(config.seed), config.dtype)
E0 = sv.embed_windows(model, params0["encoder"], batch.reshape(N * M, T, 40)).reshape(N, M, -1)  # (N, M, D)
print(f"untrained: GE2E loss {ge2e_loss(E0, 10.0, -5.0):.3f} (all cosines equal would give log N = {np.log(N):.3f}), "
      f"batch EER {100 * sv.batch_eer(E0):.1f} %")

# %% [markdown]
# ## 4. Training a small TT encoder
#
# `sv.train` runs Adam (clip 3) on GE2E batches, evaluates every `eval_every` steps (validation EER on
# held-out speakers, running train EER), keeps the checkpoint with the best *validation* EER, and at the end
# scores the test speakers once with that checkpoint, every EER with a 95 % interval from resampling the test
# speakers. (`patience=0` runs to `max_steps`; the study stops each run on a validation plateau instead.) We use
# a larger learning rate than the paper (3e-3 instead of 1e-3) to get somewhere in few steps.

# %%
run_dir = Path(tempfile.mkdtemp()) / "tutorial-run"
results = sv.train(config, data, run_dir, progress=not FAST)
print(results_table(results))
loss = results["history"]["loss"]
assert np.mean(loss[-10:]) < np.mean(loss[:10]), "the GE2E loss should go down"

# %% [markdown]
# The similarity matrix of the same batch, before and after training:

# %%
best_params, _, _ = load_checkpoint(run_dir / "checkpoints" / "best")
E1 = sv.embed_windows(model, best_params["encoder"], batch.reshape(N * M, T, 40)).reshape(N, M, -1)  # (N, M, D)
w1, b1 = float(best_params["ge2e"]["w"]), float(best_params["ge2e"]["b"])
print(f"learned w = {w1:.3f} (from 10), b = {b1:.6f} (from -5: its gradient is zero up to rounding)")
assert abs(b1 + 5.0) < 1e-4
fig, axes = plt.subplots(1, 2, figsize=(8, 5))
for ax, E, w, b, name in ((axes[0], E0, 10.0, -5.0, "untrained"), (axes[1], E1, w1, b1, "trained")):
    image = ax.imshow(similarity_matrix(E, w, b), aspect="auto", cmap="viridis")
    for j in range(1, N):
        ax.axhline(j * M - 0.5, color="w", lw=0.8)  # speaker j's M utterances start here
    ax.set(title=f"{name}: S (N·M × N), L = {ge2e_loss(E, w, b):.2f}", xlabel="centroid k",
           ylabel="utterance (j, i)")
    fig.colorbar(image, ax=ax)
fig.tight_layout()

# %% [markdown]
# ## 5. The EER curve
#
# Test EER: each test utterance is cut into windows of $T$ frames with 50 % overlap, the window d-vectors are
# averaged, the first 5 utterances of a speaker make its centroid and the last 5 are scored against every
# centroid. With 10 test speakers that is only 50 target trials: one trial moves the EER by 2 %, which is why
# every EER comes with its interval. During training we watch the training and validation EERs; the test set is
# scored once, at the end.

# %%
evals = results["history"]["evals"]
steps = [(k + 1) * config.eval_every for k in range(len(evals))]
fig, ax = plt.subplots(figsize=(7, 4))
for key, style in (("train_eer", ":"), ("val_eer", "--")):
    ax.plot(steps, [100 * e[key] for e in evals], style, marker="o", ms=3, label=key)
ax.set(xlabel="training step", ylabel="EER (%)", title="EER during training")
ax.legend()
fig.tight_layout()
tested = results["best"]["tests"]["librispeech"]["enrolment"]
variant = min(("normalised", "raw"), key=lambda v: results["baseline"]["librispeech"][v]["enrolment"]["eer"])
base = results["baseline"]["librispeech"][variant]["enrolment"]  # the stronger baseline is the bar to beat
print(f"test EER {100 * tested['eer']:.1f} % [{100 * tested['low']:.1f}, {100 * tested['high']:.1f}]; "
      f"no-training baseline ({variant} log-mel) {100 * base['eer']:.1f} % [{100 * base['low']:.1f}, "
      f"{100 * base['high']:.1f}]")
if tested["low"] > base["high"] or base["low"] > tested["high"]:
    print("the two 95 % intervals do not overlap:", "the encoder is better" if tested["eer"] < base["eer"] else
          "the baseline is better")
else:
    print("the two 95 % intervals overlap: on these few trials this run cannot tell the encoder from the "
          "baseline (section 7 compares trained encoders with it on 44 AN4 speakers)")

# %% [markdown]
# What the EER is: sweep the threshold θ down over all scores; the false-acceptance rate (FAR, the share of
# non-target trials accepted) rises and the false-rejection rate (FRR, the share of target trials rejected)
# falls; the EER is where they cross. `enrolment_scores` gives every verification utterance's cosine with every
# centroid and which of those trials are targets; `roc_points` sweeps the threshold.

# %%
embeddings = sv.embed_utterances(model, best_params["encoder"], test, config.frames)  # speaker → (10, D)
scores, labels = enrolment_scores(embeddings, 5)  # (5S, S) cosines, (5S, S) target or not
thresholds, fpr, fnr = roc_points(scores, labels)  # (Q + 1,) each, θ from +∞ down
rate, theta = eer(scores, labels)
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(thresholds[1:], 100 * fpr[1:], label="FAR: non-target trials accepted")
ax.plot(thresholds[1:], 100 * fnr[1:], label="FRR: target trials rejected")
ax.plot([theta], [100 * rate], "ko", label=f"EER {100 * rate:.1f} % at θ = {theta:.2f}")
ax.set(xlabel="threshold θ (cosine similarity)", ylabel="error rate (%)",
       title="the live model's test trials: the two error rates")
ax.legend(fontsize=8)
fig.tight_layout()

# %% [markdown]
# ## 6. The test embeddings in 2-D
#
# Principal component analysis: stack the utterance embeddings as the rows of $E$ ($U \times D$), scaled to
# unit length (the cosine only sees directions), centre them, take the SVD
# $E - \bar e = P \Sigma W^\top$ and project on the two leading right singular vectors,
# $Y = (E - \bar e)\, W_{:, :2}$; $\sigma_k^2 / \sum_l \sigma_l^2$ is the share of the variance along direction $k$.
# Each colour is a test speaker the encoder never heard.

# %%
def pca_2d(E):
    """Rows of E (U, D), scaled to unit length, projected on their two leading principal directions:
    (U, 2) and the share of the variance along each."""
    E = E / np.linalg.norm(E, axis=1, keepdims=True)  # (U, D)
    centred = E - E.mean(axis=0)  # (U, D)
    _, sigma, Wt = np.linalg.svd(centred, full_matrices=False)  # sigma (K,), Wt (K, D)
    return centred @ Wt[:2].T, sigma[:2] ** 2 / np.sum(sigma ** 2)  # (U, 2), (2,)


def plot_speakers(ax, embeddings_by_speaker, title):
    """Scatter the 2-D PCA of every utterance embedding, one colour per speaker."""
    Y, share = pca_2d(np.concatenate(list(embeddings_by_speaker.values())))  # (U, 2), (2,)
    start = 0
    for k, (speaker, e) in enumerate(embeddings_by_speaker.items()):
        ax.scatter(*Y[start:start + len(e)].T, s=22, color=plt.cm.tab10(k % 10), label=speaker)
        start += len(e)
    ax.set(title=title, xlabel=f"principal component 1 ({100 * share[0]:.0f} % of the variance)",
           ylabel=f"principal component 2 ({100 * share[1]:.0f} %)")
    ax.grid(alpha=0.3)


fig, ax = plt.subplots(figsize=(6.5, 5))
plot_speakers(ax, embeddings, "the live model: test utterances (LibriSpeech test-other)")
ax.legend(title="speaker", fontsize=7, ncol=2)
fig.tight_layout()

# %% [markdown]
# ## 7. The study's trained encoders against the baseline on 44 unseen AN4 speakers
#
# The live model above is small and briefly trained, and its 10 test speakers give intervals too wide to tell it
# from the no-training baseline (section 5 says whether they overlap). The speaker study
# (`results/speaker/study/`, section 8) trained encoders with H = 128 on AN4's 28 training speakers plus the 251
# LibriSpeech speakers, each until its validation EER stopped improving, and ships the best checkpoint of every
# grid run in `results/speaker/study/models/`. Here we load two of them with `load_run` (config, model,
# parameters): the joint TT encoder the study picks by *validation* EER, and the dense one. `load_data` with a
# run's config rebuilds exactly its evaluation data: the split seed gives the same 44 held-out speakers (first 4
# utterances enrol, all others verify), and the same training frames give the same normalisation $\mu, \sigma$.
# This is inference only (embedding about 570 utterances per model), so it runs in fast mode too; it needs the
# real AN4 corpus and the LibriSpeech sample. `ttrnn evaluate results/speaker/study/models/<run>` does the same
# from the command line.

# %%
STUDY = next((p for p in (Path("..") / "results" / "speaker" / "study", Path("results") / "speaker" / "study")
              if p.is_dir()), None)
AN4_DIR = Path(os.environ["TTRNN_DATA"]) / "an4" if os.environ.get("TTRNN_DATA") else None
HAVE_MODELS = STUDY is not None and (STUDY / "models").is_dir()
HAVE_AN4 = HAVE_MODELS and AN4_DIR is not None and AN4_DIR.is_dir() and not SYNTHETIC
if not HAVE_AN4:
    missing = ("results/speaker/study/models/ (the shipped study models)" if not HAVE_MODELS else
               "the real corpora: set TTRNN_DATA so that $TTRNN_DATA/an4 (CMU AN4) and "
               "$TTRNN_DATA/librispeech-sample exist")
    if not FAST:
        raise FileNotFoundError(f"section 7 needs {missing}")
    print(f"SECTION 7 SKIPPED: it needs {missing}")
else:
    shipped = {p.name: json.loads((p / "results.json").read_text()) for p in sorted((STUDY / "models").iterdir())}
    best_tt = min((name for name, r in shipped.items() if r["config"]["layout"] != "dense"),
                  key=lambda name: shipped[name]["best"]["val_eer"])  # chosen on validation speakers only
    dense = next(name for name, r in shipped.items() if r["config"]["layout"] == "dense")
    runs = {name: load_run(STUDY / "models" / name) for name in (best_tt, dense)}  # name → (config, model, params)
    tt_config = runs[best_tt][0]
    data_fields = ("corpus", "split_seed", "eval_speakers", "val_speakers", "frames", "fraction", "mix_librispeech")
    assert all(getattr(runs[dense][0], f) == getattr(tt_config, f) for f in data_fields)  # one load serves both
    an4 = sv.load_data(tt_config)
    held_out = an4["tests"]["an4"]  # speaker → list of (T_u, 40), normalised as in training
    embedded = {name: sv.embed_utterances(m, params["encoder"], held_out, c.frames)  # speaker → (U_s, D)
                for name, (c, m, params) in runs.items()}
    scored = {name: sv.verification(E, sv.AN4_ENROL) for name, E in embedded.items()}
    # the baseline on the same trials, both variants; the stronger one (lower EER) is the bar to beat
    variants = {v: baseline_embeddings(an4["tests_raw"]["an4"], normalize=v == "normalised")
                for v in ("normalised", "raw")}  # v → speaker → (U_s, 80)
    variant_scores = {v: sv.verification(E, sv.AN4_ENROL) for v, E in variants.items()}
    strongest = min(variant_scores, key=lambda v: variant_scores[v]["enrolment"]["eer"])
    embedded["baseline"], scored["baseline"] = variants[strongest], variant_scores[strongest]
    NAMES = {best_tt: f"joint TT-LSTM, d = {tt_config.cores}, R = {tt_config.rank}", dense: "dense LSTM",
             "baseline": f"no training: mean/std of {strongest} log-mel"}
    counts = sv.trial_counts(held_out, sv.AN4_ENROL)
    print(f"{counts['speakers']} held-out AN4 speakers, {counts['utterances']} utterances: "
          f"{counts['enrolment_trials']['target']:,} target and {counts['enrolment_trials']['nontarget']:,} "
          "non-target enrolment trials")
    print(f"{'':<40}{'parameters':>11}{'enrolment EER [95 % interval]':>33}{'pairwise EER [95 % interval]':>32}")
    for name, s in scored.items():
        size = f"{shipped[name]['params']:,}" if name in shipped else "0"
        cells = [f"{100 * s[p]['eer']:.1f} % [{100 * s[p]['low']:.1f}, {100 * s[p]['high']:.1f}]"
                 for p in ("enrolment", "pairwise")]
        print(f"{NAMES[name]:<40}{size:>11}{cells[0]:>33}{cells[1]:>32}")
    for name in (best_tt, dense):
        same = scored[name] == {p: shipped[name]["best"]["tests"]["an4"][p] for p in ("enrolment", "pairwise")}
        print(f"{NAMES[name]}: recomputed from the checkpoint, "
              + ("identical to" if same else "DIFFERENT from") + " the numbers its run recorded")
    for name in (best_tt, dense):
        a, b = scored[name]["enrolment"], scored["baseline"]["enrolment"]
        if a["high"] < b["low"]:
            verdict = f"do not overlap ({100 * a['high']:.1f} % < {100 * b['low']:.1f} %): the encoder is better"
        elif b["high"] < a["low"]:
            verdict = f"do not overlap ({100 * b['high']:.1f} % < {100 * a['low']:.1f} %): the baseline is better"
        else:
            verdict = "overlap: these trials cannot tell the two apart"
        print(f"{NAMES[name]} vs the baseline, enrolment EER: the 95 % intervals {verdict}")

# %% [markdown]
# **False accepts and false rejects against the threshold.** For each system, every verification utterance is
# scored against every centroid; sweeping θ trades false accepts for false rejects. The EER (•) is where the
# curves cross. The last panel draws FRR against FAR for all three at once (each point one threshold), so the
# systems can be compared although their cosines live on different scales: the raw log-mel baseline's cosines
# all lie close to 1.

# %%
if HAVE_AN4:
    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5))
    trials, colours = {}, {best_tt: "C2", dense: "C4", "baseline": "0.45"}
    for ax, name in zip(axes.flat, (best_tt, dense, "baseline")):
        scores_an4, labels_an4 = enrolment_scores(embedded[name], sv.AN4_ENROL)  # (V, N), (V, N)
        thresholds, far, frr = roc_points(scores_an4, labels_an4)  # (Q + 1,) each
        rate_an4, theta_an4 = eer(scores_an4, labels_an4)
        trials[name] = (scores_an4, labels_an4, far, frr, rate_an4, theta_an4)
        ax.plot(thresholds[1:], 100 * far[1:], label="FAR: non-target trials accepted")
        ax.plot(thresholds[1:], 100 * frr[1:], label="FRR: target trials rejected")
        ax.plot([theta_an4], [100 * rate_an4], "ko", label=f"EER {100 * rate_an4:.1f} % at θ = {theta_an4:.3f}")
        ax.set(xlabel="threshold θ (cosine similarity)", ylabel="error rate (%)", title=NAMES[name], ylim=(-2, 102))
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    ax = axes[1, 1]
    for name, (_, _, far, frr, rate_an4, _) in trials.items():
        ax.plot(100 * far, 100 * frr, color=colours[name], label=NAMES[name])
        ax.plot([100 * rate_an4], [100 * rate_an4], "o", color=colours[name])
    ax.plot([0, 100], [0, 100], "k:", lw=0.8, label="FAR = FRR (the EERs)")
    ax.set(xlabel="FAR (%)", ylabel="FRR (%)", title="all three: lower left is better", xlim=(0, 60), ylim=(0, 60),
           aspect="equal")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.suptitle(f"enrolment trials of the {len(held_out)} held-out AN4 speakers")
    fig.tight_layout()

# %% [markdown]
# The EER's threshold is chosen *after* seeing the test trials, which a deployed system cannot do. It has to fix
# θ beforehand, for instance at the EER threshold of the validation speakers; on the test trials the two error
# rates then differ. `error_rates(scores, labels, θ)` counts them at any θ.

# %%
if HAVE_AN4:
    tt_model, tt_encoder = runs[best_tt][1], runs[best_tt][2]["encoder"]
    val_embedded = sv.embed_utterances(tt_model, tt_encoder, an4["val"], tt_config.frames)  # speaker → (U_s, D)
    theta_val = eer(*enrolment_scores(val_embedded, an4["val_enrol"]))[1]
    scores_an4, labels_an4, _, _, _, theta_an4 = trials[best_tt]
    for label, th in (("the test trials' own EER threshold", theta_an4),
                      (f"the {len(an4['val'])} validation speakers' EER threshold", theta_val)):
        far, frr = error_rates(scores_an4, labels_an4, th)
        print(f"{NAMES[best_tt]}, θ = {th:.3f} ({label}): FAR {100 * far:.1f} %, FRR {100 * frr:.1f} %")

# %% [markdown]
# **The embeddings of 10 held-out speakers in 2-D** (section 6's PCA), the TT encoder's d-vectors beside the
# baseline's mean/std vectors of the same utterances. AN4's speaker names begin with f or m (female, male): see
# which side of each picture they land on.

# %%
if HAVE_AN4:
    ten = list(held_out)[:10]
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 5.2))
    for ax, name in zip(axes, (best_tt, "baseline")):
        plot_speakers(ax, {s: embedded[name][s] for s in ten}, NAMES[name])
    axes[1].legend(title="speaker", fontsize=8, bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.suptitle("utterances of 10 held-out AN4 speakers: PCA of the unit-length embeddings")
    fig.tight_layout()

# %% [markdown]
# ## 8. TT vs dense on 44 held-out AN4 speakers (from `results/speaker/study/`)
#
# The study trains dense and joint TT encoders (d = 2–4 cores × R = 1, 2, 4) on AN4's training speakers plus the
# LibriSpeech sample, stops each on a validation plateau, and scores 44 AN4 speakers nobody trained on (390
# target trials), every EER with a 95 % speaker-bootstrap interval, beside the no-training baseline on the same
# trials. It takes hours on two CPU cores, so it is not run here; this cell draws its stored results if they
# exist, and prints the paired difference between the best TT and the dense encoder: both scored on the same
# resampled speakers in every bootstrap draw, so the interval is of the difference itself. To (re)make them,
# from the repository root:
#
#     TTRNN_DATA=/path/to/data python scripts/speaker_study.py --workers 2
#     TTRNN_DATA=/path/to/data python scripts/speaker_study.py --difference

# %%
if STUDY is None or not (STUDY / "summary.json").is_file():
    print("no results/speaker/study/summary.json yet: run `python scripts/speaker_study.py` from the repository root")
else:
    summary = json.loads((STUDY / "summary.json").read_text())
    base = min((summary["baseline"]["an4"][v]["enrolment"] for v in ("normalised", "raw")), key=lambda b: b["eer"])
    fig, ax = report.plot_eer_vs_params(summary["rows"], base)
    fig.tight_layout()
    if (STUDY / "difference.json").is_file():  # the best TT against dense, scored on the same speakers per draw
        paired = json.loads((STUDY / "difference.json").read_text())
        print(f"EER(best TT) − EER(dense), paired 95 % interval, {paired['tt'].split('-H')[0]} vs dense:")
        for seed, r in paired["seeds"].items():
            e = r["enrolment"]
            verdict = ("TT better" if e["high"] < 0 else "dense better" if e["low"] > 0
                       else "no difference shown")
            print(f"  seed {seed}: {100 * e['difference']:+.1f} points [{100 * e['low']:+.1f}, "
                  f"{100 * e['high']:+.1f}]: {verdict}")

# %% [markdown]
# ## Summary
#
# - Speech becomes a $(T, 40)$ matrix of normalised log-mel frames; a GE2E batch is $(N, M, T, 40)$.
# - The encoder is an LSTM (here joint TT: two TT-matrices for all gates) plus a head and L2 normalisation.
# - GE2E is a softmax over speaker centroids; its similarity matrix should become block-diagonal.
# - The EER is where false accepts equal false rejects. On 10 test speakers it moves in steps of 2 %, and a
#   simple mean/std spectrum baseline is already strong there because each test speaker's utterances share a
#   recording session: hence the intervals, and the 44-speaker AN4 study.
# - A small encoder trained for minutes shows the mechanics but not the result. The study's encoders, loaded
#   with `load_run` and scored again on 44 speakers they never heard (section 7), are compared with the baseline
#   on the same trials: section 7 prints whether their 95 % intervals separate from the baseline's, and the 2-D
#   pictures show how tightly each system's embeddings cluster by speaker.
# - The EER picks its threshold on the test trials; a threshold fixed beforehand (on validation speakers) gives
#   unequal false-acceptance and false-rejection rates.
#
# ## Exercises
#
# Each exercise has a stub and a `check` call that runs your function against the library: ✓, ✗ with a hint,
# or ○ while the stub is there. Solutions: `tutorials/solutions/speaker.py` (try first).
#
# **Exercise 1 (the EER from scores).** Write `my_eer(scores, labels)` for scores (P,) and labels (P,) (1 for a
# target trial): sort the trials by score, descending; accepting the top $t$ gives
# $\mathrm{FPR}(t)$ = accepted non-targets / non-targets and $\mathrm{FNR}(t)$ = rejected targets / targets;
# return the rate where the two curves cross (interpolate between the last cut before and the first after).

# %%
def my_eer(scores, labels):
    """The equal error rate of the trials, as a fraction."""
    # your code here
    raise NotImplementedError


if check.eer(my_eer):
    print(f"your EER of the test trials of section 5: {100 * my_eer(scores.ravel(), labels.ravel()):.2f} % "
          f"(library {100 * eer(scores.ravel(), labels.ravel())[0]:.2f} %)")

# %% [markdown]
# **Exercise 2 (the GE2E similarity matrix).** Write `my_similarity(E, w, b)` for embeddings E (N, M, D):
# $S[j, i, k] = w \cos(e_{ji}, c_k) + b$ with the centroid $c_k$ of speaker $k$'s $M$ utterances, except for
# $k = j$, where the centroid leaves utterance $i$ out: $c_j^{(-i)} = (\sum_m e_{jm} - e_{ji}) / (M - 1)$
# (section 3). Return S (N, M, N).

# %%
def my_similarity(E, w, b):
    """S (N, M, N): scaled cosines of every utterance with every speaker's centroid (exclusive for its own)."""
    # your code here
    raise NotImplementedError


if check.ge2e_similarity(my_similarity):
    S_mine = my_similarity(E1, w1, b1)  # (N, M, N)
    own = S_mine[np.arange(N), :, np.arange(N)]  # (N, M): each utterance's score with its own speaker
    loss_mine = np.mean(np.log(np.exp(S_mine).sum(axis=-1)) - own)
    print(f"GE2E loss of the trained batch from your S: {loss_mine:.3f} (library {ge2e_loss(E1, w1, b1):.3f})")

# %% [markdown]
# **Exercise 3 (FAR and FRR at a threshold).** Write `my_error_rates(scores, labels, theta)` for scores (P,),
# labels (P,) (1 for a target trial) and a threshold θ: accept every trial with score ≥ θ and return
# (FAR, FRR) = (accepted non-targets / non-targets, rejected targets / targets), as fractions.

# %%
def my_error_rates(scores, labels, theta):
    """(FAR, FRR) at the threshold theta."""
    # your code here
    raise NotImplementedError


if check.error_rates(my_error_rates):
    mine = my_error_rates(scores.ravel(), labels.ravel(), theta)
    print(f"section 5's test trials at their EER threshold θ = {theta:.3f}: your FAR {100 * mine[0]:.1f} %, "
          f"FRR {100 * mine[1]:.1f} % (EER {100 * rate:.1f} %: the two rates straddle it, θ is interpolated)")

# %% [markdown]
# **Exercise 4 (counting).** Count the parameters of the encoder's TT head $H \to D$ by hand with
# $P_{TT} = R\, m_0 n_0 + R\, m_1 n_1$ for $d = 2$ (modes from `auto_shape`), add the $D$ biases, and compare
# with the size table of section 3 (`head W` and `head bias`).

# %%
m_head, n_head = auto_shape(config.hidden_size, 2), auto_shape(config.embed_dim, 2)
by_hand = config.rank * m_head[0] * n_head[0] + config.rank * m_head[1] * n_head[1] + config.embed_dim
parts = results["sizes"]["parts"]
print(f"head modes {m_head} → {n_head}: {by_hand} by hand, {parts['head_W'] + parts['head_b']} from model_sizes")
assert by_hand == parts["head_W"] + parts["head_b"]
