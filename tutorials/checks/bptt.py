"""Checkers for tutorial 04: BPTT by hand for a vanilla RNN, and a central finite difference."""
import autograd
import autograd.numpy as anp
import numpy as np

from ttrnn_np import cells, rnn
from ttrnn_np.data import toy
from ttrnn_np.heads import HeadConfig
from ttrnn_np.pytree import tree_leaves, tree_map

from ._verdict import forbidden, require, require_close, verdict


def _vanilla_states(U, V, X):
    hs = [anp.zeros((X.shape[0], U.shape[0]))]  # h_0 (B, H)
    for t in range(X.shape[1]):
        hs.append(anp.tanh(anp.dot(hs[-1], U) + anp.dot(X[:, t, :], V)))  # h_t (B, H)
    return hs


def vanilla_bptt(student):
    """student(U, V, X) → Ū = ∂L/∂U for h_t = tanh(h_{t−1} U + x_t V), L = Σ h_T, by the backward recursion."""
    def body():
        rng = np.random.default_rng(41)
        for B, T, I, H in ((4, 7, 3, 5), (2, 12, 1, 6), (3, 1, 2, 4)):
            U, V = 0.6 * rng.standard_normal((H, H)), rng.standard_normal((I, H))  # (H, H), (I, H)
            X = rng.standard_normal((B, T, I))  # (B, T, I)
            expected = autograd.grad(lambda U_: anp.sum(_vanilla_states(U_, V, X)[-1]))(U)  # (H, H)
            with forbidden(autograd, ["grad", "value_and_grad"], "write the backward recursion yourself"):
                given = student(U.copy(), V.copy(), X.copy())
            require_close(given, expected, f"Ū for B = {B}, T = {T}, I = {I}, H = {H}")
        return "3 sizes, T = 1, 7 and 12, against autograd"
    return verdict("BPTT by hand", "go backwards from h̄_T = 1: ā_t = h̄_t ⊙ (1 − h_t²), Ū += h_{t−1}ᵀ ā_t, "
                   "h̄_{t−1} = ā_t Uᵀ", body)


def central_difference(student):
    """student(loss, params, v, eps) → (loss(θ + εv) − loss(θ − εv)) / 2ε, the derivative along v."""
    def body():
        rng = np.random.default_rng(42)
        theta = {"a": rng.standard_normal(5), "b": [rng.standard_normal((2, 3))]}  # a small pytree
        v = tree_map(lambda p: rng.standard_normal(p.shape), theta)  # tree like theta

        def quartic(p):
            return anp.sum(p["a"] ** 4) + anp.sum(p["b"][0] ** 4)

        exact = sum(np.sum(g * d) for g, d in zip(tree_leaves(autograd.grad(quartic)(theta)), tree_leaves(v)))
        given = float(student(quartic, theta, v, 1e-3))
        require(abs(given - exact) <= 1e-5 * abs(exact),
                f"Σ θ⁴ along v with eps = 1e-3: {exact:.8f} exact, got {given:.8f} (error {abs(given - exact):.1e}; "
                f"a central difference is within {1e-5 * abs(exact):.1e})")
        config = rnn.ModelConfig(cells.CellConfig("lstm", "joint", 2, 4, n_cores=2, rank=2, in_modes=(1, 2)),
                                 head=HeadConfig("classify", 1))
        params = rnn.init_model(config, np.random.default_rng(43))
        X, y = toy.adding_problem(3, 6, np.random.default_rng(44))  # (3, 6, 2), (3,)

        def loss(p):
            return anp.mean((rnn.forward(config, p, X)[:, 0] - y) ** 2)

        v = tree_map(lambda p: rng.standard_normal(p.shape), params)  # tree like params
        exact = sum(np.sum(g * d) for g, d in zip(tree_leaves(autograd.grad(loss)(params)), tree_leaves(v)))
        given = float(student(loss, params, v, 1e-6))
        require(abs(given - exact) <= 1e-7 * max(1.0, abs(exact)),
                f"a joint TT-LSTM's MSE along v with eps = 1e-6: {exact:.10f} by BPTT, got {given:.10f}")
        return "a quartic at eps = 1e-3 and a TT-LSTM loss at eps = 1e-6 agree with autograd"
    return verdict("the central difference", "build θ ± εv leaf by leaf with ttrnn_np.pytree.tree_map, and divide "
                   "by 2ε: a one-sided difference is only accurate to O(ε)", body)
