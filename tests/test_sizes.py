"""Parameter counts and FLOPs against every table of docs/method.md §3, §5, §8 and §10, and the initialised ones."""
import warnings

import numpy as np
import pytest
from autograd.misc import flatten

from ttrnn_np import cells, rnn, sizes
from ttrnn_np.heads import HeadConfig

RANKS = (2, 4, 6, 8)

# docs/method.md §5, H = 256, I = 28: joint-code (2 biases) / joint-1b / naive (no bias) / gate-first (2 biases) /
# TT head 256→10 (with its 10 biases), for d = 2, 3, 4 and R = 2, 4, 6, 8.
TABLE_I28 = {
    2: ["4800/3776/5504/4080/234", "7552/6528/11008/8672/458", "10304/9280/16512/15824/682",
        "13056/12032/22016/25536/906"],
    3: ["2944/1920/2432/2720/162", "4480/3456/7424/4224/442", "6656/5632/14976/6560/850",
        "9472/8448/25088/9728/1386"],
    4: ["2552/1528/1280/2424/106", "3632/2608/4096/3344/298", "5288/4264/8448/4808/586",
        "7520/6496/14336/6816/970"],
}
# I = 1: the first four counts.
TABLE_I1 = {
    2: ["4224/3200/4352/3696", "6400/5376/8704/7520", "8576/7552/13056/13520", "10752/9728/17408/21696"],
    3: ["2704/1680/1888/2576", "3936/2912/6080/3840", "5744/4720/12576/5840", "8128/7104/21376/8576"],
    4: ["2408/1384/960/2344", "3248/2224/3200/3120", "4568/3544/6720/4376", "6368/5344/11520/6112"],
}


def _sizes(kind, layout, I, H, d=2, R=2, head=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # I = 1 and misaligned gates warn; counting is unaffected
        return sizes.model_sizes(rnn.ModelConfig(cells.CellConfig(kind, layout, I, H, n_cores=d, rank=R), head=head))


def _lstm_table_cases():
    for I, table in ((28, TABLE_I28), (1, TABLE_I1)):
        for d, row in table.items():
            for R, entry in zip(RANKS, row):
                yield I, d, R, [int(v) for v in entry.split("/")]


@pytest.mark.parametrize("I, d, R, paper", list(_lstm_table_cases()))
def test_lstm_cell_tables(I, d, R, paper):
    joint = _sizes("lstm", "joint", I, 256, d, R)
    naive = _sizes("lstm", "naive", I, 256, d, R)
    gate_first = _sizes("lstm", "joint_gate_core", I, 256, d, R)
    two_biases_minus_one = 4 * 256  # the reference's second 4H bias
    assert joint["total"] == paper[0] - two_biases_minus_one
    assert joint["total"] == paper[1]
    assert naive["total_no_bias"] == paper[2] and naive["total"] == paper[2] + 4 * 256
    assert gate_first["total"] == paper[3] - two_biases_minus_one
    if I == 28:
        tt_head = _sizes("lstm", "joint", I, 256, d, R, head=HeadConfig("classify", 10, "tt"))["parts"]
        assert tt_head["head_W"] + tt_head["head_b"] == paper[4]


@pytest.mark.parametrize("d, paper", [(2, [6176, 8928, 11680]), (3, [3632, 5488, 7984]), (4, [3020, 4388, 6332])])
def test_lstm_joint_code_odd_ranks(d, paper):
    assert [_sizes("lstm", "joint", 28, 256, d, R)["total"] + 4 * 256 for R in (3, 5, 7)] == paper


@pytest.mark.parametrize("d, paper", [(2, [3968, 5184, 6400, 7616, 8832, 10048, 11264]),
                                      (3, [2312, 2940, 3728, 4676, 5784, 7052, 8480]),
                                      (4, [1992, 2400, 2928, 3576, 4344, 5232, 6240])])
def test_gru_joint_code_is_ours_plus_the_second_3H_bias(d, paper):
    assert [_sizes("gru", "joint", 28, 256, d, R)["total"] + 3 * 256 for R in range(2, 9)] == paper


def test_dense_cells_and_weights_only_counts():
    assert _sizes("lstm", "dense", 28, 256)["total"] == 291_840
    assert _sizes("lstm", "dense", 1, 256)["total"] == 264_192
    assert _sizes("gru", "dense", 28, 256)["total"] == 219_648 - 3 * 256  # the paper's dense GRU has b_ih and b_hh
    assert _sizes("lstm", "dense", 28, 256)["total_no_bias"] == 290_816
    assert _sizes("lstm", "joint", 28, 256, 3, 4)["total_no_bias"] == 2_432
    assert _sizes("lstm", "naive", 28, 256, 3, 4)["total_no_bias"] == 7_424
    assert _sizes("lstm", "dense", 28, 256, head=HeadConfig("classify", 10))["parts"]["head_W"] == 2_560


@pytest.mark.parametrize("d, paper", [(2, [8176, 13024, 17872, 22720]), (3, [4104, 5392, 7192, 9504]),
                                      (4, [3668, 4312, 5260, 6512])])
def test_speaker_verification_models(d, paper):
    """docs/method.md §8: one bias, TT head 768→256 with the cell's d and R (the reference adds 3,072)."""
    counts = [_sizes("lstm", "joint", 40, 768, d, R, HeadConfig("embed", 256, "tt")) for R in (1, 2, 3, 4)]
    assert [c["total"] for c in counts] == paper
    assert all(c["dense_total"] == 2_682_112 for c in counts)
    dense = _sizes("lstm", "dense", 40, 768, head=HeadConfig("embed", 256))
    assert dense["total"] == 2_682_112 and dense["compression"] == 1.0
    compression = {8176: 328, 3668: 731, 6512: 412}
    for c in counts:
        if c["total"] in compression:
            assert round(c["compression"]) == compression[c["total"]]


@pytest.mark.parametrize("d, paper", [(2, [2464, 3904, 6784, 9664, 12544, 15424]),
                                      (3, [1376, 1920, 3584, 6016, 9216, 13184]),
                                      (4, [1192, 1504, 2560, 4192, 6400, 9184])])
def test_mnist_figure_x_values_assume_input_40(d, paper):
    """docs/method.md §10, caveat 1: the row-MNIST figure counts cells with I = 40, one bias and no head."""
    assert [_sizes("lstm", "joint", 40, 256, d, R)["total"] for R in (1, 2, 4, 6, 8, 10)] == paper
    assert _sizes("lstm", "joint", 28, 256, 2, 2)["total"] != paper[1]


@pytest.mark.parametrize("I, H, paper", [
    (28, 256, [581_632, 118_272, 473_088, 79_616, 760_832, 101_248, 1_265_152]),
    (1, 256, [526_336, 102_528, 410_112, 70_720, 688_384, 96_800, 1_204_352]),
    (40, 768, [4_964_352, 563_200, 2_252_800, 322_048, 3_057_664, 234_752, 2_561_024]),
])
def test_flops_per_step_right_to_left(I, H, paper):
    ours = [_sizes("lstm", "dense", I, H)["flops_per_step"]["dense"]]
    ours += [_sizes("lstm", "joint", I, H, d, R)["flops_per_step"]["rtl"] for d, R in
             [(2, 2), (2, 8), (3, 2), (3, 8), (4, 2), (4, 8)]]
    assert ours == paper


def test_flops_left_to_right_and_best_order():
    flops = _sizes("lstm", "joint", 28, 256, 4, 8)["flops_per_step"]
    assert flops["ltr"] == 878_336 and flops["rtl"] == 1_265_152
    assert flops["best"] <= min(flops["ltr"], flops["rtl"]) and flops["dense"] == 581_632


@pytest.mark.parametrize("layout", cells.LAYOUTS)
@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("head_layout", ["dense", "tt"])
def test_counts_equal_the_initialised_parameters(kind, layout, head_layout):
    config = rnn.ModelConfig(cells.CellConfig(kind, layout, 12, 18, n_cores=2, rank=3), num_layers=2,
                             head=HeadConfig("classify", 6, head_layout))
    params = rnn.init_model(config, np.random.default_rng(0))
    s = sizes.model_sizes(config)
    assert s["total"] == flatten(params)[0].size
    assert s["parts"]["head_W"] == flatten(params["head"]["W"])[0].size
    assert s["parts"]["bias"] == sum(p["b"].size for p in params["layers"])
    assert s["total_no_bias"] == s["total"] - s["parts"]["bias"] - s["parts"]["head_b"]
    GH = 18 * (4 if kind == "lstm" else 3)
    assert s["dense_total"] == (12 + 18) * GH + (18 + 18) * GH + 2 * GH + 18 * 6 + 6


@pytest.mark.parametrize("kind, G", [("lstm", 4), ("gru", 3)])
@pytest.mark.parametrize("I, H, r", [(28, 256, 1), (28, 256, 8), (1, 64, 3), (13, 7, 5)])
def test_lowrank_counts(kind, G, I, H, r):
    """R(I + G·H) + R(H + G·H) + G·H; FLOPs per step 2R(I + G·H) + 2R(H + G·H) in the cheaper (left-to-right) order."""
    s = _sizes(kind, "lowrank", I, H, R=r)
    assert s["total"] == r * (I + G * H) + r * (H + G * H) + G * H
    assert s["parts"]["W_x"] == r * (I + G * H) and s["parts"]["W_h"] == r * (H + G * H)
    assert s["flops_per_step"]["best"] == 2 * r * (I + G * H) + 2 * r * (H + G * H)


def test_requested_and_effective_ranks():
    s = _sizes("lstm", "joint", 28, 256, 4, 8, HeadConfig("classify", 10, "tt"))
    assert s["ranks"]["layer 0 W_x"] == {"requested": (1, 8, 8, 8, 1), "effective": (1, 4, 8, 8, 1)}
    assert s["ranks"]["layer 0 W_h"]["effective"] == (1, 8, 8, 8, 1)
    assert s["ranks"]["head W"]["effective"] == (1, 4, 8, 8, 1)  # (4,4,4,4)→(1,1,2,5): first bond 4·1
    assert "layer 0 W_x" not in _sizes("lstm", "dense", 28, 256)["ranks"]


def test_size_story_tells_the_numbers():
    config = rnn.ModelConfig(cells.CellConfig("lstm", "joint", 40, 768, n_cores=2, rank=2),
                             head=HeadConfig("embed", 256, "tt"))
    story = sizes.size_story(config)
    for text in ("LSTM, joint TT, d = 2 cores, rank 2, 1 layer,", "(5,8)→(48,64), ranks 1-2-1: 1,504",
                 "(24,32)→(48,64), ranks 1-2-1: 6,400", "bias: 3,072",
                 "head W: (24,32)→(16,16), ranks 1-2-1: 1,792",
                 "total 13,024 parameters", "dense equivalent 2,682,112 → 205.9× compression",
                 "aligned, the leading column mode n_0 = 48 separates the 4"):
        assert text in story
    with pytest.warns(cells.GateAlignmentWarning):
        misaligned = cells.CellConfig("lstm", "joint", 40, 768, n_cores=4, rank=8)
    assert "misaligned, 4 ∤ n_0 = 6, the gate index spans the leading 2 column modes" in sizes.size_story(misaligned)
    over_ranked = cells.CellConfig("lstm", "joint", 28, 256, n_cores=4, rank=8)
    assert "(1,2,2,7)→(4,4,8,8), ranks 1-8-8-8-1 (useful 1-4-8-8-1)" in sizes.size_story(over_ranked)
    gate = cells.CellConfig("gru", "joint_gate_core", 28, 256, n_cores=3, rank=2)
    assert "d = 3 cores + gate core" in sizes.size_story(gate)
    lowrank = sizes.size_story(cells.CellConfig("lstm", "lowrank", 28, 256, n_cores=3, rank=8))
    assert "LSTM, low-rank W = U V, rank 8, 1 layer" in lowrank and "d = " not in lowrank
    assert "(28,1)→(1,1024), ranks 1-8-1: 8,416" in lowrank


def test_model_sizes_rejects_other_objects():
    with pytest.raises(TypeError, match="expected a ModelConfig or CellConfig, got dict"):
        sizes.model_sizes({})


# ---------------------------------------------------------------- equal budgets

def _initialised_total(candidate):
    """The parameter count of a budget candidate's model, counted on initialised arrays."""
    cell = cells.CellConfig(candidate["kind"], candidate["layout"], candidate["input_size"], candidate["hidden_size"],
                            n_cores=candidate["cores"] or 2, rank=candidate["rank"] or 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params = rnn.init_model(rnn.ModelConfig(cell, head=HeadConfig("classify", 10, candidate["head"])),
                                np.random.default_rng(0))
    return flatten(params)[0].size


@pytest.mark.parametrize("budget, I, kind, H", [(1500, 28, "lstm", 9), (4000, 28, "lstm", 19),
                                                (10000, 28, "lstm", 36), (30000, 28, "lstm", 72),
                                                (4000, 1, "gru", 33)])
def test_dense_hidden_for_budget_is_the_largest_that_fits(budget, I, kind, H):
    assert sizes.dense_hidden_for_budget(budget, I, kind) == H
    G = 4 if kind == "lstm" else 3
    total = lambda h: G * h * (I + h + 1) + 10 * (h + 1)  # noqa: E731
    assert total(H) <= budget < total(H + 1)
    (candidate,) = sizes.configs_for_budget("dense", budget, I, kind)
    assert candidate["hidden_size"] == H and candidate["params"] == total(H) == _initialised_total(candidate)


def test_dense_budget_below_the_smallest_model_raises():
    with pytest.raises(ValueError, match="budget of 100 parameters is below the smallest dense LSTM .*H = 1: 140 parameters"):
        sizes.dense_hidden_for_budget(100, 28)


@pytest.mark.parametrize("family", ["lowrank", "joint", "naive", "joint_gate_core"])
@pytest.mark.parametrize("budget", [1500, 4000])
def test_configs_for_budget_fit_and_are_the_largest_rank(family, budget):
    found = sizes.configs_for_budget(family, budget, hidden_sizes=(16, 64), tolerance=0.5)
    assert found, f"no {family} candidate near {budget}"
    for c in found:
        assert 0.5 * budget <= c["params"] <= budget
        assert c["params"] == _initialised_total(c)
        # one rank more: over the budget, or some bond past its useful rank
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cell = cells.CellConfig("lstm", family, 28, c["hidden_size"], n_cores=c["cores"] or 2, rank=c["rank"] + 1)
            bigger = sizes.model_sizes(rnn.ModelConfig(cell, head=HeadConfig("classify", 10, "dense")))
        over_ranked = any(r["requested"] != r["effective"] for r in bigger["ranks"].values())
        assert bigger["total"] > budget or over_ranked
    assert all(c["cores"] is None for c in found) == (family == "lowrank")


def test_configs_for_budget_rejects_what_it_cannot_build():
    with pytest.raises(ValueError, match="family must be one of"):
        sizes.configs_for_budget("kronecker", 4000)
    with pytest.raises(ValueError, match="which the dense family does not set"):
        sizes.configs_for_budget("dense", 4000, head="tt")
    with pytest.raises(ValueError, match=r"tolerance must lie in \[0, 1\)"):
        sizes.configs_for_budget("joint", 4000, tolerance=1.5)


def test_joint_rank_one_is_a_kronecker_product():
    """Why the Kronecker family is the joint family at R = 1 (sizes module docstring)."""
    cell = cells.CellConfig("lstm", "joint", 12, 16, n_cores=3, rank=1)
    (cores,) = cells.init_cell(cell, np.random.default_rng(3))["W_h"]
    kron = cores[0][0, :, :, 0]
    for G in cores[1:]:
        kron = np.kron(kron, G[0, :, :, 0])  # (∏ m_k, ∏ n_k)
    np.testing.assert_allclose(cells.dense_weights({"W_x": [cores], "W_h": [cores]})[1], kron, rtol=1e-13)
