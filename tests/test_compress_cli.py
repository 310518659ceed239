"""``ttrnn compress`` end to end on a tiny run of the shipped mini subset."""
import io
import json

import numpy as np
import pytest
from autograd.misc import flatten

from ttrnn_np import cli, compress
from ttrnn_np.checkpoint import load_checkpoint
from ttrnn_np.experiments.runfolder import checkpoint_dir
from ttrnn_np.experiments import mnist

# H = 8 at d = 3 gives joint column modes (2, 4, 4), whose leading mode does not separate the gates: irrelevant here
pytestmark = pytest.mark.filterwarnings("ignore::ttrnn_np.cells.GateAlignmentWarning")
TINY = dict(data="mini", hidden_size=8, train_subset=256, val_subset=200, batch_size=64, epochs=1, dtype="float64")


@pytest.fixture(scope="module")
def dense_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "dense"
    mnist.run_experiment(mnist.MnistConfig(layout="dense", **TINY), out=out, progress=False, stream=io.StringIO())
    return out


def test_compress_end_to_end(dense_run, tmp_path, capsys):
    out = tmp_path / "joint"
    assert cli.main(["compress", str(dense_run), "--cores", "2", "--rank", "3", "--finetune-epochs", "1",
                     "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "relative error ‖W − W_TT‖/‖W‖" in text and "fine-tuned, 1 epoch" in text
    results = json.loads((out / "results.json").read_text())
    assert results["experiment"] == "mnist_compress" and results["compression"]["rank"] == 3
    assert [m["matrix"] for m in results["compression"]["matrices"]] == ["W_x", "W_h"]
    assert all(0 < m["rel_error"] < 1 for m in results["compression"]["matrices"])
    # the compressed model has the parameters of a joint run of the same d and R with the same (dense) head
    joint = mnist.MnistConfig(layout="joint", cores=2, rank=3, head="dense", **TINY)
    assert results["config"]["layout"] == "joint" and results["params"] == \
        mnist.model_sizes(mnist.build_model(joint))["total"]
    # the stored compressed parameters are compress_model's, and give the reported validation accuracy
    source = mnist.MnistConfig.from_dict(json.loads((dense_run / "results.json").read_text())["config"])
    params = load_checkpoint(checkpoint_dir(dense_run) / "best")[0]
    model, expected, _ = compress.compress_model(mnist.build_model(source), params, 2, rank=3)
    stored = load_checkpoint(checkpoint_dir(out) / "compressed")[0]
    np.testing.assert_array_equal(flatten(stored)[0], flatten(expected)[0])
    splits = mnist.prepare_data(source)
    val = mnist.evaluate_split(model, stored, splits.val, source)
    assert val["accuracy"] == results["compressed"]["val"]["accuracy"]
    tuned = results["finetuned"]
    assert tuned["best_epoch"] == 0 and len(tuned["history"]["epochs"]) == 1
    assert tuned["val"]["accuracy"] == load_checkpoint(checkpoint_dir(out) / "best")[2]["metrics"]["val_accuracy"]
    assert (checkpoint_dir(out) / "last.json").exists()


def test_eps_alone_chooses_the_rank_and_nothing_is_written_without_out(dense_run, capsys):
    assert cli.main(["compress", str(dense_run), "--cores", "3", "--eps", "0.4", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    errors = [m["rel_error"] for m in results["compression"]["matrices"]]
    assert max(errors) <= 0.4 and results["finetuned"] is None and results["out"] is None
    assert results["config"]["rank"] == max(max(m["tt_ranks"]) for m in results["compression"]["matrices"])


def test_clear_errors(dense_run, tmp_path, capsys):
    assert cli.main(["compress", str(tmp_path), "--cores", "2", "--rank", "2"]) == 3  # input missing
    assert "results.json not found: RUN must be the --out folder of a finished `ttrnn mnist` run" in \
        capsys.readouterr().err
    assert cli.main(["compress", str(dense_run), "--cores", "2"]) == 2
    assert "give the rank R, the relative error eps, or both" in capsys.readouterr().err
    tt_head = tmp_path / "tt_head"
    mnist.run_experiment(mnist.MnistConfig(layout="joint", **TINY), out=tt_head, progress=False, stream=io.StringIO())
    assert cli.main(["compress", str(tt_head), "--cores", "3", "--rank", "2"]) == 2
    assert "has a 'tt' head" in capsys.readouterr().err
    done = tmp_path / "done"
    assert cli.main(["compress", str(dense_run), "--cores", "2", "--rank", "2", "--out", str(done)]) == 0
    assert cli.main(["compress", str(dense_run), "--cores", "2", "--rank", "2", "--out", str(done)]) == 2
    assert "already holds results" in capsys.readouterr().err
