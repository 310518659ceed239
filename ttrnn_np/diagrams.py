"""Tensor-network diagrams of live objects: a TT tensor, a TT-matrix, a whole cell's weights (matplotlib).

Index letters: k core, r_k ranks, n_k modes of a TT tensor, m_k / n_k row / column modes of a TT-matrix, G gates.

A diagram draws every core G_k as a node, every inner bond as an edge labelled with its rank "r_k = …", and
every open index as a leg labelled with its mode: a TT tensor's mode "n_k = …" hangs below its core; a
TT-matrix's row mode "m_k = …" (the input side of y = x W) hangs below and its column mode "n_k = …" (the output
side) stands above.  Legs of size 1 (the gate core's row mode, the low-rank layout's inner modes) carry no index
and are left out, as are the boundary ranks r_0 = r_d = 1.  In a cell, the column legs that carry the gate index
are red: the leading ``cells.gate_digits`` legs of the joint layout, core 0 of the gate-core layout, the single
column leg of a dense or low-rank weight; a naive weight is one chain per gate.  A cell's weights stand side by
side (W_x left, W_h right), one row per TT-matrix block.

Every artist is tagged with a gid ("core", "bond", "bond label", "leg", "leg label", "name"), so a test (or a
reader) can count what was drawn.  matplotlib is imported inside the functions: it is no dependency of the
library.
"""
from . import tt, ttmatrix

__all__ = ["draw_tt", "draw_tt_matrix", "draw_cell"]

SPACING = 1.6  # between neighbouring cores
RADIUS = 0.32  # of a core node
LEG = 0.6  # length of an open leg beyond the node
ROW = 2.8  # between the chains of a cell, one above the other
NAME = 1.5  # room left of a cell's chain for its name
INCH = 0.75  # figure inches per drawing unit
FONT = 9
GATE_COLOR = "tab:red"


def _axes(ax, width, height):
    """``ax`` or a new figure sized to a drawing of width × height units; (fig, ax)."""
    if ax is None:
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(max(3.0, INCH * width), max(1.6, INCH * height)))
    return ax.figure, ax


def _leg(ax, x, y, direction, label, color="k"):
    """An open leg from the node at (x, y), up (+1) or down (−1), with its index written at the end."""
    end = y + direction * (RADIUS + LEG)
    ax.plot([x, x], [y + direction * RADIUS, end], color=color, lw=2 if color != "k" else 1.2, gid="leg")
    ax.text(x, end + direction * 0.08, label, ha="center", va="bottom" if direction > 0 else "top", fontsize=FONT,
            color=color, gid="leg label")


def _chain(ax, x0, y, core_shapes, matrix, gate_legs=()):
    """Cores of the given shapes as a row of nodes from (x0, y); (r, n, r') for a TT tensor, (r, m, n, r') for a
    TT-matrix.  ``gate_legs``: indices of cores whose column leg carries the gate."""
    from matplotlib.patches import Circle
    for k, shape in enumerate(core_shapes):
        x = x0 + k * SPACING
        ax.add_patch(Circle((x, y), RADIUS, facecolor="white", edgecolor="k", lw=1.2, zorder=3, gid="core"))
        ax.text(x, y, f"$G_{{{k}}}$", ha="center", va="center", fontsize=FONT, zorder=4)
        if k > 0:
            ax.plot([x - SPACING + RADIUS, x - RADIUS], [y, y], color="k", lw=1.2, gid="bond")
            ax.text(x - SPACING / 2, y + 0.06, f"$r_{{{k}}}$ = {shape[0]}", ha="center", va="bottom",
                    fontsize=FONT, gid="bond label")
        down = shape[1]  # a tensor's mode n_k, a matrix's row mode m_k
        if down > 1:
            _leg(ax, x, y, -1, f"${'m' if matrix else 'n'}_{{{k}}}$ = {down}")
        if matrix and shape[2] > 1:
            gate = k in gate_legs
            _leg(ax, x, y, +1, f"$n_{{{k}}}$ = {shape[2]}" + (" (gate)" if gate else ""),
                 GATE_COLOR if gate else "k")


def _finish(ax, x_range, y_range, title):
    """Limits that fit the drawing, equal scales, no axes."""
    ax.set_xlim(*x_range)
    ax.set_ylim(*y_range)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=FONT + 1)


def _reach(matrix):
    """How far a chain's drawing reaches below and above its nodes' centre line (labels included)."""
    below = RADIUS + LEG + 0.5
    return below, (below if matrix else RADIUS + 0.45)


def _draw_one(shapes, matrix, ax, title, gate_legs=()):
    """One chain of cores of the given shapes on ``ax`` (or a new figure of its size); (fig, ax)."""
    below, above = _reach(matrix)
    width = (len(shapes) - 1) * SPACING + 2 * RADIUS + 1.0
    fig, ax = _axes(ax, width, below + above)
    _chain(ax, 0.0, 0.0, shapes, matrix, gate_legs)
    _finish(ax, (-RADIUS - 0.5, width - RADIUS - 0.5), (-below, above), title)
    return fig, ax


def draw_tt(cores, ax=None, title=None):
    """A TT tensor (cores (r_k, n_k, r_{k+1})) as a chain of nodes with rank-labelled bonds and mode legs below.
    Returns (fig, ax)."""
    tt.validate_cores(cores)
    return _draw_one([tuple(G.shape) for G in cores], False, ax, title)


def draw_tt_matrix(cores, ax=None, gate_leg=None, title=None):
    """A TT-matrix (cores (r_k, m_k, n_k, r_{k+1})): row-mode legs m_k below, column-mode legs n_k above, bonds
    labelled with ranks.  ``gate_leg``: a core index (or several) whose column leg is marked as carrying the gate.
    Returns (fig, ax)."""
    ttmatrix.validate(cores)
    gate_legs = () if gate_leg is None else ((gate_leg,) if isinstance(gate_leg, int) else tuple(gate_leg))
    if any(not 0 <= k < len(cores) for k in gate_legs):
        raise ValueError(f"gate_leg must name cores 0 … {len(cores) - 1}, got {gate_leg!r}")
    return _draw_one([tuple(G.shape) for G in cores], True, ax, title, gate_legs)


def _gate_legs(config, n_cores):
    """The cores of one block whose column legs carry the gate index (module docstring)."""
    if config.layout == "joint":
        return tuple(range(config.gate_digits))
    if config.layout == "naive":
        return ()
    return (n_cores - 1,) if config.layout == "lowrank" else (0,)  # dense: its one core; gate core: core 0


def draw_cell(config, params, ax=None, title=None, weights=("W_x", "W_h")):
    """The weights of one cell (``cells.CellConfig`` and its parameters) as tensor networks: one column per weight
    in ``weights``, one chain per TT-matrix block (a naive weight has one per gate, named W[gate]), gate legs in
    red.  Returns (fig, ax)."""
    unknown = [name for name in weights if name not in ("W_x", "W_h")]
    if unknown or not weights:
        raise ValueError(f"weights must be a non-empty selection of ('W_x', 'W_h'), got {weights!r}")
    naive = config.layout == "naive"
    n_cores = max(len(block) for name in weights for block in params[name])
    column = NAME + (n_cores - 1) * SPACING + 2 * RADIUS + 0.4  # the width of one weight's column
    n_rows = max(len(params[name]) for name in weights)
    below, above = _reach(matrix=True)
    fig, ax = _axes(ax, column * len(weights), (n_rows - 1) * ROW + below + above)
    for c, name in enumerate(weights):
        x0 = c * column + NAME + RADIUS
        for i, block in enumerate(params[name]):
            y = -ROW * i
            _chain(ax, x0, y, [tuple(G.shape) for G in block], matrix=True, gate_legs=_gate_legs(config, len(block)))
            label = f"{name}[{config.gate_names[i]}]" if naive else name
            ax.text(x0 - RADIUS - 0.25, y, label, ha="right", va="center", fontsize=FONT + 1, gid="name")
    default = (f"{config.kind.upper()} {config.layout}: I = {config.input_size}, H = {config.hidden_size}"
               + (", one chain per gate" if naive else ", gate legs in red"))
    _finish(ax, (0.0, column * len(weights)), (-(n_rows - 1) * ROW - below, above),
            default if title is None else title)
    return fig, ax
