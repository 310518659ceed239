"""Tensor-network diagrams of live objects: a TT tensor, a TT-matrix, a whole cell's weights (matplotlib).

Index letters: k core, r_k ranks, n_k modes of a TT tensor, m_k / n_k row / column modes of a TT-matrix, G gates.

A diagram draws every core as a node, every inner bond as an edge labelled with its rank r_k, and every open
index as a leg labelled with its mode: a TT tensor's mode n_k hangs below its core; a TT-matrix's row mode m_k
(the input side of y = x W) hangs below and its column mode n_k (the output side) stands above.  Legs of size 1
(the gate core's row mode, the low-rank layout's inner modes) carry no index and are left out, as are the
boundary ranks r_0 = r_d = 1.  In a cell, the column legs that carry the gate index are red: the leading
``cells.gate_digits`` legs of the joint layout, core 0 of the gate-core layout, the single column leg of a dense
or low-rank weight; a naive weight is one chain per gate.

Every artist is tagged with a gid ("core", "bond", "bond label", "leg", "leg label"), so a test (or a reader) can
count what was drawn.  matplotlib is imported inside the functions: it is no dependency of the library.
"""
from . import tt, ttmatrix

__all__ = ["draw_tt", "draw_tt_matrix", "draw_cell"]

SPACING = 1.6  # between neighbouring cores
RADIUS = 0.32  # of a core node
LEG = 0.75  # length of an open leg beyond the node
GATE_COLOR = "tab:red"


def _axes(ax, width, height):
    """``ax`` or a new figure sized to the drawing; (fig, ax)."""
    if ax is None:
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(max(3.0, 1.1 * width), max(1.6, 1.1 * height)))
    return ax.figure, ax


def _leg(ax, x, y, direction, label, color="k"):
    """An open leg from the node at (x, y), up (+1) or down (−1), with its mode written at the end."""
    end = y + direction * (RADIUS + LEG)
    ax.plot([x, x], [y + direction * RADIUS, end], color=color, lw=2 if color != "k" else 1.2, gid="leg")
    ax.text(x, end + direction * 0.12, label, ha="center", va="bottom" if direction > 0 else "top", fontsize=8,
            color=color, gid="leg label")


def _chain(ax, y, core_shapes, matrix, gate_legs=(), name=None):
    """Cores of the given shapes as a row of nodes at height y; (r, n, r') for a TT tensor, (r, m, n, r') for a
    TT-matrix.  ``gate_legs``: indices of cores whose column leg carries the gate."""
    from matplotlib.patches import Circle
    for k, shape in enumerate(core_shapes):
        x = k * SPACING
        ax.add_patch(Circle((x, y), RADIUS, facecolor="white", edgecolor="k", lw=1.2, zorder=3, gid="core"))
        ax.text(x, y, f"G{k}", ha="center", va="center", fontsize=8, zorder=4)
        if k > 0:
            ax.plot([x - SPACING + RADIUS, x - RADIUS], [y, y], color="k", lw=1.2, gid="bond")
            ax.text(x - SPACING / 2, y + 0.08, f"{shape[0]}", ha="center", va="bottom", fontsize=8,
                    gid="bond label")
        if not matrix:
            if shape[1] > 1:
                _leg(ax, x, y, -1, f"{shape[1]}")
            continue
        if shape[1] > 1:
            _leg(ax, x, y, -1, f"{shape[1]}")
        if shape[2] > 1:
            gate = k in gate_legs
            _leg(ax, x, y, +1, f"{shape[2]}" + (" (gate)" if gate else ""), GATE_COLOR if gate else "k")
    if name is not None:
        ax.text(-RADIUS - 0.5, y, name, ha="right", va="center", fontsize=9)


def _finish(ax, n_cores, rows, title, names=False, up_legs=True):
    """Limits that fit the drawing (room on the left for row names, above for column legs), no axes."""
    ax.set_xlim(-RADIUS - (2.6 if names else 0.4), (n_cores - 1) * SPACING + RADIUS + 0.6)
    ax.set_ylim(-(rows - 1) * 3.0 - RADIUS - LEG - 0.6, RADIUS + (LEG + 0.6 if up_legs else 0.5))
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)


def draw_tt(cores, ax=None, title=None):
    """A TT tensor (cores (r_{k-1}, n_k, r_k)) as a chain of nodes with rank-labelled bonds and mode legs below.
    Returns (fig, ax)."""
    tt.validate_cores(cores)
    shapes = [tuple(G.shape) for G in cores]
    fig, ax = _axes(ax, len(shapes) * SPACING, 1.8)
    _chain(ax, 0.0, shapes, matrix=False)
    _finish(ax, len(shapes), 1, title, up_legs=False)
    return fig, ax


def draw_tt_matrix(cores, ax=None, gate_leg=None, title=None):
    """A TT-matrix (cores (r_k, m_k, n_k, r_{k+1})): row-mode legs below, column-mode legs above, bonds labelled
    with ranks.  ``gate_leg``: a core index (or several) whose column leg is marked as carrying the gate.
    Returns (fig, ax)."""
    ttmatrix.validate(cores)
    gate_legs = () if gate_leg is None else ((gate_leg,) if isinstance(gate_leg, int) else tuple(gate_leg))
    if any(not 0 <= k < len(cores) for k in gate_legs):
        raise ValueError(f"gate_leg must name cores 0 … {len(cores) - 1}, got {gate_leg!r}")
    shapes = [tuple(G.shape) for G in cores]
    fig, ax = _axes(ax, len(shapes) * SPACING, 3.2)
    _chain(ax, 0.0, shapes, matrix=True, gate_legs=gate_legs)
    _finish(ax, len(shapes), 1, title)
    return fig, ax


def _gate_legs(config, n_cores):
    """The cores of one block whose column legs carry the gate index (module docstring)."""
    if config.layout == "joint":
        return tuple(range(config.gate_digits))
    if config.layout == "naive":
        return ()
    return (n_cores - 1,) if config.layout == "lowrank" else (0,)  # dense: its one core; gate core: core 0


def draw_cell(config, params, ax=None, title=None):
    """The weights W_x and W_h of one cell (``cells.CellConfig`` and its parameters) as tensor networks, one
    chain per TT-matrix block (a naive weight has one per gate), gate legs in red.  Returns (fig, ax)."""
    rows = [(name, block) for name in ("W_x", "W_h") for block in params[name]]
    n_cores = max(len(block) for _, block in rows)
    fig, ax = _axes(ax, n_cores * SPACING + 3, 3.0 * len(rows))
    naive = config.layout == "naive"
    for i, (name, block) in enumerate(rows):
        label = f"{name}[{config.gate_names[i % config.num_gates]}]" if naive else name
        _chain(ax, -3.0 * i, [tuple(G.shape) for G in block], matrix=True,
               gate_legs=_gate_legs(config, len(block)), name=label)
    _finish(ax, n_cores, len(rows), title if title is not None else
            f"{config.kind.upper()} {config.layout}: I={config.input_size}, H={config.hidden_size}"
            + ("" if config.layout == "naive" else ", gate legs in red"), names=True)
    return fig, ax
