"""Checkers for tutorial 06: the equal error rate from scores, the error rates at a threshold, and the GE2E
similarity matrix."""
import importlib

import numpy as np

from ttrnn_np import speech

eer_module = importlib.import_module("ttrnn_np.speech.eer")  # the package exports a function of the same name
ge2e = importlib.import_module("ttrnn_np.speech.ge2e")

from ._verdict import forbidden, require, require_close, verdict


def eer(student):
    """student(scores, labels) → the EER as a fraction, within one trial's worth of speech.eer.eer."""
    def body():
        rng = np.random.default_rng(61)
        cases = [("separated", np.array([0.9, 0.8, 0.7, 0.1, 0.2, 0.3]), np.array([1, 1, 1, 0, 0, 0])),
                 ("reversed", np.array([0.1, 0.2, 0.9, 0.8]), np.array([1, 1, 0, 0]))]
        for targets, others, gap in ((200, 200, 1.0), (50, 450, 2.0), (300, 100, 0.3)):
            scores = np.concatenate([rng.normal(gap, 1, targets), rng.normal(0, 1, others)])  # (P,)
            cases.append((f"{targets} targets / {others} others, gap {gap}", scores,
                          np.concatenate([np.ones(targets, int), np.zeros(others, int)])))  # (P,)
        for name, scores, labels in cases:
            expected = eer_module.eer(scores, labels)[0]
            names, advice = ["eer", "roc_points", "enrolment_eer", "pairwise_eer"], "sweep the threshold yourself"
            with forbidden(eer_module, names, advice), forbidden(speech, names, advice):
                given = float(student(scores.copy(), labels.copy()))
            tolerance = 1.0 / min(labels.sum(), (1 - labels).sum()) + 1e-12
            require(abs(given - expected) <= tolerance,
                    f"{name}: EER {expected:.4f} expected (±{tolerance:.4f}), got {given:.4f}")
        return "5 trial sets, from perfectly separated to reversed"
    return verdict("the EER", "sort the trials by score, descending; accepting the top t gives FPR(t) = accepted "
                   "non-targets / non-targets and FNR(t) = rejected targets / targets; the EER is where they cross",
                   body)


def error_rates(student):
    """student(scores, labels, theta) → (FAR, FRR) as fractions, exactly as speech.eer.error_rates."""
    def body():
        rng = np.random.default_rng(63)
        scores = np.round(np.concatenate([rng.normal(1.0, 1, 300), rng.normal(0, 1, 700)]), 1)  # (P,) with ties
        labels = np.concatenate([np.ones(300, int), np.zeros(700, int)])  # (P,)
        for theta in (-0.5, 0.0, 0.5, 0.6, 1.3, 9.0):  # 0.5 and 0.6 are scores themselves: ties at θ
            expected = eer_module.error_rates(scores, labels, theta)
            with forbidden(eer_module, ["error_rates", "roc_points"], "count the trials yourself"), \
                    forbidden(speech, ["error_rates", "roc_points"], "count the trials yourself"):
                given = tuple(float(r) for r in student(scores.copy(), labels.copy(), theta))
            require(np.allclose(given, expected, rtol=0, atol=1e-12),
                    f"θ = {theta}: (FAR, FRR) = ({expected[0]:.4f}, {expected[1]:.4f}) expected, got "
                    f"({given[0]:.4f}, {given[1]:.4f})")
        return "6 thresholds, ties at θ included"
    return verdict("FAR and FRR at a threshold", "accept a trial when its score is ≥ θ; FAR = accepted non-targets / "
                   "non-targets, FRR = rejected targets / targets", body)


def ge2e_similarity(student):
    """student(E, w, b) → S (N, M, N) with the exclusive centroid for an utterance's own speaker."""
    def body():
        rng = np.random.default_rng(62)
        for N, M, D in ((3, 4, 5), (5, 2, 8), (2, 6, 3)):
            E = rng.standard_normal((N, M, D))  # (N, M, D)
            expected = ge2e.ge2e_similarity(E, 10.0, -5.0)  # (N, M, N)
            names, advice = ["ge2e_similarity", "similarity_matrix", "ge2e_loss"], "compute the centroids and cosines yourself"
            with forbidden(ge2e, names, advice), forbidden(speech, names, advice):
                given = student(E.copy(), 10.0, -5.0)
            require_close(given, expected, f"S for N = {N}, M = {M}, D = {D}")
        return "3 sizes, M = 2 included"
    return verdict("the GE2E similarity matrix", "S[j, i, k] = w·cos(e_ji, c_k) + b, but for k = j use the centroid "
                   "of speaker j without utterance i, (Σ_m e_jm − e_ji)/(M − 1)", body)
