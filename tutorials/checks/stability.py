"""Checkers for tutorial 07: the global gradient norm, Adam's first update, the learning-rate window."""
import numpy as np

from ttrnn_np import optim, pytree

from ._verdict import forbidden, require, require_close, verdict


def global_norm(student):
    """student(tree) → √(Σ over leaves of the squared entries), as pytree.global_norm."""
    def body():
        rng = np.random.default_rng(71)
        trees = [{"w": rng.standard_normal(5), "b": np.zeros(1)},
                 {"layers": [{"W": [rng.standard_normal((1, 3, 4, 2))], "b": rng.standard_normal(4)}],
                  "head": (rng.standard_normal((2, 2)), 3.0)},
                 [np.full((2, 2), 1e-3), np.ones(3)]]
        for k, tree in enumerate(trees):
            expected = pytree.global_norm(tree)
            with forbidden(pytree, ["global_norm"], "add up the squared leaves yourself"), \
                    forbidden(optim, ["clip_by_global_norm"], "add up the squared leaves yourself"):
                given = float(student(tree))
            require(np.isclose(given, expected, rtol=1e-12), f"tree {k}: {expected:.6g} expected, got {given:.6g}")
        return "3 trees: flat, nested with a scalar leaf, a list"
    return verdict("the global norm", "walk the leaves with ttrnn_np.pytree.tree_leaves and add up their squared "
                   "entries; the root comes last (the norms of the leaves do not add up)", body)


def adam_first_update(student):
    """student(g, lr) → θ₁ − θ₀ of Adam's first step (β₁ = 0.9, β₂ = 0.999, ε = 1e-8) for gradient g."""
    def body():
        rng = np.random.default_rng(72)
        for scale in (1.0, 1e-3, 1e-9):
            g = scale * rng.standard_normal(6)  # (6,)
            theta = np.zeros(6)  # (6,)
            expected = optim.adam_step(theta, g, optim.adam_init(theta), 0.01)[0] - theta  # (6,)
            with forbidden(optim, ["adam_step", "Optimizer"], "write the moment updates and the bias correction "
                           "yourself"):
                given = student(g.copy(), 0.01)
            require_close(given, expected, f"gradient of scale {scale:g}", rtol=1e-9, atol=1e-15)
        return "gradients of scale 1, 1e-3 and 1e-9"
    return verdict("Adam's first update", "m = (1 − β₁)g and v = (1 − β₂)g² after one step; bias correction divides "
                   "by 1 − β₁ and 1 − β₂; the update is −η·m̂/(√v̂ + ε)", body)


def lr_window(student):
    """student(rows, model, points) → sorted learning rates whose best validation accuracy is within ``points``
    of that model's best (a diverged run, or one without a measurement, counts as chance, 10 %)."""
    def body():
        rows = [{"model": "dense", "lr": lr, "status": "complete", "best_val_pct": acc}
                for lr, acc in ((3e-4, 86.0), (1e-3, 92.2), (3e-3, 93.75), (1e-2, 92.2), (3e-2, 84.1))]
        rows += [{"model": "tt", "lr": 1e-3, "status": "complete", "best_val_pct": 69.3},
                 {"model": "tt", "lr": 1e-2, "status": "complete", "best_val_pct": 88.5},
                 {"model": "tt", "lr": 3e-3, "status": "complete", "best_val_pct": 86.6},
                 {"model": "tt", "lr": 3e-2, "status": "diverged", "best_val_pct": 95.0},
                 {"model": "tt", "lr": 1e-1, "status": "diverged", "best_val_pct": None}]
        cases = [("dense", 2, [1e-3, 3e-3, 1e-2]), ("dense", 1.5, [3e-3]),
                 ("tt", 2, [3e-3, 1e-2]), ("tt", 100, [1e-3, 3e-3, 1e-2, 3e-2, 1e-1])]
        for model, points, expected in cases:
            given = [float(lr) for lr in student([dict(r) for r in rows], model, points)]
            require(given == expected, f"{model} within {points} points: {expected} expected, got {given}")
        return "5 cases, a diverged run with a stale accuracy included"
    return verdict("the learning-rate window", "find the model's best accuracy over its rows first (diverged → 10 %), "
                   "then keep every lr with accuracy ≥ best − points, in increasing order", body)
