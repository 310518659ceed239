"""The cost model reproduces the FLOP table of docs/method.md §3 and agrees with the parameter count of real cores."""
import warnings

import numpy as np
import pytest

from ttrnn_np import cost, init
from ttrnn_np.pytree import num_params
from ttrnn_np.shapes import ShapeWarning, auto_shape

# docs/method.md §3: FLOPs/sample/step of both LSTM products (I→4H and H→4H), right-to-left
PAPER_FLOPS = {
    (28, 256): (581632, [118272, 473088, 79616, 760832, 101248, 1265152]),
    (1, 256): (526336, [102528, 410112, 70720, 688384, 96800, 1204352]),
    (40, 768): (4964352, [563200, 2252800, 322048, 3057664, 234752, 2561024]),
}
GRID = [(2, 2), (2, 8), (3, 2), (3, 8), (4, 2), (4, 8)]


@pytest.mark.parametrize("I, H", sorted(PAPER_FLOPS))
def test_lstm_flop_table(I, H):
    dense, tt_row = PAPER_FLOPS[(I, H)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShapeWarning)
        got = []
        for d, R in GRID:
            fx = cost.matmul_flops(auto_shape(I, d), auto_shape(4 * H, d), R)
            fh = cost.matmul_flops(auto_shape(H, d), auto_shape(4 * H, d), R)
            got.append(fx["rtl"] + fh["rtl"])
            assert fx["dense"] + fh["dense"] == dense
    assert got == tt_row


def test_cheaper_order_example_from_the_paper():
    # I=28, H=256, d=4, R=8: left-to-right 878,336 vs right-to-left 1,265,152 FLOPs for both products
    fx = cost.matmul_flops((1, 2, 2, 7), (4, 4, 8, 8), 8)
    fh = cost.matmul_flops((4, 4, 4, 4), (4, 4, 8, 8), 8)
    assert (fx["ltr"] + fh["ltr"], fx["rtl"] + fh["rtl"]) == (878336, 1265152)
    # choosing the order per product does better than either order for both: rtl for W_x, ltr for W_h
    assert (fx["best"], fh["best"]) == (fx["rtl"], fh["ltr"]) and fx["best"] + fh["best"] == 593408


def test_tt_vector_costs_more_than_dense():
    # docs/method.md §9: 1 → 1024 at d=3, R=2: 5,184 (right-to-left) vs 2,048 FLOPs/sample; left-to-right 4,640
    flops = cost.matmul_flops((1, 1, 1), (8, 8, 16), 2)
    assert (flops["rtl"], flops["ltr"], flops["dense"]) == (5184, 4640, 2048)


@pytest.mark.parametrize("m, n, rank", [((4, 7), (32, 32), 3), ((2, 3, 4), (4, 3, 2), [3, 5]), ((5,), (3,), 1)])
def test_num_params_match_real_cores(m, n, rank):
    cores = init.glorot(m, n, rank, np.random.default_rng(0))
    assert cost.num_params(m, n, rank) == num_params(cores)


def test_break_even_rank():
    m, n = (4, 4, 4, 4), (4, 4, 8, 8)
    R = cost.break_even_rank(m, n)
    assert cost.matmul_flops(m, n, R)["best"] >= cost.matmul_flops(m, n, R)["dense"]
    assert cost.matmul_flops(m, n, R - 1)["best"] < cost.matmul_flops(m, n, R - 1)["dense"]
    assert cost.break_even_rank((5,), (3,)) is None
