"""Tutorial 04: BPTT by hand for a vanilla RNN, and a central finite difference along a direction."""
import numpy as np

from ttrnn_np.pytree import tree_map


def vanilla_bptt(U, V, X):
    """Ū = ∂L/∂U for h_t = tanh(h_{t−1} U + x_t V), h_0 = 0, L = Σ_{b,u} h_T[b, u]."""
    hs = [np.zeros((X.shape[0], U.shape[0]))]  # h_0 (B, H)
    for t in range(X.shape[1]):
        hs.append(np.tanh(hs[-1] @ U + X[:, t, :] @ V))  # h_t (B, H)
    h_bar = np.ones_like(hs[-1])  # (B, H) ∂L/∂h_T
    U_bar = np.zeros_like(U)  # (H, H)
    for t in range(len(hs) - 1, 0, -1):
        a_bar = h_bar * (1 - hs[t] ** 2)  # (B, H) ∂L/∂(pre-activation at t)
        U_bar = U_bar + hs[t - 1].T @ a_bar  # (H, H)
        h_bar = a_bar @ U.T  # (B, H) ∂L/∂h_{t−1}
    return U_bar


def central_difference(loss, params, v, eps):
    """(loss(θ + εv) − loss(θ − εv)) / 2ε: the derivative of loss along the direction v (a tree like params)."""
    plus = tree_map(lambda p, d: p + eps * d, params, v)  # tree like params
    minus = tree_map(lambda p, d: p - eps * d, params, v)  # tree like params
    return float((loss(plus) - loss(minus)) / (2 * eps))
