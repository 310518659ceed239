"""Every exercise checker of the tutorials passes its solution and fails a stub and a plausible wrong answer."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tutorials"))

from checks import bptt, compression, lstm, mnist, speaker, speed, stability, tensor_trains, tt_matrices  # noqa: E402
from solutions import bptt as bptt_solutions  # noqa: E402
from solutions import compression as compression_solutions  # noqa: E402
from solutions import lstm as lstm_solutions  # noqa: E402
from solutions import mnist as mnist_solutions  # noqa: E402
from solutions import speaker as speaker_solutions  # noqa: E402
from solutions import speed as speed_solutions  # noqa: E402
from solutions import stability as stability_solutions  # noqa: E402
from solutions import tensor_trains as tt_solutions  # noqa: E402
from solutions import tt_matrices as matrix_solutions  # noqa: E402
from ttrnn_np import tt, ttmatmul  # noqa: E402
from ttrnn_np.pytree import tree_map  # noqa: E402


def stub(*args, **kwargs):
    raise NotImplementedError


# Plausible mistakes, one per exercise: each must make its checker fail.
def tt_svd_untruncated(A, eps):
    return tt_solutions.tt_svd(A, 0.0)  # keeps every singular value: ranks too large


def tt_svd_delta_without_sqrt(A, eps):
    return tt_solutions.tt_svd(A, eps * np.sqrt(max(A.ndim - 1, 1)))  # δ = eps·‖A‖: error can exceed eps


def tt_round_densifying(cores, eps):
    return tt.tt_svd(tt.full(cores), eps=eps)  # right ranks, but densifies


def tt_round_without_orthogonalizing(cores, eps):
    cores = [np.array(G) for G in cores]
    for k in range(len(cores) - 1):  # truncation without the right-orthogonal sweep: not optimal, ranks too large
        r_k, n_k, r_next = cores[k].shape
        U, s, Vt = np.linalg.svd(cores[k].reshape(r_k * n_k, r_next), full_matrices=False)
        r = tt_solutions.truncation_rank(s, eps * tt.norm(cores) / np.sqrt(len(cores) - 1))
        cores[k] = U[:, :r].reshape(r_k, n_k, r)
        cores[k + 1] = np.tensordot(s[:r, None] * Vt[:r], cores[k + 1], axes=(1, 0))
    return cores


def sum_cores_swapped(n, d):
    cores = tt_solutions.sum_tensor_cores(n, d)
    return [cores[-1].transpose(2, 1, 0)] + cores[1:-1] + [cores[0].transpose(2, 1, 0)]  # (1, i) first: wrong


def entry_fortran_digits(cores, i, j):
    m, n = [G.shape[1] for G in cores], [G.shape[2] for G in cores]
    i_d, j_d = np.unravel_index(i, m, order="F"), np.unravel_index(j, n, order="F")
    product = np.ones((1, 1))
    for G, a, b in zip(cores, i_d, j_d):
        product = product @ G[:, a, b, :]
    return float(product[0, 0])


def matmul_columns_reversed(X, cores):
    return matrix_solutions.matmul_ltr(X, [np.flip(G, axis=2) for G in cores])  # n_k digits read backwards


def break_even_ltr_only(m, n):
    d, dense = len(m), 2 * int(np.prod(m)) * int(np.prod(n))
    R = 1
    while sum(2 * ([1] + [R] * (d - 1) + [1])[k] * ([1] + [R] * (d - 1) + [1])[k + 1] * int(np.prod(n[:k + 1]))
              * int(np.prod(m[k:])) for k in range(d)) < dense:
        R += 1
    return R


def gate_from_leading_digit(j, out_modes, H):
    digits, gate, unit = lstm_solutions.gate_of_column(j, out_modes, H)
    return digits, digits[0] // (out_modes[0] // 4), unit  # wrong when the leading mode is not a multiple of 4


def lstm_step_swapped_gates(config, params, x, h, c):
    (W_x,), (W_h,) = params["W_x"], params["W_h"]
    A = ttmatmul.matmul(x, W_x) + ttmatmul.matmul(h, W_h) + params["b"]
    H = config.hidden_size
    s = lstm_solutions.sigmoid
    f, i, g, o = s(A[:, :H]), s(A[:, H:2 * H]), np.tanh(A[:, 2 * H:3 * H]), s(A[:, 3 * H:])  # i and f swapped
    c_next = f * c + i * g
    return o * np.tanh(c_next), c_next


def bptt_without_tanh_derivative(U, V, X):
    hs = [np.zeros((X.shape[0], U.shape[0]))]
    for t in range(X.shape[1]):
        hs.append(np.tanh(hs[-1] @ U + X[:, t, :] @ V))
    h_bar, U_bar = np.ones_like(hs[-1]), np.zeros_like(U)
    for t in range(len(hs) - 1, 0, -1):
        U_bar = U_bar + hs[t - 1].T @ h_bar
        h_bar = h_bar @ U.T
    return U_bar


def forward_difference(loss, params, v, eps):
    return float((loss(tree_map(lambda p, d: p + eps * d, params, v)) - loss(params)) / eps)


def step_of_pixel_permuted_forward(i, j, view):
    from ttrnn_np.data.mnist import pixel_permutation
    t = 28 * i + j
    return i if view == "row" else t if view == "pixel" else int(pixel_permutation()[t])  # π instead of π⁻¹


def confusion_transposed(y_true, y_pred, K):
    return mnist_solutions.confusion_matrix(y_true, y_pred, K).T


def confusion_without_repeats(y_true, y_pred, K):
    C = np.zeros((K, K), dtype=int)
    C[y_true, y_pred] += 1  # fancy-index += drops repeated pairs
    return C


def mistakes_least_confident_first(p, labels, k):
    wrong = np.nonzero(p.argmax(axis=1) != labels)[0]
    return wrong[np.argsort(p[wrong].max(axis=1), kind="stable")][:k]  # ascending: the least sure mistakes


def eer_half_total_error(scores, labels):
    labels = np.asarray(labels).astype(bool)
    return float(np.mean(labels != (scores > np.median(scores))))  # an error rate at the median, not the EER


def error_rates_rejecting_ties(scores, labels, theta):
    return speaker_solutions.error_rates(scores, labels, np.nextafter(theta, np.inf))  # accepts only s > θ


def error_rates_over_all_trials(scores, labels, theta):
    accept, target = np.asarray(scores) >= theta, np.asarray(labels).astype(bool)
    return (accept & ~target).mean(), (~accept & target).mean()  # shares of all trials, not of each class


def ge2e_inclusive_only(E, w, b):
    total = E.sum(axis=1)
    e = E / np.linalg.norm(E, axis=-1, keepdims=True)
    c = total / np.linalg.norm(total, axis=-1, keepdims=True)
    return w * np.einsum("jid,kd->jik", e, c) + b  # the own centroid includes the utterance


def global_norm_sum_of_norms(tree):
    from ttrnn_np.pytree import tree_leaves
    return float(sum(np.linalg.norm(np.ravel(leaf)) for leaf in tree_leaves(tree)))


def adam_without_bias_correction(g, lr):
    return -lr * (0.1 * g) / (np.sqrt(0.001 * g * g) + 1e-8)


def lr_window_trusting_diverged(rows, model, points):
    accuracy = {r["lr"]: r["best_val_pct"] or 10.0 for r in rows if r["model"] == model}
    return sorted(lr for lr, acc in accuracy.items() if acc >= max(accuracy.values()) - points)


def flops_without_pointwise(B, T, I, H, G):
    return T * B * (2 * I * G * H + 2 * H * G * H)


def medians_not_interleaved(functions, rounds):
    import time
    result = {}
    for name, f in functions.items():
        f()
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            f()
            times.append(time.perf_counter() - start)
        result[name] = float(np.median(times))
    return result


def truncated_svd_without_singular_values(W, r):
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    return U[:, :r], Vt[:r]  # the right subspaces, but σ dropped: U V is not W's approximation


def truncated_svd_smallest(W, r):
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    return U[:, -r:] * s[-r:], Vt[-r:]  # the r weakest directions


def unfolding_without_interleaving(W, row_modes, col_modes, k):
    rows = int(np.prod(row_modes[:k]) * np.prod(col_modes[:k]))
    return np.reshape(W, (rows, -1))  # the right shape, but rows mix digits the TT cores do not group


def lowrank_params_shared_factors(I, H, r):
    return r * (I + H + 4 * H) + 4 * H  # one U V for the stacked [W_x; W_h]: another model


def lowrank_params_without_bias(I, H, r):
    return r * (I + 4 * H) + r * (H + 4 * H)


EXERCISES = {
    "01 TT-SVD": (tensor_trains.tt_svd, tt_solutions.tt_svd, [tt_svd_untruncated, tt_svd_delta_without_sqrt]),
    "01 tt_round": (tensor_trains.tt_round, tt_solutions.tt_round,
                    [tt_round_densifying, tt_round_without_orthogonalizing]),
    "01 sum tensor": (tensor_trains.sum_tensor_cores, tt_solutions.sum_tensor_cores, [sum_cores_swapped]),
    "02 entry": (tt_matrices.entry, matrix_solutions.entry, [entry_fortran_digits]),
    "02 product": (tt_matrices.matmul_one_order, matrix_solutions.matmul_ltr, [matmul_columns_reversed]),
    "02 break-even": (tt_matrices.break_even_rank, matrix_solutions.break_even_rank, [break_even_ltr_only]),
    "03 gate of a column": (lstm.gate_of_column, lstm_solutions.gate_of_column, [gate_from_leading_digit]),
    "03 LSTM step": (lstm.lstm_step, lstm_solutions.lstm_step, [lstm_step_swapped_gates]),
    "04 BPTT": (bptt.vanilla_bptt, bptt_solutions.vanilla_bptt, [bptt_without_tanh_derivative]),
    "04 finite difference": (bptt.central_difference, bptt_solutions.central_difference, [forward_difference]),
    "05 step of a pixel": (mnist.step_of_pixel, mnist_solutions.step_of_pixel, [step_of_pixel_permuted_forward]),
    "05 confusion matrix": (mnist.confusion_matrix, mnist_solutions.confusion_matrix,
                            [confusion_transposed, confusion_without_repeats]),
    "05 confident mistakes": (mnist.most_confident_mistakes, mnist_solutions.most_confident_mistakes,
                              [mistakes_least_confident_first]),
    "06 EER": (speaker.eer, speaker_solutions.eer, [eer_half_total_error]),
    "06 FAR and FRR": (speaker.error_rates, speaker_solutions.error_rates,
                       [error_rates_rejecting_ties, error_rates_over_all_trials]),
    "06 GE2E similarity": (speaker.ge2e_similarity, speaker_solutions.ge2e_similarity, [ge2e_inclusive_only]),
    "07 global norm": (stability.global_norm, stability_solutions.global_norm, [global_norm_sum_of_norms]),
    "07 Adam's first update": (stability.adam_first_update, stability_solutions.adam_first_update,
                               [adam_without_bias_correction]),
    "07 lr window": (stability.lr_window, stability_solutions.lr_window, [lr_window_trusting_diverged]),
    "08 FLOPs": (speed.lstm_forward_flops, speed_solutions.lstm_forward_flops, [flops_without_pointwise]),
    "08 timer": (speed.interleaved_medians, speed_solutions.interleaved_medians, [medians_not_interleaved]),
    "09 truncated SVD": (compression.truncated_svd, compression_solutions.truncated_svd,
                         [truncated_svd_without_singular_values, truncated_svd_smallest]),
    "09 unfolding": (compression.unfolding, compression_solutions.unfolding, [unfolding_without_interleaving]),
    "09 low-rank size": (compression.lowrank_lstm_params, compression_solutions.lowrank_lstm_params,
                         [lowrank_params_shared_factors, lowrank_params_without_bias]),
}


@pytest.mark.parametrize("name", EXERCISES)
def test_solution_passes(name, capsys):
    checker, solution, _ = EXERCISES[name]
    assert checker(solution) is True, capsys.readouterr().out
    assert capsys.readouterr().out.startswith("✓")


@pytest.mark.parametrize("name", EXERCISES)
def test_stub_reports_not_implemented(name, capsys):
    checker, _, _ = EXERCISES[name]
    assert checker(stub) is False
    assert "not implemented yet" in capsys.readouterr().out


@pytest.mark.parametrize("name", EXERCISES)
def test_wrong_answers_fail_with_a_hint(name, capsys):
    checker, _, wrong_answers = EXERCISES[name]
    for wrong in wrong_answers:
        assert checker(wrong) is False, f"{name}: the checker passed the wrong answer {wrong.__name__}"
        out = capsys.readouterr().out
        assert out.startswith("✗") and "hint:" in out, out


def test_checkers_restore_what_they_forbid():
    checker, solution, _ = EXERCISES["02 product"]
    checker(stub)
    X, cores = np.ones((1, 4)), [np.ones((1, 2, 2, 1)), np.ones((1, 2, 2, 1))]
    assert np.allclose(ttmatmul.matmul(X, cores), matrix_solutions.matmul_ltr(X, cores))
