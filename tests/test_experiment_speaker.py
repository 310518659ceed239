"""Tests for ttrnn_np.experiments.speaker (GE2E training, the EER evaluation path, resume) and speaker_cli."""
import dataclasses
import importlib.util
import json
import os
from pathlib import Path

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from hypothesis import given, settings
from hypothesis import strategies as st

from ttrnn_np.checkpoint import load_checkpoint
from ttrnn_np.cli import main as ttrnn_main
from ttrnn_np.experiments import speaker as sv
from ttrnn_np.experiments import speaker_cli
from ttrnn_np.experiments.runs import load_run
from ttrnn_np.pytree import tree_leaves
from ttrnn_np.rnn import forward
from ttrnn_np.speech import (eer, embed_utterance, ge2e_loss, list_an4_speakers, list_speakers,
                             write_synthetic_an4, write_synthetic_corpus)

pytest.importorskip("soundfile")
ROOT = Path(__file__).resolve().parents[1]
TINY = dict(layout="joint", hidden_size=8, embed_dim=8, speakers_per_batch=3, utterances_per_speaker=2, frames=20,
            max_steps=4, eval_every=2, patience=0, val_speakers=3, eval_speakers=4, dtype="float64")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Fake corpora: LibriSpeech-like (9 training / 3 test speakers) and AN4-like (12 speakers × 8–10
    utterances), and a cache folder of their own."""
    root = tmp_path_factory.mktemp("corpus")
    write_synthetic_corpus(root / "sample", n_train=9, n_test=3, seconds=2.5, seed=1)
    write_synthetic_an4(root / "an4", n_speakers=12, utterances=(8, 10), seconds=0.6, seed=2)
    return root


def dirs(corpus):
    return dict(an4_dir=corpus / "an4", librispeech_dir=corpus / "sample", cache_dir=corpus / "cache")


@pytest.fixture(scope="module")
def data(corpus):
    return sv.load_data(sv.SpeakerConfig(**TINY), **dirs(corpus))


def separated(n_speakers, n_utterances, n_frames, seed, spread=0.05):
    """Speaker → utterances (T, 40) whose frames sit near a speaker's own constant vector."""
    rng = np.random.default_rng(seed)
    centres = 2.0 * rng.normal(size=(n_speakers, 40))  # (S, 40)
    return {f"s{j}": [centres[j] + spread * rng.normal(size=(n_frames + 40 * u, 40)) for u in range(n_utterances)]
            for j in range(n_speakers)}


def tiny_model(seed=0, **overrides):
    config = sv.SpeakerConfig(**{**TINY, **overrides})
    model = sv.encoder_config(config)
    return config, model, sv.init_params(model, np.random.default_rng(seed), config.dtype)


def toy_data(n_train=6, seed=2):
    """A ``load_data``-shaped dict of well-separated fake speakers (no audio)."""
    test = separated(2, 6, 160, seed=seed + 2)
    return {"train": separated(n_train, 1, 60, seed=seed, spread=1.0), "val": separated(3, 2, 40, seed=seed + 1),
            "val_enrol": 1, "tests": {"toy": test}, "tests_raw": {"toy": test}, "test_enrol": {"toy": 3},
            "split": None, "train_speakers": {"toy": n_train}, "dropped": 0, "short_for_training": 0}


# ---------------------------------------------------------------- model, loss, gradient scaling


def test_encoder_config_and_params():
    config, model, params = tiny_model()
    assert model.cell.layout == "joint" and model.cell.input_size == 40 and model.head.kind == "embed"
    assert model.head.layout == "tt" and sv.encoder_config(sv.SpeakerConfig(layout="dense")).head.layout == "dense"
    assert sv.encoder_config(sv.SpeakerConfig(layout="dense", head="tt")).head.layout == "tt"
    assert set(params) == {"encoder", "ge2e"} and float(params["ge2e"]["w"]) == 10.0
    assert params["encoder"]["layers"][0]["b"].dtype == np.float64
    assert sv.init_params(model, np.random.default_rng(0))["encoder"]["head"]["b"].dtype == np.float32
    assert config.name == "an4-joint-d2-R2-H8-T20-f1-s11"
    assert sv.SpeakerConfig(layout="dense", fraction=0.25, corpus="librispeech").name == \
        "librispeech-dense-H128-T100-f0.25-s11"
    assert sv.SpeakerConfig().val_speakers == 12 and sv.SpeakerConfig(corpus="librispeech").val_speakers == 20


def test_encoder_sizes_count_the_parameters():
    dense = sv.encoder_sizes(sv.SpeakerConfig(**{**TINY, "layout": "dense"}))
    assert dense["total"] == dense["dense_total"] == 4 * 8 * (40 + 8) + 4 * 8 + 8 * 8 + 8
    tt = sv.encoder_sizes(sv.SpeakerConfig(**TINY))
    _, model, params = tiny_model()
    assert tt["total"] == sum(np.size(leaf) for leaf in tree_leaves(params["encoder"])) == sum(tt["parts"].values())
    assert tt["dense_total"] == dense["total"] and tt["compression"] == dense["total"] / tt["total"] > 1


def test_scale_gradient_is_the_identity_with_a_scaled_gradient():
    f = lambda x: anp.sum(anp.sin(sv.scale_gradient(x, 0.01)))
    x = np.array([0.3, -1.2])
    assert sv.scale_gradient(x, 0.01) is x
    np.testing.assert_allclose(grad(f)(x), 0.01 * np.cos(x), rtol=1e-12)


def test_ge2e_batch_loss_matches_the_parts_and_scales_w_b_gradients():
    config, model, params = tiny_model()
    batch = np.random.default_rng(1).normal(size=(3, 2, 5, 40))  # (N, M, T, 40)
    kept = []
    loss = sv.ge2e_batch_loss(model, params, batch, keep=kept)
    E = forward(model, params["encoder"], batch.reshape(6, 5, 40)).reshape(3, 2, -1)
    np.testing.assert_allclose(kept[0], E, rtol=1e-12)
    assert loss == pytest.approx(ge2e_loss(E, 10.0, -5.0), rel=1e-12)
    g = grad(lambda p: sv.ge2e_batch_loss(model, p, batch))(params)
    g_plain = grad(lambda wb: ge2e_loss(E, wb["w"], wb["b"]))(params["ge2e"])
    for k in ("w", "b"):
        assert g["ge2e"][k] == pytest.approx(0.01 * g_plain[k], rel=1e-10)


def test_ge2e_training_reduces_the_loss_on_synthetic_speakers(tmp_path):
    config = sv.SpeakerConfig(**{**TINY, "max_steps": 30, "eval_every": 15, "lr": 1e-2, "speakers_per_batch": 4,
                                 "utterances_per_speaker": 3})
    results = sv.train(config, toy_data(), tmp_path, progress=False)
    loss = results["history"]["loss"]
    assert np.mean(loss[-5:]) < 0.8 * np.mean(loss[:5])
    assert results["steps"] == 30 and len(results["history"]["evals"]) == 2 and results["stop_reason"] == "step cap"
    assert len(results["history"]["ge2e_grad_norm"]["w"]) == 30


# ---------------------------------------------------------------- stopping on the validation plateau


def test_stop_reason():
    assert sv.stop_reason([0.3, 0.2, 0.21, 0.2], patience=2, min_delta=0.0, steps=4, max_steps=100) == "plateau"
    assert sv.stop_reason([0.3, 0.2, 0.21, 0.19], patience=2, min_delta=0.0, steps=4, max_steps=100) is None
    assert sv.stop_reason([0.3, 0.2, 0.21, 0.19], patience=2, min_delta=0.02, steps=4, max_steps=100) == "plateau"
    assert sv.stop_reason([0.3, 0.2, 0.21], patience=3, min_delta=0.0, steps=3, max_steps=100) is None  # too few
    assert sv.stop_reason([0.3, 0.3, 0.3, 0.3], patience=0, min_delta=0.0, steps=4, max_steps=100) is None
    assert sv.stop_reason([0.3, 0.3, 0.3, 0.3], patience=0, min_delta=0.0, steps=100, max_steps=100) == "step cap"
    assert sv.stop_reason([0.3, 0.1], patience=1, min_delta=0.0, steps=100, max_steps=100) == "step cap"


def test_training_stops_on_the_plateau_and_keeps_the_best_checkpoint(tmp_path):
    config = sv.SpeakerConfig(**{**TINY, "max_steps": 1000, "eval_every": 2, "patience": 2, "min_delta": 1.0})
    results = sv.train(config, toy_data(), tmp_path, progress=False)
    assert results["stop_reason"] == "plateau"  # nothing improves a 0–1 EER by 1.0: stop after 1 + 2 validations
    assert results["steps"] == 6 and len(results["history"]["evals"]) == 3
    val = [e["val_eer"] for e in results["history"]["evals"]]
    assert results["best"]["val_eer"] == min(val) and results["best"]["step"] == 2 * (val.index(min(val)) + 1)
    assert results["params"] == results["sizes"]["total"] > 0 and results["wall_time_s"] >= results["train_time_s"]
    again = sv.train(config, toy_data(), tmp_path, resume=True, progress=False)  # finished: no further steps
    assert again["steps"] == 6 and again["history"]["loss"] == results["history"]["loss"]


def test_batch_eer_against_the_explicit_trials():
    rng = np.random.default_rng(0)
    E = rng.normal(size=(3, 4, 5))  # (N, M, D)
    scores, labels = [], []
    for j in range(3):
        for i in range(4):
            for k in range(3):
                members = [E[k, m] for m in range(4) if k != j or m != i]
                c = np.mean(members, axis=0)
                scores.append(E[j, i] @ c / np.linalg.norm(E[j, i]) / np.linalg.norm(c))
                labels.append(j == k)
    assert sv.batch_eer(E) == pytest.approx(eer(scores, labels)[0], abs=1e-12)
    centres = rng.normal(size=(4, 1, 6))
    assert sv.batch_eer(centres + 1e-3 * rng.normal(size=(4, 5, 6))) == 0.0


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 9), chunk=st.integers(1, 10), seed=st.integers(0, 2**16))
def test_embed_windows_does_not_depend_on_the_chunk_size(n, chunk, seed):
    _, model, params = tiny_model(seed)
    X = np.random.default_rng(seed).normal(size=(n, 4, 40))
    np.testing.assert_allclose(sv.embed_windows(model, params["encoder"], X, chunk),
                               forward(model, params["encoder"], X), rtol=1e-12, atol=1e-14)


def test_embed_utterances_matches_one_utterance_at_a_time():
    _, model, params = tiny_model()
    features = separated(3, 2, 30, seed=5)  # 30 and 70 frames
    features["short"] = [np.random.default_rng(0).normal(size=(12, 40))]  # shorter than one 20-frame window
    got = sv.embed_utterances(model, params["encoder"], features, 20)
    embed = lambda X: forward(model, params["encoder"], X)
    for s, utts in features.items():
        expected = [embed_utterance(embed, S, 20) if len(S) >= 20 else embed(S[None])[0] for S in utts]
        np.testing.assert_allclose(got[s], np.stack(expected), rtol=1e-10, atol=1e-14)


def test_verification_of_well_separated_speakers_gives_zero_eer():
    _, model, params = tiny_model(hidden_size=16, embed_dim=16)
    E = sv.embed_utterances(model, params["encoder"], separated(5, 10, 160, seed=6), 20)
    zero = {"eer": 0.0, "low": 0.0, "high": 0.0}
    assert sv.verification(E, 5, n_boot=20) == {"enrolment": zero, "pairwise": zero}
    assert sv.point_eers(E, 5) == {"enrolment": 0.0, "pairwise": 0.0}


def test_trial_counts():
    features = {"a": [0] * 9, "b": [0] * 8, "c": [0] * 10}
    assert sv.trial_counts(features, 4) == {
        "speakers": 3, "utterances": 27, "n_enrol": 4,
        "enrolment_trials": {"target": 5 + 4 + 6, "nontarget": 2 * 15},
        "pairwise_trials": {"target": 36 + 28 + 45, "nontarget": 27 * 26 // 2 - 109}}


# ---------------------------------------------------------------- data, checkpoints, results


def test_an4_data_split_mix_and_normalisation(corpus, data):
    an4 = list_an4_speakers(corpus / "an4")
    split = data["split"]
    assert [len(split[k]) for k in ("eval", "val", "train")] == [4, 3, 5]
    assert set(data["tests"]["an4"]) == set(split["eval"]) and set(data["val"]) == set(split["val"])
    assert all(len(data["tests"]["an4"][s]) == len(an4[s]) for s in split["eval"])  # every utterance is used
    assert data["test_enrol"] == {"an4": 4, "librispeech": 5} and data["val_enrol"] == 4
    assert data["train_speakers"] == {"an4": 5, "librispeech": 9}
    assert set(data["train"]) == set(split["train"]) | set(list_speakers(corpus / "sample" / "train-clean-100"))
    assert not set(data["train"]) & (set(split["eval"]) | set(split["val"]))
    assert len(data["tests"]["librispeech"]) == 3 and all(len(u) == 10 for u in data["tests"]["librispeech"].values())
    frames = np.concatenate([S for u in data["train"].values() for S in u])
    np.testing.assert_allclose(frames.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(frames.std(axis=0), 1.0, atol=1e-4)
    again = sv.load_data(sv.SpeakerConfig(**{**TINY, "seed": 5}), **dirs(corpus))
    assert again["split"] == split  # the split does not depend on the run's seed
    alone = sv.load_data(sv.SpeakerConfig(**{**TINY, "mix_librispeech": False, "fraction": 0.4}),
                         an4_dir=corpus / "an4", cache_dir=corpus / "cache")
    assert list(alone["train"]) == split["train"][:2] and list(alone["tests"]) == ["an4"]


def test_librispeech_data_splits(corpus):
    data = sv.load_data(sv.SpeakerConfig(**{**TINY, "corpus": "librispeech"}), **dirs(corpus))
    train = list_speakers(corpus / "sample" / "train-clean-100")
    assert (len(data["train"]), len(data["val"]), list(data["tests"])) == (6, 3, ["librispeech"])
    assert set(data["val"]) == set(list(train)[-3:]) and data["val_enrol"] == 5
    assert all(len(u) == 10 and all(S.shape == (20, 40) for S in u) for u in data["val"].values())
    half = sv.load_data(sv.SpeakerConfig(**{**TINY, "corpus": "librispeech", "fraction": 0.5}), **dirs(corpus))
    assert list(half["train"]) == list(data["train"])[:3]


def test_load_data_errors(corpus):
    with pytest.raises(ValueError, match="fewer than 2 after holding out val_speakers=8"):
        sv.load_data(sv.SpeakerConfig(**{**TINY, "corpus": "librispeech", "val_speakers": 8}), **dirs(corpus))
    with pytest.raises(ValueError, match="keep 1 training speaker"):
        sv.load_data(sv.SpeakerConfig(**{**TINY, "corpus": "librispeech", "fraction": 0.1}), **dirs(corpus))
    with pytest.raises(ValueError, match="at least 2 training speakers left"):
        sv.load_data(sv.SpeakerConfig(**{**TINY, "eval_speakers": 8}), **dirs(corpus))
    with pytest.raises(ValueError, match="keep 0 training speaker"):
        sv.load_data(sv.SpeakerConfig(**{**TINY, "mix_librispeech": False, "frames": 5000}), an4_dir=corpus / "an4",
                     cache_dir=corpus / "cache")


def test_resume_gives_the_uninterrupted_run(data, tmp_path):
    config = sv.SpeakerConfig(**TINY)
    full = sv.train(config, data, tmp_path / "full", progress=False)
    sv.train(sv.SpeakerConfig(**{**TINY, "max_steps": 2}), data, tmp_path / "split", progress=False)
    resumed = sv.train(config, data, tmp_path / "split", resume=True, progress=False)
    assert resumed["history"]["loss"] == full["history"]["loss"]
    timing = ("eval_time", "steps_per_s")
    assert {k: v for k, v in resumed["best"].items() if k not in timing} == \
        {k: v for k, v in full["best"].items() if k not in timing}
    assert resumed["steps"] == 4
    for name in ("best", "last"):
        a, _, _ = load_checkpoint(tmp_path / "full" / "checkpoints" / name)
        b, _, _ = load_checkpoint(tmp_path / "split" / "checkpoints" / name)
        np.testing.assert_array_equal(a["encoder"]["head"]["b"], b["encoder"]["head"]["b"])
    with pytest.raises(ValueError, match="other settings"):
        sv.train(sv.SpeakerConfig(**{**TINY, "rank": 3}), data, tmp_path / "full", resume=True, progress=False)


def test_results_file_and_table(data, tmp_path):
    results = sv.train(sv.SpeakerConfig(**TINY), data, tmp_path, progress=False)
    stored = json.loads((tmp_path / "results.json").read_text())
    assert stored["best"] == results["best"] and stored["name"] == "an4-joint-d2-R2-H8-T20-f1-s11"
    assert set(results["best"]) >= {"step", "val_eer", "val_pairwise_eer", "train_eer", "steps_per_s", "tests"}
    assert set(results) >= {"steps", "wall_time_s", "params", "stop_reason", "train_time_s"}
    for name in ("an4", "librispeech"):
        for protocol in ("enrolment", "pairwise"):
            r = results["best"]["tests"][name][protocol]
            assert 0.0 <= r["low"] <= r["eer"] <= r["high"] <= 1.0
            b = results["baseline"][name]["normalised"][protocol]
            assert 0.0 <= b["low"] <= b["eer"] <= b["high"] <= 1.0
    assert results["data"]["tests"]["librispeech"]["enrolment_trials"] == {"target": 15, "nontarget": 30}
    assert results["data"]["tests"]["an4"]["speakers"] == 4
    table = speaker_cli.results_table(results)
    assert f"{results['params']:,}" in table and "enrolment EER [95 % CI]" in table and "baseline, normalised" in table
    r = results["best"]["tests"]["an4"]["enrolment"]
    assert speaker_cli.interval(r) in table and "stopped after 4 steps: the step cap 4" in table


def test_config_errors():
    for bad, match in ((dict(layout="lstm"), "layout must be one of"), (dict(head="cnn"), "head must be"),
                       (dict(corpus="timit"), "corpus must be one of"),
                       (dict(utterances_per_speaker=1), "need utterances_per_speaker ≥ 2"),
                       (dict(fraction=0.0), r"fraction .* must lie in \(0, 1\]"), (dict(max_steps=0), "max_steps must"),
                       (dict(max_steps=2.5), "max_steps must be a positive integer"), (dict(lr=0.0), "lr and clip"),
                       (dict(patience=-1), "patience must be an integer ≥ 0"), (dict(min_delta=-0.1), "min_delta ≥ 0"),
                       (dict(val_speakers=1), "need val_speakers ≥ 2"), (dict(dtype="int8"), "dtype must")):
        with pytest.raises(ValueError, match=match):
            sv.SpeakerConfig(**bad)


def test_too_many_speakers_per_batch(data, tmp_path):
    n = len(data["train"])
    with pytest.raises(ValueError, match=f"speakers_per_batch={n + 1} exceeds the {n} training speakers"):
        sv.train(sv.SpeakerConfig(**{**TINY, "speakers_per_batch": n + 1}), data, tmp_path, progress=False)


# ---------------------------------------------------------------- command line


def run_cli(argv, capsys):
    code = speaker_cli.run(speaker_cli.build_parser().parse_args(argv))
    return code, capsys.readouterr().out


def data_args(corpus):
    return ["--an4-dir", str(corpus / "an4"), "--librispeech-dir", str(corpus / "sample"), "--cache-dir",
            str(corpus / "cache"), "--eval-speakers", "4", "--val-speakers", "3"]


def test_cli_baseline(corpus, capsys):
    code, out = run_cli(["--baseline", "--json"] + data_args(corpus), capsys)
    result = json.loads(out)
    assert code == 0 and result["an4"]["trials"]["speakers"] == 4 and result["librispeech"]["trials"]["speakers"] == 3
    for r in (result["an4"]["normalised"]["enrolment"], result["librispeech"]["raw"]["pairwise"]):
        assert 0.0 <= r["low"] <= r["eer"] <= r["high"] <= 1.0
    code, out = run_cli(["--baseline"] + data_args(corpus), capsys)
    assert code == 0 and "AN4 evaluation speakers: 4 speakers" in out and "LibriSpeech test-other: 3 speakers" in out
    assert speaker_cli.interval(result["an4"]["normalised"]["enrolment"]) in out


def test_cli_training_run_writes_results(corpus, tmp_path, capsys):
    argv = data_args(corpus) + ["--hidden-size", "8", "--embed-dim", "8", "-N", "3", "-M", "2", "--frames", "20",
                                "--max-steps", "2", "--eval-every", "2", "--out", str(tmp_path / "run")]
    code, out = run_cli(argv + ["--json"], capsys)
    result = json.loads(out)
    assert code == 0 and result["steps"] == 2 and result["config"]["hidden_size"] == 8 and "history" not in result
    assert (tmp_path / "run" / "results.json").is_file()
    code, out = run_cli(argv + ["--resume"], capsys)
    assert code == 0 and "enrolment EER" in out and str(tmp_path / "run" / "results.json") in out


def test_cli_deprecated_spellings(capsys):
    args = speaker_cli.build_parser().parse_args(["--hidden", "16", "--steps", "30", "--data-dir", "x"])
    assert (args.hidden_size, args.max_steps, args.librispeech_dir) == (16, 30, "x")
    err = capsys.readouterr().err
    assert all(f"{old} is deprecated, use {new}" in err for old, new in
               (("--hidden", "--hidden-size"), ("--steps", "--max-steps"), ("--data-dir", "--librispeech-dir")))
    args = speaker_cli.build_parser().parse_args(["-H", "16"])
    assert args.hidden_size == 16 and capsys.readouterr().err == ""


def test_ttrnn_speaker_subcommand_runs_speaker_cli(corpus, tmp_path, capsys):
    assert ttrnn_main(["speaker", "--baseline", "--json"] + data_args(corpus)) == 0
    assert json.loads(capsys.readouterr().out)["an4"]["trials"]["speakers"] == 4
    assert ttrnn_main(["speaker", "--max-steps", "0"] + data_args(corpus)) == 2
    assert "--max-steps must be a positive integer" in capsys.readouterr().err
    assert ttrnn_main(["speaker", "--baseline", "--an4-dir", str(tmp_path / "nowhere")]) == 3  # missing data
    assert "AN4 data directory not found" in capsys.readouterr().err


def test_cli_missing_data_is_a_clear_error(corpus, tmp_path, monkeypatch, capsys):
    with pytest.raises(FileNotFoundError, match="LibriSpeech data directory not found"):
        run_cli(["--baseline", "--corpus", "librispeech", "--librispeech-dir", str(tmp_path / "nowhere")], capsys)
    with pytest.raises(FileNotFoundError, match="AN4 data directory not found"):
        run_cli(["--an4-dir", str(tmp_path / "nowhere")], capsys)
    monkeypatch.delenv("TTRNN_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="no AN4 data directory: pass root=... or set TTRNN_DATA"):
        run_cli(["--baseline"], capsys)
    with pytest.raises(FileNotFoundError, match="set TTRNN_DATA"):
        run_cli(["--baseline", "--an4-dir", str(corpus / "an4"), "--eval-speakers", "4", "--val-speakers", "3"],
                capsys)  # AN4 found; the LibriSpeech sample (mixed in by default) is not
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="split 'test-other' not found"):
        run_cli(["--baseline", "--corpus", "librispeech", "--librispeech-dir", str(tmp_path / "empty")], capsys)
    with pytest.raises(FileNotFoundError, match="no .wav files below"):
        run_cli(["--baseline", "--an4-dir", str(tmp_path / "empty")], capsys)


# ---------------------------------------------------------------- the real data


@pytest.mark.skipif(not os.environ.get("TTRNN_DATA"), reason="TTRNN_DATA is not set (real AN4 and LibriSpeech sample)")
def test_real_data_protocol_and_a_few_training_steps(tmp_path):
    config = sv.SpeakerConfig(**{**TINY, "val_speakers": 12, "eval_speakers": 44, "speakers_per_batch": 4,
                                 "max_steps": 2})
    real = sv.load_data(config)
    assert real["train_speakers"] == {"an4": 28, "librispeech": 251} and len(real["val"]) == 12
    counts = sv.trial_counts(real["tests"]["an4"], 4)
    assert counts["speakers"] == 44 and counts["enrolment_trials"]["target"] >= 44 * 4
    assert sv.trial_counts(real["tests"]["librispeech"], 5)["enrolment_trials"] == {"target": 50, "nontarget": 450}
    results = sv.train(config, real, tmp_path, progress=False)
    base = results["baseline"]["an4"]["normalised"]["enrolment"]
    assert 0.15 < base["low"] < base["eer"] < base["high"] < 0.45  # ≈ 29 % [25, 33] when written


# ---------------------------------------------------------------- the study script


def load_study():
    spec = importlib.util.spec_from_file_location("speaker_study", ROOT / "scripts" / "speaker_study.py")
    study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study)
    return study


def test_study_plan_waits_for_the_grid_then_adds_seeds_and_efficiency(tmp_path):
    study = load_study()
    args = study.build_parser().parse_args(["--out", str(tmp_path)])
    configs, note = study.plan(args)  # before the grid: the grid and the dense model's extra runs
    assert len(configs) == 1 + 9 + 4 and "wait for the grid" in note
    assert all(c.layout == "dense" for c in configs[10:])
    for k, c in enumerate(study.grid(args)):  # fake finished grid runs; the d=3, R=2 TT validates best
        val = 0.1 if (c.layout, c.cores, c.rank) == ("joint", 3, 2) else 0.2 + 0.01 * k
        path = study.results_path(args, c)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"config": dataclasses.asdict(c), "best": {"val_eer": val}}))
    configs, note = study.plan(args)
    assert "best TT by validation EER: an4-joint-d3-R2" in note
    extra = configs[10:]
    assert len(extra) == 8
    assert sorted((c.layout, c.seed, c.fraction) for c in extra) == sorted(
        [(layout, s, 1.0) for layout in ("dense", "joint") for s in (12, 13)] +
        [(layout, 11, f) for layout in ("dense", "joint") for f in (0.25, 0.5)])
    assert all(c.cores == 3 and c.rank == 2 for c in extra if c.layout == "joint")


@pytest.mark.filterwarnings("ignore::ttrnn_np.cells.GateAlignmentWarning")  # H = 8 over 3–4 cores: a tiny-size artefact
def test_study_runs_resumes_and_writes_its_tables(corpus, tmp_path, capsys):
    study = load_study()
    argv = ["--only", "grid", "--an4-dir", str(corpus / "an4"), "--librispeech-dir", str(corpus / "sample"),
            "--cache-dir", str(corpus / "cache"), "--eval-speakers", "4", "--val-speakers", "3", "--hidden-size", "8",
            "--max-steps", "2", "--eval-every", "2", "-N", "2", "-M", "2", "--frames", "20", "--workers", "1",
            "--out", str(tmp_path / "results"), "--runs", str(tmp_path / "runs")]
    assert study.main(argv) == 0
    assert "10 runs planned, 0 already done, 10 to train" in capsys.readouterr().out
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert len(summary["rows"]) == 10 and {r["layout"] for r in summary["rows"]} == {"dense", "joint"}
    assert all(r["an4_low"] <= r["an4_eer"] <= r["an4_high"] for r in summary["rows"])
    readme = (tmp_path / "results" / "README.md").read_text()
    assert "No-training baseline" in readme and "Best TT by validation EER" in readme and "| an4-dense-H8" in readme
    assert (tmp_path / "results" / "eer_vs_params.png").stat().st_size > 0
    assert len((tmp_path / "results" / "summary.csv").read_text().splitlines()) == 11
    assert "## Seeds" in readme and "## Data efficiency" in readme and "not run yet" in readme
    assert "at a different scale" in readme and "--hidden-size 8" in readme and str(tmp_path) not in readme
    models = sorted(p.name for p in (tmp_path / "results" / "models").iterdir())  # the grid's shipped checkpoints
    assert len(models) == 10 and models[0].startswith("an4-dense")
    config, _, params = load_run(tmp_path / "results" / "models" / models[0])
    assert config.layout == "dense" and config.hidden_size == 8 and "encoder" in params
    stored = json.loads((tmp_path / "results" / "runs" / f"{models[0]}.json").read_text())
    assert stored["command"] == speaker_cli.command(config)
    assert study.main(argv) == 0
    assert "10 runs planned, 10 already done, 0 to train" in capsys.readouterr().out
    assert "Not computed yet" in readme
    assert study.main(argv + ["--difference"]) == 0  # best TT − dense, paired, on the seed both finished
    difference = json.loads((tmp_path / "results" / "difference.json").read_text())
    assert list(difference["seeds"]) == ["11"] and difference["dense"].startswith("an4-dense")
    for protocol in ("enrolment", "pairwise"):
        r = difference["seeds"]["11"][protocol]
        assert r["low"] <= r["difference"] <= r["high"]
        assert r["difference"] == pytest.approx(r["eer_a"] - r["eer_b"])
    recorded = {r["name"]: r for r in summary["rows"]}  # the checkpoints re-embedded give the recorded EERs
    enrolment = difference["seeds"]["11"]["enrolment"]
    assert enrolment["eer_a"] == pytest.approx(recorded[difference["tt"]]["an4_eer"], abs=1e-12)
    assert enrolment["eer_b"] == pytest.approx(recorded[difference["dense"]]["an4_eer"], abs=1e-12)
    assert "| 11 | " in (tmp_path / "results" / "README.md").read_text()


# ---------------------------------------------------------------- run folders and rules

def test_the_best_checkpoint_is_the_lowest_validation_eer(data, tmp_path, monkeypatch):
    """"best" is the evaluation with the minimum validation EER (not the maximum, not the first or last), and
    the test EERs in the results are those of its parameters.  The synthetic speakers are separated perfectly
    (every validation EER is 0), so the validation EERs are set here: the minimum is the 2nd of 5."""
    real, planned = sv.point_eers, [0.3, 0.1, 0.2, 0.25, 0.4]

    def planned_validation(E, n_enrol, *args, **kwargs):
        out = real(E, n_enrol, *args, **kwargs)
        return {**out, "enrolment": planned.pop(0)} if planned else out

    monkeypatch.setattr(sv, "point_eers", planned_validation)
    config = sv.SpeakerConfig(**{**TINY, "max_steps": 10, "eval_every": 2, "patience": 0})
    results = sv.train(config, data, tmp_path, progress=False)
    val = [e["val_eer"] for e in results["history"]["evals"]]
    assert val == [0.3, 0.1, 0.2, 0.25, 0.4]
    best_at = 1
    assert results["best"]["val_eer"] == min(val) and results["best"]["step"] == 2 * (best_at + 1)
    params, _, meta = load_checkpoint(tmp_path / "checkpoints" / "best")
    assert meta["epoch"] == best_at
    model = sv.encoder_config(config)
    for name, test in data["tests"].items():
        E = sv.embed_utterances(model, params["encoder"], test, config.frames)
        assert sv.verification(E, data["test_enrol"][name])["enrolment"]["eer"] == \
            results["best"]["tests"][name]["enrolment"]["eer"]


def test_a_folder_holding_another_run_is_refused_and_a_busy_one_too(tmp_path):
    from ttrnn_np.experiments import runfolder
    data = toy_data()
    sv.train(sv.SpeakerConfig(**TINY), data, tmp_path / "run", progress=False)
    before = {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()}
    with pytest.raises(ValueError, match=r"already holds a run \(results.json\); pass --resume to continue it"):
        sv.train(sv.SpeakerConfig(**{**TINY, "rank": 3}), data, tmp_path / "run", progress=False)
    assert {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()} == before  # untouched
    with runfolder.owned(tmp_path / "busy"), pytest.raises(runfolder.RunFolderBusy, match="is in use by another run"):
        sv.train(sv.SpeakerConfig(**TINY), data, tmp_path / "busy", progress=False)


def test_the_cli_checks_the_run_folder_before_computing_features(corpus, tmp_path, monkeypatch, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "results.json").write_text("{}")
    monkeypatch.setattr(speaker_cli, "load_data", lambda *a, **k: pytest.fail("features were computed"))
    assert ttrnn_main(["speaker", "--out", str(tmp_path / "run")] + data_args(corpus)) == 2
    assert "already holds a run" in capsys.readouterr().err


@pytest.mark.parametrize("overrides", [
    {},
    {"layout": "dense", "seed": 12},
    {"cores": 4, "rank": 1, "frames": 80, "max_steps": 5000, "patience": 8, "fraction": 0.25},
    {"corpus": "librispeech", "mix_librispeech": False, "head": "dense", "lr": 3e-3, "dtype": "float64"},
])
def test_command_rebuilds_the_config_it_was_made_from(overrides):
    config = sv.SpeakerConfig(**overrides)
    argv = speaker_cli.command(config).split()
    assert argv[:2] == ["ttrnn", "speaker"]
    assert speaker_cli.config_from_args(speaker_cli.build_parser().parse_args(argv[2:])) == config


# ---------------------------------------------------------------- evaluating a saved run (ttrnn evaluate)

def evaluate_args(corpus):
    return ["--an4-dir", str(corpus / "an4"), "--librispeech-dir", str(corpus / "sample"), "--cache-dir",
            str(corpus / "cache")]


def test_evaluate_reproduces_a_speaker_run_and_reports_what_differs(corpus, data, tmp_path, capsys):
    from ttrnn_np.experiments.runs import EER_TOLERANCE
    run = tmp_path / "run"
    sv.train(sv.SpeakerConfig(**TINY), data, run, progress=False)
    recorded = json.loads((run / "results.json").read_text())
    assert ttrnn_main(["evaluate", str(run), "--json"] + evaluate_args(corpus)) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["reproduced"] is True and out["scores"]["tests"] == recorded["best"]["tests"]
    assert out["scores"]["baseline"] == recorded["baseline"]
    assert len(out["differences"]) == 2 * 2 * 3 * 3  # (an4, librispeech) × protocols × (eer, low, high) × systems
    assert ttrnn_main(["evaluate", str(run), "--split", "val"] + evaluate_args(corpus)) == 0
    text = capsys.readouterr().out
    assert f"validation EER {100 * recorded['best']['val_eer']:.2f} % (enrolment)" in text
    assert "reproduces the 2 recorded numbers (EERs)" in text
    # a recorded number moved by less than the tolerance still reproduces; by one point, it does not
    best = recorded["best"]["tests"]["an4"]["enrolment"]
    for shift, code in ((EER_TOLERANCE / 10, 0), (0.01, 3)):
        moved = {**recorded, "best": {**recorded["best"], "tests": {
            **recorded["best"]["tests"], "an4": {**recorded["best"]["tests"]["an4"],
                                                 "enrolment": {**best, "eer": best["eer"] + shift}}}}}
        (run / "results.json").write_text(json.dumps(moved))
        assert ttrnn_main(["evaluate", str(run)] + evaluate_args(corpus)) == code
    captured = capsys.readouterr()
    assert "reproduces the 36 recorded numbers (EERs and interval bounds)" in captured.out
    assert (f"  tests/an4/enrolment/eer: {100 * best['eer']:.3f} % now, {100 * (best['eer'] + 0.01):.3f} % "
            "recorded (-1.0000 points)") in captured.out
    assert "the test numbers differ from the recorded ones" in captured.err
    # evaluation speakers that are not the run's are a data error, before anything is scored
    split = recorded["data"]["split"]
    swapped = {**split, "eval": split["train"][:1] + split["eval"][1:], "train": split["eval"][:1] + split["train"][1:]}
    (run / "results.json").write_text(json.dumps({**recorded, "data": {**recorded["data"], "split": swapped}}))
    assert ttrnn_main(["evaluate", str(run)] + evaluate_args(corpus)) == 3
    assert "the AN4 speakers found split differently from the run's recorded split" in capsys.readouterr().err
    # ttrnn runs lists it with its validation and AN4 test EERs
    (run / "results.json").write_text(json.dumps(recorded))
    assert ttrnn_main(["runs", str(tmp_path), "--json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert (row["kind"], row["best_val"]) == ("speaker", f"{100 * recorded['best']['val_eer']:.2f} % EER")
    assert row["test"] == f"{100 * best['eer']:.2f} % EER"


def test_evaluate_of_a_speaker_run_names_missing_data_and_mnist_only_options(corpus, data, tmp_path, capsys,
                                                                            monkeypatch):
    run = tmp_path / "run"
    sv.train(sv.SpeakerConfig(**TINY), data, run, progress=False)
    monkeypatch.delenv("TTRNN_DATA", raising=False)
    assert ttrnn_main(["evaluate", str(run), "--librispeech-dir", str(corpus / "sample")]) == 3
    assert capsys.readouterr().err.startswith(f"ttrnn evaluate: error: cannot rebuild the evaluation data of the "
                                              f"speaker run {run}: no AN4 data directory")
    assert ttrnn_main(["evaluate", str(run), "--an4-dir", str(tmp_path / "nowhere")]) == 3
    assert "AN4 data directory not found" in capsys.readouterr().err
    assert ttrnn_main(["evaluate", str(run), "--predictions", "p.csv"] + evaluate_args(corpus)) == 2
    assert "class predictions (--predictions) are for MNIST runs" in capsys.readouterr().err
    assert ttrnn_main(["evaluate", str(run), "--split", "train"] + evaluate_args(corpus)) == 2
    assert "--split must be test or val for a speaker run, got 'train'" in capsys.readouterr().err


@pytest.mark.skipif(not os.environ.get("TTRNN_DATA"),
                    reason="TTRNN_DATA is not set (the real AN4 and LibriSpeech sample a shipped model is scored on)")
def test_a_shipped_study_model_reproduces_its_recorded_eers():
    from ttrnn_np.experiments.runs import evaluate_run
    run = ROOT / "results" / "speaker" / "study" / "models" / "an4-joint-d4-R1-H128-T80-f1-s11"  # the smallest TT
    recorded = json.loads((run / "results.json").read_text())
    out = evaluate_run(run)
    assert out["config"].name == run.name and recorded["params"] == 960
    assert out["trials"]["an4"]["enrolment_trials"] == {"target": 390, "nontarget": 16770}
    assert out["reproduced"] is True, {k: d for k, d in out["differences"].items() if d["difference"]}
    now, then = out["scores"]["tests"]["an4"]["enrolment"], recorded["best"]["tests"]["an4"]["enrolment"]
    assert abs(now["eer"] - then["eer"]) <= 1e-9 and abs(now["high"] - then["high"]) <= 1e-9


def test_the_study_figure_draws_every_full_data_run_and_labels_each_tt_shape_once():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.container import ErrorbarContainer

    from ttrnn_np.experiments.report import plot_eer_vs_params

    def row(layout, seed, cores=None, rank=None, fraction=1.0, params=1000, eer=0.15):
        return {"layout": layout, "cores": cores, "rank": rank, "seed": seed, "fraction": fraction, "params": params,
                "an4_eer": eer, "an4_low": eer - 0.02, "an4_high": eer + 0.03}
    rows = [row("dense", 11, params=120000), row("dense", 12, params=120000),
            row("joint", 11, 3, 2, params=1616), row("joint", 12, 3, 2, params=1616),
            row("joint", 11, 4, 1, params=960), row("joint", 11, 3, 2, fraction=0.5, params=1616)]
    fig, ax = plot_eer_vs_params(rows, {"eer": 0.23, "low": 0.2, "high": 0.27})
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 5  # the 50 % run is not a full-data run
    xs = sorted(float(c.lines[0].get_xdata()[0]) for c in bars)
    assert xs[0] == 960 and xs[1] == 1616 and 1616 < xs[2] < 1.1 * 1616  # the second seed sits just to the right
    assert sorted(t.get_text() for t in ax.texts) == ["R=1", "R=2"]  # one label per TT shape
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "no-training baseline, 95 % interval", "dense LSTM", "joint TT-LSTM, d = 3", "joint TT-LSTM, d = 4"]
    plt.close(fig)
