"""Output heads on the last hidden state: a classifier (logits) or a speaker embedding (d-vector).

Index letters: b batch, H hidden size, K head output size, d cores, R rank, a(n) = auto_shape(n, d).

    classify:  y = h_T W + b                                    (B, K) logits
    embed:     e = max(h_T W + b, 0),   e ← e / √(‖e‖₂² + ε²)     (B, K) unit-length rows (GE2E d-vector)

ε = 1e-12 keeps an all-zero ReLU output (and its gradient) finite.

W is a TT-matrix: dense is one core (1, H, K, 1), "tt" is a(H) → a(K) with the cell's d and R unless the head
says otherwise (the paper's "fully" tensorized model); either way ``ttmatmul.matmul`` multiplies by it.  Init "glorot": Var(W_ij) = 2/(H + K), dense N(0, ·) or ``init.glorot``;
bias 1e-3.  "reference" (dense head only): W and b ~ U(±1/√H), PyTorch's ``nn.Linear`` default.
"""
import dataclasses
import math

import autograd.numpy as np
import numpy as onp

from . import init as tt_init
from .cells import BIAS_INIT, INITS, check_positive_int
from .shapes import auto_shape
from .ttmatmul import matmul

__all__ = ["HEAD_KINDS", "HEAD_LAYOUTS", "HeadConfig", "head_shape", "init_head", "apply_head"]

HEAD_KINDS = ("classify", "embed")
HEAD_LAYOUTS = ("dense", "tt")
EMBED_EPS = 1e-12


@dataclasses.dataclass(frozen=True)
class HeadConfig:
    """kind "classify" | "embed"; out_size K; layout "dense" | "tt"; n_cores / rank of a TT head (None: the
    cell's); init "glorot" | "reference"."""
    kind: str = "classify"
    out_size: int = 10
    layout: str = "dense"
    n_cores: int = None
    rank: int = None
    init: str = "glorot"

    def __post_init__(self):
        if self.kind not in HEAD_KINDS:
            raise ValueError(f"head kind must be one of {HEAD_KINDS}, got {self.kind!r}")
        if self.layout not in HEAD_LAYOUTS:
            raise ValueError(f"head layout must be one of {HEAD_LAYOUTS}, got {self.layout!r}")
        if self.init not in INITS:
            raise ValueError(f"head init must be one of {INITS}, got {self.init!r}")
        check_positive_int("out_size", self.out_size)
        for name in ("n_cores", "rank"):
            if getattr(self, name) is not None:
                check_positive_int(f"head {name}", getattr(self, name))


def head_shape(head, cell):
    """The head's TT-matrix shape (row modes, column modes, rank): ((H,), (K,), 1) for a dense head, else
    (a(H), a(K), R) with d and R taken from the cell unless the head gives them."""
    if head.layout == "dense":
        return (cell.hidden_size,), (head.out_size,), 1
    d = head.n_cores if head.n_cores is not None else cell.n_cores
    R = head.rank if head.rank is not None else cell.rank
    return auto_shape(cell.hidden_size, d), auto_shape(head.out_size, d), R


def init_head(head, cell, rng, dtype=onp.float64):
    """{"W": TT cores (one core for a dense head), "b": (K,)} for a head on top of ``cell``'s hidden state."""
    H, K = cell.hidden_size, head.out_size
    if head.layout == "dense" and head.init == "reference":
        bound = 1.0 / math.sqrt(H)
        W = [rng.uniform(-bound, bound, (1, H, K, 1)).astype(dtype)]  # [(1, H, K, 1)]
        b = rng.uniform(-bound, bound, K).astype(dtype)  # (K,)
    else:
        W = tt_init.glorot(*head_shape(head, cell), rng, dtype)
        b = onp.full(K, BIAS_INIT, dtype=dtype)  # (K,)
    return {"W": W, "b": b}


def apply_head(head, params, h):
    """Logits or unit-length embeddings (B, K) from the last hidden state h (B, H)."""
    y = matmul(h, params["W"]) + params["b"]  # (B, K)
    if head.kind == "classify":
        return y
    e = np.maximum(y, 0.0)  # (B, K) ReLU
    norm = np.sqrt(np.sum(e * e, axis=1, keepdims=True) + EMBED_EPS ** 2)  # (B, 1)
    return e / norm  # (B, K)
