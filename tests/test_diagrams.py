"""Tensor-network diagrams: one node per core, one rank-labelled edge per bond, one leg per mode > 1, gate legs red."""
import warnings

import numpy as np
import pytest

from ttrnn_np import cells, diagrams, init, tt

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402


def _drawn(ax):
    """{gid: [artists]} of the patches, lines and texts on ``ax``."""
    found = {}
    for artist in list(ax.patches) + list(ax.lines) + list(ax.texts):
        found.setdefault(artist.get_gid(), []).append(artist)
    return found


def _red_legs(drawn):
    return [line for line in drawn.get("leg", []) if to_rgba(line.get_color()) == to_rgba(diagrams.GATE_COLOR)]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_tt_tensor_diagram():
    cores = tt.tt_svd(np.random.default_rng(0).standard_normal((4, 1, 6, 3)))  # ranks (1, 4, 4, 3, 1)
    fig, ax = diagrams.draw_tt(cores)
    drawn = _drawn(ax)
    assert len(drawn["core"]) == 4 and len(drawn["bond"]) == 3
    assert [t.get_text() for t in drawn["bond label"]] == ["$r_{1}$ = 4", "$r_{2}$ = 4", "$r_{3}$ = 3"]
    assert [t.get_text() for t in drawn["leg label"]] == ["$n_{0}$ = 4", "$n_{2}$ = 6", "$n_{3}$ = 3"]  # no leg of 1
    assert fig is ax.figure
    _assert_no_text_overlaps(ax)


def test_tt_matrix_diagram_with_a_gate_leg():
    cores = init.glorot((4, 8, 8), (8, 8, 16), (1, 3, 4, 1), np.random.default_rng(1))
    fig, ax = plt.subplots()
    assert diagrams.draw_tt_matrix(cores, ax=ax, gate_leg=0) == (fig, ax)
    drawn = _drawn(ax)
    assert len(drawn["core"]) == 3 and len(drawn["bond"]) == 2
    assert [t.get_text() for t in drawn["bond label"]] == ["$r_{1}$ = 3", "$r_{2}$ = 4"]
    assert len(drawn["leg"]) == 6 and len(_red_legs(drawn)) == 1
    assert sorted(t.get_text() for t in drawn["leg label"]) == ["$m_{0}$ = 4", "$m_{1}$ = 8", "$m_{2}$ = 8",
                                                               "$n_{0}$ = 8 (gate)", "$n_{1}$ = 8", "$n_{2}$ = 16"]
    _assert_no_text_overlaps(ax)
    with pytest.raises(ValueError, match=r"gate_leg must name cores 0 … 2, got 3"):
        diagrams.draw_tt_matrix(cores, gate_leg=3)


@pytest.mark.parametrize("layout, chains, nodes, bonds, legs, red", [
    ("joint", 2, 6, 4, 12, 2),             # a(28) = (2, 2, 7), a(256) = (4, 8, 8), a(1024) = (8, 8, 16)
    ("joint_gate_core", 2, 8, 6, 14, 2),   # core 0 (1, 1, 4, R): its row leg has size 1
    ("naive", 8, 24, 16, 48, 0),           # one chain per gate and weight, the gate is the chain itself
    ("lowrank", 2, 4, 2, 4, 2),            # U (1, M, 1, R), V (R, 1, 1024, 1)
    ("dense", 2, 2, 0, 4, 2),
])
def test_cell_diagram(layout, chains, nodes, bonds, legs, red):
    config = cells.CellConfig("lstm", layout, 28, 256, n_cores=3, rank=4)
    params = cells.init_cell(config, np.random.default_rng(2))
    _, ax = diagrams.draw_cell(config, params)
    drawn = _drawn(ax)
    assert len(drawn["core"]) == nodes and len(drawn.get("bond", [])) == bonds
    assert all(t.get_text().endswith("$ = 4") for t in drawn.get("bond label", []))
    assert len(drawn["leg"]) == legs and len(_red_legs(drawn)) == red
    assert len(drawn["name"]) == chains
    _assert_no_text_overlaps(ax)


def _assert_no_text_overlaps(ax):
    """No two labels of a drawing share a pixel once rendered."""
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    texts = [t for t in ax.texts if t.get_text()]
    boxes = [t.get_window_extent(renderer) for t in texts]
    clashes = [(a.get_text(), b.get_text()) for i, (a, box_a) in enumerate(zip(texts, boxes))
               for b, box_b in zip(texts[i + 1:], boxes[i + 1:]) if box_a.overlaps(box_b)]
    assert not clashes, f"expected no overlapping labels, got {clashes}"


def test_cell_diagram_of_chosen_weights():
    config = cells.CellConfig("lstm", "naive", 28, 256, n_cores=3, rank=4)
    params = cells.init_cell(config, np.random.default_rng(4))
    _, ax = diagrams.draw_cell(config, params, weights=("W_h",))
    drawn = _drawn(ax)
    assert [t.get_text() for t in drawn["name"]] == ["W_h[i]", "W_h[f]", "W_h[g]", "W_h[o]"]
    assert len(drawn["core"]) == 12
    assert sorted({t.get_text() for t in drawn["leg label"] if t.get_text().startswith("$m")}) == [
        "$m_{0}$ = 4", "$m_{1}$ = 8", "$m_{2}$ = 8"]  # a(256): the rows of W_h, not of W_x
    with pytest.raises(ValueError, match=r"weights must be a non-empty selection of \('W_x', 'W_h'\), got \('W_y',\)"):
        diagrams.draw_cell(config, params, weights=("W_y",))


def test_misaligned_joint_cell_marks_every_gate_digit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cells.GateAlignmentWarning)
        config = cells.CellConfig("lstm", "joint", 40, 768, n_cores=4, rank=2)  # (6, 8, 8, 8): gate in 2 digits
    _, ax = diagrams.draw_cell(config, cells.init_cell(config, np.random.default_rng(3)))
    assert len(_red_legs(_drawn(ax))) == 2 * config.gate_digits == 4
