"""Tests for ttrnn_np.speech.ge2e against a slow triple-loop reference, with gradient checks."""
import numpy as np
import pytest
from autograd import grad
from hypothesis import given, settings
from hypothesis import strategies as st

from ttrnn_np.speech.ge2e import (GE2E_GRAD_SCALE, ge2e_accuracy, ge2e_loss, ge2e_similarity, init_ge2e_params,
                                  scale_ge2e_grads, similarity_matrix)


def unit_embeddings(N, M, D, seed):
    E = np.random.default_rng(seed).normal(size=(N, M, D))
    return E / np.linalg.norm(E, axis=-1, keepdims=True)


def cosine(a, b):
    return np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))


def loop_similarity(E, w, b):
    N, M, _ = E.shape
    S = np.zeros((N, M, N))
    for j in range(N):
        for i in range(M):
            for k in range(N):
                if k == j:
                    c = (sum(E[j, m] for m in range(M)) - E[j, i]) / (M - 1)
                else:
                    c = sum(E[k, m] for m in range(M)) / M
                S[j, i, k] = w * cosine(E[j, i], c) + b
    return S


def loop_loss(E, w, b):
    S = loop_similarity(E, w, b)
    N, M, _ = S.shape
    total = 0.0
    for j in range(N):
        for i in range(M):
            total += -S[j, i, j] + np.log(sum(np.exp(S[j, i, k]) for k in range(N)))
    return total / (N * M)


shapes = dict(N=st.integers(2, 4), M=st.integers(2, 4), D=st.integers(2, 5), seed=st.integers(0, 2**16))


@settings(max_examples=40, deadline=None)
@given(**shapes, w=st.floats(0.1, 20.0), b=st.floats(-10.0, 10.0))
def test_similarity_and_loss_match_the_loop_reference(N, M, D, seed, w, b):
    E = unit_embeddings(N, M, D, seed)
    np.testing.assert_allclose(ge2e_similarity(E, w, b), loop_similarity(E, w, b), atol=1e-10)
    assert ge2e_loss(E, w, b) == pytest.approx(loop_loss(E, w, b), abs=1e-10)
    np.testing.assert_array_equal(similarity_matrix(E, w, b), ge2e_similarity(E, w, b).reshape(N * M, N))


def test_loss_of_orthogonal_speakers_has_a_closed_form():
    N, M, w, b = 4, 3, 10.0, -5.0
    E = np.repeat(np.eye(N)[:, None, :], M, axis=1)
    assert ge2e_loss(E, w, b) == pytest.approx(np.log(1 + (N - 1) * np.exp(-w)), rel=1e-10)
    assert ge2e_accuracy(E, w, b) == 1.0


def finite_difference(f, x, h=1e-6):
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = h
        g[index] = (f(x + step) - f(x - step)) / (2 * h)
    return g


@settings(max_examples=15, deadline=None)
@given(**shapes)
def test_gradients_match_finite_differences(N, M, D, seed):
    rng = np.random.default_rng(seed)
    E = unit_embeddings(N, M, D, seed) + 0.1 * rng.normal(size=(N, M, D))
    w, b = rng.uniform(0.5, 5.0), rng.uniform(-3.0, 3.0)
    dE, dw, db = grad(ge2e_loss, (0, 1, 2))(E, w, b)
    np.testing.assert_allclose(dE, finite_difference(lambda x: ge2e_loss(x, w, b), E), atol=1e-7)
    assert dw == pytest.approx(finite_difference(lambda x: ge2e_loss(E, x, b), w), abs=1e-7)
    assert db == pytest.approx(finite_difference(lambda x: ge2e_loss(E, w, x), b), abs=1e-7)


@settings(max_examples=30, deadline=None)
@given(**shapes, w=st.floats(0.1, 20.0), b=st.floats(-10.0, 10.0))
def test_b_cancels_in_the_softmax_loss(N, M, D, seed, w, b):
    # b shifts every logit of a row (j, i) by the same amount, so it cancels in log-softmax: ∂L/∂b = 0 and
    # L does not depend on b; ∂L/∂w = (1/NM) Σ_{j,i} (Σ_k softmax_k(w·cos[j,i,:]) cos[j,i,k] − cos[j,i,j])
    E = np.random.default_rng(seed).normal(size=(N, M, D))  # (N, M, D), not normalised
    dw, db = grad(ge2e_loss, (1, 2))(E, w, b)
    assert abs(db) <= 1e-14
    assert ge2e_loss(E, w, b + 3.0) == pytest.approx(ge2e_loss(E, w, b), abs=1e-12)
    cos = loop_similarity(E, 1.0, 0.0)  # (N, M, N)
    p = np.exp(w * cos - (w * cos).max(axis=-1, keepdims=True))  # (N, M, N)
    p = p / p.sum(axis=-1, keepdims=True)  # (N, M, N)
    expected_dw = np.mean(np.sum(p * cos, axis=-1) - np.einsum("jij->ji", cos))
    assert dw == pytest.approx(expected_dw, rel=1e-8, abs=1e-14)


@pytest.mark.parametrize("seed", range(5))
def test_only_w_gets_a_gradient_at_the_initial_values(seed):
    E = np.random.default_rng(seed).normal(size=(4, 3, 8))  # (N, M, D) random embeddings
    dw, db = grad(ge2e_loss, (1, 2))(E, 10.0, -5.0)
    assert abs(db) <= 1e-14 and abs(dw) > 1e-3


@settings(max_examples=30, deadline=None)
@given(N=st.integers(2, 5), M=st.integers(2, 5), D=st.integers(8, 16), seed=st.integers(0, 2**16))
def test_loss_decreases_as_embeddings_move_to_their_centroids(N, M, D, seed):
    # speakers as random directions plus utterance noise (the regime of a working encoder; with arbitrary
    # embeddings, e.g. two opposite utterances per speaker in 2-D, the loss need not fall monotonically)
    rng = np.random.default_rng(seed)
    E = unit_embeddings(N, 1, D, seed) + rng.normal(size=(N, M, D)) / np.sqrt(D)
    E = E / np.linalg.norm(E, axis=-1, keepdims=True)
    c = E.mean(axis=1, keepdims=True)
    losses = []
    for t in np.linspace(0.0, 0.95, 6):
        F = (1 - t) * E + t * c
        losses.append(ge2e_loss(F / np.linalg.norm(F, axis=-1, keepdims=True), 10.0, -5.0))
    assert np.all(np.diff(losses) < 0)


@settings(max_examples=30, deadline=None)
@given(**shapes, scale=st.floats(0.1, 10.0))
def test_invariances(N, M, D, seed, scale):
    rng = np.random.default_rng(seed)
    E = unit_embeddings(N, M, D, seed)
    S, L = ge2e_similarity(E, 10.0, -5.0), ge2e_loss(E, 10.0, -5.0)
    speakers, utterances = rng.permutation(N), rng.permutation(M)
    S_perm = ge2e_similarity(E[speakers][:, utterances], 10.0, -5.0)
    np.testing.assert_allclose(S_perm, S[speakers][:, utterances][:, :, speakers], atol=1e-12)
    Q, _ = np.linalg.qr(rng.normal(size=(D, D)))
    assert ge2e_loss(E @ Q, 10.0, -5.0) == pytest.approx(L, abs=1e-12)
    np.testing.assert_allclose(ge2e_similarity(scale * E, 10.0, -5.0), S, atol=1e-12)


def test_w_is_clamped_positive():
    E = unit_embeddings(3, 4, 5, 0)
    assert ge2e_loss(E, -3.0, 1.0) == pytest.approx(ge2e_loss(E, 1e-6, 1.0), abs=1e-15)
    assert grad(ge2e_loss, 1)(E, -3.0, 1.0) == 0.0
    assert grad(ge2e_loss, 1)(E, 3.0, 1.0) != 0.0


def test_init_and_gradient_scaling():
    params = init_ge2e_params()
    assert float(params["w"]) == 10.0 and float(params["b"]) == -5.0
    grads = {"w": np.array(2.0), "b": np.array(-4.0), "other": np.ones(3)}
    scaled = scale_ge2e_grads(grads)
    assert GE2E_GRAD_SCALE == 0.01
    assert scaled["w"] == pytest.approx(0.02) and scaled["b"] == pytest.approx(-0.04)
    assert scaled["other"] is grads["other"] and grads["w"] == 2.0
    with pytest.raises(ValueError, match=r"keys 'w' and 'b', got \['other', 'w'\]"):
        scale_ge2e_grads({"w": 1.0, "other": 2.0})
    with pytest.raises(ValueError, match="got list"):
        scale_ge2e_grads([1.0, 2.0])


@pytest.mark.parametrize("shape", [(4, 5), (1, 3, 4), (3, 1, 4)])
def test_bad_embedding_shapes(shape):
    with pytest.raises(ValueError, match=r"N speakers ≥ 2, M utterances ≥ 2, D"):
        ge2e_loss(np.ones(shape), 10.0, -5.0)
