"""The size story: parameters by part, compression and FLOPs per step of a cell or a whole model.

Index letters: I input size, H hidden size, G gates (4 LSTM, 3 GRU), K head output size, d cores, R rank,
L layers, a(n) = auto_shape(n, d), P_TT(m, n, R) = Σ_k r_k m_k n_k r_{k+1} the size of a TT-matrix.

Parameters of one cell (one bias per cell, docs/method.md §5), each weight a list of TT-matrix blocks
(``cells.CellConfig.weight_shapes``; a dense matrix is one block of one core, whose "TT" count is M·N):

    layout           W_x                          W_h                          bias
    dense            I·G·H                        H·G·H                        G·H
    naive            G·P_TT(a(I), a(H), R)        G·P_TT(a(H), a(H), R)        G·H
    joint            P_TT(a(I), a(G·H), R)        P_TT(a(H), a(G·H), R)        G·H
    joint_gate_core  P_TT([1]+a(I), [G]+a(H), R)  P_TT([1]+a(H), [G]+a(H), R)  G·H
    lowrank          R·(I + G·H)                  R·(H + G·H)                  G·H

The head adds H·K (dense) or P_TT(a(H), a(K), R) weights and K biases.  The dense equivalent is the same
model with dense weights everywhere; compression = dense total / total.  The authors' joint cells carry two
biases (8H for the LSTM) and their naive LSTM none, so their tables differ from ours by those biases.

FLOPs per sample and time step count the products x W_x and h W_h of every layer (``cost.matmul_flops``:
"ltr" left-to-right, "rtl" right-to-left, "best" the cheaper order of each product, "dense" 2·M·N); the head
runs once per sequence and is reported apart.  Element-wise gate work, O(G·H), is left out as in the paper.

**Equal budgets** (``dense_hidden_for_budget``, ``configs_for_budget``).  A budget P counts every parameter of a
one-layer model on I inputs with a K-class head: weights, biases, head.  Each family is a layout; within a
family the parameters grow with H and with R, so "the configurations near P" are, for every structural choice
(H for lowrank, (H, d) for the TT layouts), the largest rank whose model still fits, and for the dense family
the largest H.  The Kronecker family needs no layout of its own: at R = 1 a joint TT-matrix is
W[i, j] = ∏_k G_k[0, i_k, j_k, 0], the Kronecker product G_0 ⊗ G_1 ⊗ ⋯ ⊗ G_{d-1} of d small matrices (m_k, n_k)
(mode 0 most significant, as in ``numpy.kron``), so it is the joint family's R = 1 slice.
"""
import warnings

from . import cost
from .cells import LAYOUTS, CellConfig
from .heads import HeadConfig, head_shape
from .rnn import ModelConfig
from .shapes import effective_ranks, rank_tuple

__all__ = ["cell_sizes", "head_sizes", "model_sizes", "size_story", "dense_hidden_for_budget", "configs_for_budget"]

_FLOP_KEYS = ("ltr", "rtl", "best", "dense")


def _ranks(row_modes, col_modes, rank):
    """Requested and effective (what the bonds can use, ``shapes.effective_ranks``) rank tuples of one TT-matrix."""
    return {"requested": rank_tuple(rank, len(row_modes)), "effective": effective_ranks(rank, row_modes, col_modes)}


def _weight_part(blocks, rank):
    """{"params", "flops", "ranks"} of a weight made of TT-matrix blocks side by side (ranks: one block's, None
    for a dense matrix); every block of a weight has the same shape."""
    flops = [cost.matmul_flops(m, n, rank) for m, n in blocks]
    row_modes, col_modes = blocks[0]
    return {"params": sum(cost.num_params(m, n, rank) for m, n in blocks),
            "flops": {key: sum(f[key] for f in flops) for key in _FLOP_KEYS},
            "ranks": None if len(row_modes) == 1 else _ranks(row_modes, col_modes, rank)}


def cell_sizes(cell):
    """{"W_x", "W_h": {"params", "flops", "ranks"}, "bias": G·H, "dense_weights": (I + H)·G·H} of one cell."""
    GH = cell.num_gates * cell.hidden_size
    parts = {name: _weight_part(blocks, cell.rank) for name, blocks in cell.weight_shapes.items()}
    return {**parts, "bias": GH, "dense_weights": (cell.input_size + cell.hidden_size) * GH}


def head_sizes(head, cell):
    """{"W": {"params", "flops", "ranks"}, "bias": K, "dense_weights": H·K} of a head on ``cell``."""
    row_modes, col_modes, rank = head_shape(head, cell)
    return {"W": _weight_part([(row_modes, col_modes)], rank), "bias": head.out_size,
            "dense_weights": cell.hidden_size * head.out_size}


def model_sizes(config):
    """Parameters by part, totals with and without biases, dense equivalent, compression, FLOPs, ranks.

    ``config`` is a ModelConfig, or a CellConfig (counted as one layer without a head).
    """
    if isinstance(config, CellConfig):
        config = ModelConfig(config, head=None)
    if not isinstance(config, ModelConfig):
        raise TypeError(f"expected a ModelConfig or CellConfig, got {type(config).__name__}")
    layers = [cell_sizes(cell) for cell in config.layers]
    head = None if config.head is None else head_sizes(config.head, config.cell)
    parts = {"W_x": sum(s["W_x"]["params"] for s in layers), "W_h": sum(s["W_h"]["params"] for s in layers),
             "bias": sum(s["bias"] for s in layers),
             "head_W": 0 if head is None else head["W"]["params"], "head_b": 0 if head is None else head["bias"]}
    weights = parts["W_x"] + parts["W_h"] + parts["head_W"]
    dense_weights = sum(s["dense_weights"] for s in layers) + (0 if head is None else head["dense_weights"])
    biases = parts["bias"] + parts["head_b"]
    ranks = {f"layer {ell} {name}": s[name]["ranks"] for ell, s in enumerate(layers) for name in ("W_x", "W_h")}
    if head is not None:
        ranks["head W"] = head["W"]["ranks"]
    return {"parts": parts,
            "total": weights + biases, "total_no_bias": weights,
            "dense_total": dense_weights + biases, "dense_no_bias": dense_weights,
            "compression": (dense_weights + biases) / (weights + biases),
            "compression_no_bias": dense_weights / weights,
            "flops_per_step": {key: sum(s[name]["flops"][key] for s in layers for name in ("W_x", "W_h"))
                               for key in _FLOP_KEYS},
            "head_flops": None if head is None else head["W"]["flops"],
            "ranks": {name: r for name, r in ranks.items() if r is not None},
            "layers": layers, "head": head}


def _modes_text(row_modes, col_modes, rank):
    r = _ranks(row_modes, col_modes, rank)
    capped = "" if r["effective"] == r["requested"] else f" (useful {'-'.join(map(str, r['effective']))})"
    return (f"({','.join(map(str, row_modes))})→({','.join(map(str, col_modes))}), ranks "
            f"{'-'.join(map(str, r['requested']))}{capped}")


def _layout_text(cell):
    if cell.layout == "dense":
        return "dense"
    if cell.layout == "lowrank":
        return f"low-rank W = U V, rank {cell.rank}"
    cores = f"{cell.n_cores} cores + gate core" if cell.layout == "joint_gate_core" else f"{cell.n_cores} cores"
    return f"{cell.layout} TT, d = {cores}, rank {cell.rank}"


def size_story(config):
    """A readable multi-line account of a model's (or cell's) size, compression and FLOPs per step."""
    s = model_sizes(config)
    config = ModelConfig(config, head=None) if isinstance(config, CellConfig) else config
    cell, lines = config.cell, []
    head = "" if config.head is None else (f", {config.head.kind} head {cell.hidden_size}→{config.head.out_size} "
                                           f"({config.head.layout})")
    layers = f"{config.num_layers} layer{'s' if config.num_layers > 1 else ''}"
    lines.append(f"{cell.kind.upper()}, {_layout_text(cell)}, {layers}, "
                 f"I={cell.input_size} → H={cell.hidden_size}{head}")
    for ell, (layer, counts) in enumerate(zip(config.layers, s["layers"])):
        for name in ("W_x", "W_h"):
            fan_in = layer.input_size if name == "W_x" else layer.hidden_size
            row_modes, col_modes = layer.weight_shapes[name][0]
            shape = (f"dense {fan_in}×{layer.num_gates * layer.hidden_size}" if len(row_modes) == 1 else
                     _modes_text(row_modes, col_modes, layer.rank))
            blocks = len(layer.weight_shapes[name])
            each = f", one per gate (×{blocks})" if blocks > 1 else ""
            lines.append(f"  layer {ell} {name}: {shape}{each}: {counts[name]['params']:,}")
        lines.append(f"  layer {ell} bias: {counts['bias']:,}")
        if layer.gate_digits is not None:
            n_0, G = layer.weight_shapes["W_x"][0][1][0], layer.num_gates
            alignment = (f"aligned, the leading column mode n_0 = {n_0} separates the {G} gates"
                         if layer.gate_digits == 1 else
                         f"misaligned, {G} ∤ n_0 = {n_0}, the gate index spans the leading {layer.gate_digits} "
                         "column modes")
            lines.append(f"  layer {ell} gates: {alignment}")
    if config.head is not None:
        row_modes, col_modes, rank = head_shape(config.head, cell)
        shape = (f"dense {cell.hidden_size}×{config.head.out_size}" if len(row_modes) == 1 else
                 _modes_text(row_modes, col_modes, rank))
        lines.append(f"  head W: {shape}: {s['parts']['head_W']:,}")
        lines.append(f"  head bias: {s['parts']['head_b']:,}")
    lines.append(f"  total {s['total']:,} parameters ({s['total_no_bias']:,} without biases); dense equivalent "
                 f"{s['dense_total']:,} → {s['compression']:,.1f}× compression")
    flops = s["flops_per_step"]
    if cell.layout == "dense":
        lines.append(f"  FLOPs per time step and sample: {flops['dense']:,}")
        return "\n".join(lines)
    lines.append(f"  FLOPs per time step and sample: {flops['best']:,} (cheaper order; ltr {flops['ltr']:,}, "
                 f"rtl {flops['rtl']:,}) vs {flops['dense']:,} dense ({flops['dense'] / flops['best']:.2f}×)")
    return "\n".join(lines)


def _budget_model(layout, hidden_size, input_size, kind, num_classes, head, n_cores=2, rank=1):
    """The one-layer ModelConfig of a budget candidate (warnings of odd shapes silenced: they do not change counts)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cell = CellConfig(kind, layout, input_size, hidden_size, n_cores=n_cores, rank=rank)
        return ModelConfig(cell, head=HeadConfig("classify", num_classes, head))


def dense_hidden_for_budget(budget, input_size, kind="lstm", num_classes=10):
    """The largest H whose dense model (one cell on ``input_size`` inputs + a dense ``num_classes`` head) has at
    most ``budget`` parameters: G·H·(I + H + 1) + K·(H + 1) ≤ budget.  ValueError if not even H = 1 fits."""
    def total(H):
        return model_sizes(_budget_model("dense", H, input_size, kind, num_classes, "dense"))["total"]
    if total(1) > budget:
        raise ValueError(f"a budget of {budget:,} parameters is below the smallest dense {kind.upper()} "
                         f"(H = 1: {total(1):,} parameters with I = {input_size}, K = {num_classes})")
    low, high = 1, 2  # total(low) ≤ budget; grow high until it does not fit, then bisect
    while total(high) <= budget:
        low, high = high, 2 * high
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if total(middle) <= budget else (low, middle)
    return low


def _candidate(config, family):
    """One budget candidate as a JSON-able dict with its exact counts."""
    cell, s = config.cell, model_sizes(config)
    factorized = family not in ("dense", "lowrank")
    return {"family": family, "kind": cell.kind, "layout": cell.layout, "input_size": cell.input_size,
            "hidden_size": cell.hidden_size, "cores": cell.n_cores if factorized else None,
            "rank": None if family == "dense" else cell.rank, "head": config.head.layout, "params": s["total"],
            "params_no_bias": s["total_no_bias"], "flops_per_step": s["flops_per_step"]["best"]}


def _useful(config):
    """True when no bond of any weight (head included) is ranked above what it can use."""
    return all(r["requested"] == r["effective"] for r in model_sizes(config)["ranks"].values())


def configs_for_budget(family, budget, input_size=28, kind="lstm", num_classes=10, head="dense",
                       hidden_sizes=(16, 32, 64, 128, 256), cores=(2, 3, 4), max_rank=64, tolerance=0.5):
    """The candidate configurations of one family near a parameter budget, with exact counts (module docstring).

    ``family`` is a layout (``cells.LAYOUTS``); the joint family at R = 1 is the Kronecker family.  Candidates:
    dense, the largest H that fits (``dense_hidden_for_budget``); lowrank, for each H in ``hidden_sizes`` the
    largest rank R ≤ ``max_rank`` that fits; naive / joint / joint_gate_core, for each H and d in ``cores`` the
    largest such R.  A rank is never raised past what every bond can use (``shapes.effective_ranks``), and a
    candidate is kept only if it has at least (1 − ``tolerance``)·budget parameters.  ``head`` is the head
    layout for every family ("dense", or "tt": the cell's d and R, for the factorized families only).
    Returns dicts {"family", "kind", "layout", "input_size", "hidden_size", "cores", "rank", "head",
    "params", "params_no_bias", "flops_per_step"} sorted by (hidden_size, cores).
    """
    if family not in LAYOUTS:
        raise ValueError(f"family must be one of {LAYOUTS}, got {family!r}")
    if head == "tt" and family in ("dense", "lowrank"):
        raise ValueError(f"a TT head takes the cell's d and R, which the {family} family does not set (it ignores "
                         "d); use head='dense'")
    if not 0 <= tolerance < 1:
        raise ValueError(f"tolerance must lie in [0, 1), got {tolerance!r}")
    floor = (1 - tolerance) * budget
    if family == "dense":
        H = dense_hidden_for_budget(budget, input_size, kind, num_classes)
        config = _budget_model("dense", H, input_size, kind, num_classes, "dense")
        return [_candidate(config, family)] if model_sizes(config)["total"] >= floor else []
    found = []
    for H in hidden_sizes:
        for d in ((2,) if family == "lowrank" else cores):
            best = None
            for R in range(1, max_rank + 1):
                config = _budget_model(family, H, input_size, kind, num_classes, head, d, R)
                if model_sizes(config)["total"] > budget or not _useful(config):
                    break  # counts grow with R; a bond past its useful rank stays so
                best = config
            if best is not None and model_sizes(best)["total"] >= floor:
                found.append(_candidate(best, family))
    return found
