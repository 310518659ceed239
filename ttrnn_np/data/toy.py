"""Synthetic long-range sequence tasks with a known answer: the adding problem and a copy (recall) task.

Index letters: b example (n of them), t time step (T steps), k symbol (K symbols), l position in the string
to recall (L of them).  Both generators return batch-first inputs X (n, T, F) for ``rnn.forward`` and draw
everything from the ``rng`` they are given, so one seed gives one data set.

**Adding problem** (Hochreiter & Schmidhuber 1997).  Every step carries a value v_t ~ U(0, 1) and a marker
m_t ∈ {0, 1}.  Exactly two steps are marked: t_1 drawn uniformly from the first half [0, ⌊T/2⌋) and t_2 from
the second half [⌊T/2⌋, T).  The target is the sum of the two marked values:

    X[b, t] = (v_t, m_t)                    (n, T, 2)
    y[b]    = v_{t_1} + v_{t_2}             (n,)

Predicting the mean, y ≡ 1, has mean squared error Var(y) = 2/12 = 1/6; knowing v_{t_2} alone leaves 1/12.
The first marked value lies at least ⌈T/2⌉ steps before the end, so it has to be carried that far.

**Copy task**, here in its recall form.  The first L steps show symbols s_0, …, s_{L-1} drawn uniformly
from K; the remaining T − L steps show a blank.  At the end the model must name the whole string:

    X[b, t] = e_{s_t} for t < L,  e_K for t ≥ L      one-hot over K + 1 channels (channel K = blank)  (n, T, K+1)
    y[b]    = (s_0, …, s_{L-1})                       integers in [0, K)                              (n, L)

A head with L·K outputs reads the answer from h_T (reshape its logits to (n, L, K)); guessing costs ln K nats
per symbol.  The classic copy task (Hochreiter & Schmidhuber 1997; Arjovsky, Shah & Bengio 2016) emits the
string step by step after a delimiter; asking for it at the last step fits a model that reads out h_T only.
Every symbol is at least T − L steps old when the answer is due.
"""
import numbers

import numpy as np

__all__ = ["adding_problem", "copy_task"]


def _check_count(name, value, minimum):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_rng(rng):
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator, e.g. np.random.default_rng(seed), got {type(rng).__name__}")


def adding_problem(n, T, rng, dtype=np.float64):
    """n sequences of the adding problem: (X (n, T, 2) of (value, marker) pairs, y (n,) the marked sums)."""
    n, T = _check_count("n", n, 1), _check_count("T", T, 2)
    _check_rng(rng)
    half = T // 2
    v = rng.uniform(0.0, 1.0, (n, T))  # (n, T) values
    t_1 = rng.integers(0, half, n)  # (n,) first marked step, first half
    t_2 = rng.integers(half, T, n)  # (n,) second marked step, second half
    steps = np.arange(T)  # (T,)
    m = (steps == t_1[:, None]) | (steps == t_2[:, None])  # (n, T) markers
    X = np.stack([v, m], axis=2).astype(dtype)  # (n, T, 2)
    y = (v[np.arange(n), t_1] + v[np.arange(n), t_2]).astype(dtype)  # (n,)
    return X, y


def copy_task(n, T, length, n_symbols, rng, dtype=np.float64):
    """n sequences of the recall-form copy task: (X (n, T, K+1) one-hot inputs, y (n, L) the strings to recall).

    ``length`` = L symbols to remember (L ≤ T), ``n_symbols`` = K symbols in the alphabet.
    """
    n, T = _check_count("n", n, 1), _check_count("T", T, 1)
    L, K = _check_count("length", length, 1), _check_count("n_symbols", n_symbols, 1)
    if L > T:
        raise ValueError(f"length must be at most T = {T} (the string is shown in the first L steps), got {L}")
    _check_rng(rng)
    y = rng.integers(0, K, (n, L))  # (n, L) the string s
    s = np.concatenate([y, np.full((n, T - L), K)], axis=1)  # (n, T) symbol or blank (K) at every step
    X = np.eye(K + 1, dtype=dtype)[s]  # (n, T, K+1) one-hot
    return X, y
