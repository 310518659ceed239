"""Tutorial 07: the global gradient norm, Adam's first update, the learning-rate window."""
import numpy as np

from ttrnn_np.pytree import tree_leaves


def global_norm(tree):
    """√(Σ over all leaves of their squared entries), safe for huge entries."""
    return float(np.linalg.norm([np.linalg.norm(np.ravel(leaf)) for leaf in tree_leaves(tree)]))


def adam_first_update(g, lr, b1=0.9, b2=0.999, eps=1e-8):
    """θ₁ − θ₀ of the first Adam step: m̂ = g and v̂ = g² after bias correction, so −η·g/(|g| + ε)."""
    m, v = (1 - b1) * g, (1 - b2) * g * g  # moments after one step
    return -lr * (m / (1 - b1)) / (np.sqrt(v / (1 - b2)) + eps)


def lr_window(rows, model, points, chance_pct=10.0):
    """Sorted learning rates of ``model`` whose best validation accuracy is within ``points`` of its best."""
    accuracy = {row["lr"]: (row["best_val_pct"] if row["status"] == "complete" and row["best_val_pct"] is not None
                            else chance_pct) for row in rows if row["model"] == model}
    best = max(accuracy.values())
    return sorted(lr for lr, acc in accuracy.items() if acc >= best - points)
