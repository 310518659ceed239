"""Tests for ttrnn_np.experiments.speaker (GE2E training, the EER evaluation path, resume) and speaker_cli."""
import argparse
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
from ttrnn_np.rnn import forward
from ttrnn_np.speech import eer, embed_utterance, ge2e_loss, list_speakers, write_synthetic_corpus

pytest.importorskip("soundfile")
ROOT = Path(__file__).resolve().parents[1]
TINY = dict(layout="joint", hidden=8, embed_dim=8, speakers_per_batch=3, utterances_per_speaker=2, frames=20,
            steps=4, eval_every=2, val_speakers=3, dtype="float64")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A fake 9-training-speaker / 3-test-speaker corpus and a cache folder of its own."""
    root = tmp_path_factory.mktemp("corpus")
    write_synthetic_corpus(root / "sample", n_train=9, n_test=3, seconds=2.5, seed=1)
    return root


@pytest.fixture(scope="module")
def data(corpus):
    return sv.load_data(corpus / "sample", val_speakers=3, cache_dir=corpus / "cache")


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


# ---------------------------------------------------------------- model, loss, gradient scaling


def test_encoder_config_and_params():
    config, model, params = tiny_model()
    assert model.cell.layout == "joint" and model.cell.input_size == 40 and model.head.kind == "embed"
    assert model.head.layout == "tt" and sv.encoder_config(sv.SpeakerConfig(layout="dense")).head.layout == "dense"
    assert sv.encoder_config(sv.SpeakerConfig(layout="dense", head="tt")).head.layout == "tt"
    assert set(params) == {"encoder", "ge2e"} and float(params["ge2e"]["w"]) == 10.0
    assert params["encoder"]["layers"][0]["b"].dtype == np.float64
    assert sv.init_params(model, np.random.default_rng(0))["encoder"]["head"]["b"].dtype == np.float32
    assert config.tag == "joint-d2-R2-H8-f1-s11"
    assert sv.SpeakerConfig(layout="dense", fraction=0.2).tag == "dense-H128-f0.2-s11"


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
    features = separated(6, 1, 60, seed=2, spread=1.0)
    data = {"train": features, "val": separated(3, 1, 160, seed=3), "test": separated(2, 6, 160, seed=4),
            "test_raw": separated(2, 6, 160, seed=4), "dropped": 0}
    config = sv.SpeakerConfig(**{**TINY, "steps": 30, "eval_every": 15, "lr": 1e-2, "speakers_per_batch": 4,
                                 "utterances_per_speaker": 3})
    results = sv.train(config, data, tmp_path, progress=False)
    loss = results["history"]["loss"]
    assert np.mean(loss[-5:]) < 0.8 * np.mean(loss[:5])
    assert results["steps"] == 30 and len(results["history"]["evals"]) == 2
    assert len(results["history"]["ge2e_grad_norm"]["w"]) == 30


# ---------------------------------------------------------------- evaluation path


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
    features = separated(3, 2, 170, seed=5)
    got = sv.embed_utterances(model, params["encoder"], features)
    for s, utts in features.items():
        expected = [embed_utterance(lambda X: forward(model, params["encoder"], X), S) for S in utts]
        np.testing.assert_allclose(got[s], np.stack(expected), rtol=1e-10, atol=1e-14)


def test_evaluation_of_well_separated_speakers_gives_zero_eer():
    _, model, params = tiny_model(hidden=16, embed_dim=16)
    metrics = sv.evaluate_test(model, params["encoder"], separated(5, 10, 160, seed=6))
    assert metrics == {"test_eer": 0.0, "test_pairwise_eer": 0.0}


# ---------------------------------------------------------------- data, checkpoints, results


def test_synthetic_corpus_layout_and_data_splits(corpus, data):
    train = list_speakers(corpus / "sample" / "train-clean-100")
    test = list_speakers(corpus / "sample" / "test-other")
    assert len(train) == 9 and all(len(u) == 1 for u in train.values())
    assert len(test) == 3 and all(len(u) == 10 for u in test.values())
    assert (len(data["train"]), len(data["val"]), len(data["test"])) == (6, 3, 3)
    assert set(data["val"]) == set(list(train)[-3:])
    frames = np.concatenate([S for u in data["train"].values() for S in u])
    np.testing.assert_allclose(frames.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(frames.std(axis=0), 1.0, atol=1e-4)
    half = sv.load_data(corpus / "sample", fraction=0.5, val_speakers=3, cache_dir=corpus / "cache")
    assert list(half["train"]) == list(data["train"])[:3]


def test_load_data_errors(corpus):
    with pytest.raises(ValueError, match="fewer than 2 after holding out val_speakers=8"):
        sv.load_data(corpus / "sample", val_speakers=8, cache_dir=corpus / "cache")
    with pytest.raises(ValueError, match="keeps 1 training speaker"):
        sv.load_data(corpus / "sample", fraction=0.1, val_speakers=3, cache_dir=corpus / "cache")


def test_resume_gives_the_uninterrupted_run(data, tmp_path):
    config = sv.SpeakerConfig(**TINY)
    full = sv.train(config, data, tmp_path / "full", progress=False)
    sv.train(sv.SpeakerConfig(**{**TINY, "steps": 2}), data, tmp_path / "split", progress=False)
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
    assert stored["best"] == results["best"] and stored["tag"] == "joint-d2-R2-H8-f1-s11"
    assert set(results["best"]) >= {"step", "val_eer", "test_eer", "test_pairwise_eer", "train_eer", "steps_per_s"}
    assert results["data"] == {"train_speakers": 6, "val_speakers": 3, "test_speakers": 3, "dropped": 0,
                               "target_trials": 15, "nontarget_trials": 30}
    s = results["sizes"]
    assert s["total"] == sum(s["parts"].values()) and s["dense_total"] == 4 * 8 * (40 + 8) + 4 * 8 + 8 * 8 + 8
    table = speaker_cli.results_table(results)
    assert f"{s['total']:,}" in table and "test EER" in table and "baseline" in table


def test_config_errors():
    for bad, match in ((dict(layout="lstm"), "layout must be one of"), (dict(head="cnn"), "head must be"),
                       (dict(utterances_per_speaker=1), "need utterances_per_speaker ≥ 2"),
                       (dict(fraction=0.0), r"fraction .* must lie in \(0, 1\]"), (dict(steps=0), "steps must"),
                       (dict(steps=2.5), "steps must be a positive integer"), (dict(lr=0.0), "lr and clip"),
                       (dict(val_speakers=1), "need val_speakers ≥ 2"), (dict(dtype="int8"), "dtype must")):
        with pytest.raises(ValueError, match=match):
            sv.SpeakerConfig(**bad)


def test_too_many_speakers_per_batch(data, tmp_path):
    with pytest.raises(ValueError, match="speakers_per_batch=7 exceeds the 6 training speakers"):
        sv.train(sv.SpeakerConfig(**{**TINY, "speakers_per_batch": 7}), data, tmp_path, progress=False)


# ---------------------------------------------------------------- command line


def run_cli(argv, capsys):
    code = speaker_cli.run(speaker_cli.build_parser().parse_args(argv))
    return code, capsys.readouterr().out


def test_cli_baseline(corpus, capsys):
    code, out = run_cli(["--baseline", "--data-dir", str(corpus / "sample"), "--cache-dir", str(corpus / "cache"),
                         "--json"], capsys)
    result = json.loads(out)
    assert code == 0 and result["speakers"] == 3 and result["target_trials"] == 15
    assert 0.0 <= result["normalised"] <= 1.0 and 0.0 <= result["raw"] <= 1.0
    code, out = run_cli(["--baseline", "--data-dir", str(corpus / "sample"), "--cache-dir", str(corpus / "cache")],
                        capsys)
    assert code == 0 and "no-training baseline EER on 3 test speakers" in out


def test_cli_training_run_writes_results(corpus, tmp_path, capsys):
    argv = ["--data-dir", str(corpus / "sample"), "--cache-dir", str(corpus / "cache"), "--hidden", "8",
            "--embed-dim", "8", "-N", "3", "-M", "2", "--frames", "20", "--steps", "2", "--eval-every", "2",
            "--val-speakers", "3", "--out", str(tmp_path / "run")]
    code, out = run_cli(argv + ["--json"], capsys)
    result = json.loads(out)
    assert code == 0 and result["steps"] == 2 and result["config"]["hidden"] == 8 and "history" not in result
    assert (tmp_path / "run" / "results.json").is_file()
    code, out = run_cli(argv + ["--resume"], capsys)
    assert code == 0 and "test EER" in out and str(tmp_path / "run" / "results.json") in out


def test_ttrnn_speaker_subcommand_runs_speaker_cli(corpus, tmp_path, capsys):
    data = ["--data-dir", str(corpus / "sample"), "--cache-dir", str(corpus / "cache")]
    assert ttrnn_main(["speaker", "--baseline", "--json"] + data) == 0
    assert json.loads(capsys.readouterr().out)["speakers"] == 3
    assert ttrnn_main(["speaker", "--steps", "0"] + data) == 2
    assert "steps must be a positive integer" in capsys.readouterr().err
    assert ttrnn_main(["speaker", "--baseline", "--data-dir", str(tmp_path / "nowhere")]) == 2
    assert "LibriSpeech data directory not found" in capsys.readouterr().err


def test_cli_missing_data_is_a_clear_error(tmp_path, monkeypatch, capsys):
    with pytest.raises(FileNotFoundError, match="LibriSpeech data directory not found"):
        run_cli(["--baseline", "--data-dir", str(tmp_path / "nowhere")], capsys)
    with pytest.raises(FileNotFoundError, match="LibriSpeech data directory not found"):
        run_cli(["--data-dir", str(tmp_path / "nowhere")], capsys)
    monkeypatch.delenv("TTRNN_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="set TTRNN_DATA"):
        run_cli(["--baseline"], capsys)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="split 'test-other' not found"):
        run_cli(["--baseline", "--data-dir", str(tmp_path / "empty")], capsys)


# ---------------------------------------------------------------- the real sample


@pytest.mark.skipif(not os.environ.get("TTRNN_DATA"), reason="TTRNN_DATA is not set (real LibriSpeech sample)")
def test_real_sample_baseline_and_a_few_training_steps(tmp_path):
    real = sv.load_data()
    assert (len(real["train"]), len(real["val"]), len(real["test"])) == (231, 20, 10)
    assert all(len(u) == 10 for u in real["test"].values())
    base = sv.baselines(real["test_raw"])
    assert 0.0 <= base["raw"] <= base["normalised"] <= 0.1
    config = sv.SpeakerConfig(**{**TINY, "val_speakers": 20, "speakers_per_batch": 4, "steps": 2})
    results = sv.train(config, real, tmp_path, progress=False)
    assert results["data"]["target_trials"] == 50 and results["data"]["nontarget_trials"] == 450
    assert 0.0 <= results["best"]["test_eer"] <= 1.0


# ---------------------------------------------------------------- the sweep script


def test_sweep_runs_resumes_and_writes_its_tables(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("speaker_sweep", ROOT / "scripts" / "speaker_sweep.py")
    sweep = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sweep)
    write_synthetic_corpus(tmp_path / "sample", n_train=13, n_test=3, seconds=2.0, seed=2)
    argv = ["--only", "efficiency", "--data-dir", str(tmp_path / "sample"), "--cache-dir", str(tmp_path / "cache"),
            "--val-speakers", "3", "--hidden", "8", "--steps", "2", "--eval-every", "2", "-N", "2", "-M", "2",
            "--frames", "20", "--out", str(tmp_path / "results"), "--runs", str(tmp_path / "runs")]
    everything = argparse.Namespace(only=None, hidden=8, steps=2, eval_every=2, N=2, M=2, frames=20, val_speakers=3,
                                    seeds=[11, 12])
    assert len(sweep.plan(everything)) == 2 * (1 + 12 + 10 - 2)
    assert sweep.main(argv) == 0
    assert "10 runs, 0 already done; 10 to train" in capsys.readouterr().out
    rows = json.loads((tmp_path / "results" / "sweep.json").read_text())
    assert [(r["layout"], r["fraction"], r["train_speakers"]) for r in rows] == [
        (layout, f, n) for f, n in zip(sweep.FRACTIONS, (2, 4, 6, 8, 10)) for layout in ("dense", "joint")]
    csv_lines = (tmp_path / "results" / "sweep.csv").read_text().splitlines()
    assert len(csv_lines) == 11 and csv_lines[0].startswith("tag,layout,cores,rank")
    readme = (tmp_path / "results" / "README.md").read_text()
    assert "small-sample CPU-scale replication" in readme and "12.89" in readme and "| TT d=2 R=2 (ours) |" in readme
    assert sweep.main(argv) == 0
    assert "10 runs, 10 already done; 0 to train" in capsys.readouterr().out
