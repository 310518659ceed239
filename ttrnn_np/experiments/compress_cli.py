"""``ttrnn compress``: a trained MNIST run's cell turned into a joint TT cell by TT-SVD, evaluated, fine-tuned,
evaluated again.

Index letters: d cores, R rank, k fine-tuning epochs.

Steps (``compress_run``): read the run folder (its results.json and best checkpoint, the validation-selected
parameters); check the loaded parameters reproduce the run's best validation accuracy; compress every cell with
``compress.compress_model`` (d cores, rank R and/or relative error eps; the head is kept); evaluate the compressed
model on validation and test; fine-tune it k epochs with the run's recipe (optimizer, lr or ``--lr``, schedule,
clip, batch size, seed; the same data split), keep the best validation epoch and test it once.  The source run's
own test accuracy is quoted from its results, not measured again.

The compressed cores keep the ranks TT-SVD chose (``compress``), so the parameter count reported is that of the
arrays.  Written to ``--out``: results.json and, in ``checkpoints/``, the checkpoint ``compressed`` (the parameters right after TT-SVD) and, with
k ≥ 1, the fine-tuning's ``best`` and ``last``.  Only runs with a dense head are compressed: a TT head takes its
d and R from the cell, which compression changes.
"""
import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path

from ..checkpoint import jsonable, save_checkpoint
from ..compress import compress_model
from ..data.mnist import as_sequences
from ..losses import softmax_cross_entropy
from ..pytree import num_params
from ..rnn import forward, truncated_bptt
from ..sizes import model_sizes, size_story
from ..training import fit, minibatches
from .mnist import _schedule, build_model, evaluate_split, prepare_data
from .report import format_table
from .runfolder import RESULTS_FILE, checkpoint_dir, read_json, write_json
from .runs import load_run
from .runtime import machine_info

__all__ = ["EPILOG", "add_arguments", "compress_run", "run"]

EPILOG = """\
examples:
  ttrnn compress runs/dense --cores 3 --rank 4 --out runs/dense_d3_R4
      TT-SVD of the dense LSTM's W_x and W_h into a joint TT-LSTM with 3 cores, rank 4; errors and accuracies
  ttrnn compress runs/dense --cores 3 --eps 0.5 --finetune-epochs 3 --lr 2e-4 --out runs/dense_eps05
      the smallest ranks with ‖W − W_TT‖ ≤ 0.5‖W‖ per matrix, then 3 epochs of fine-tuning at lr 2e-4

RUN is the folder of a finished `ttrnn mnist ... --out RUN` (results.json + the best checkpoint).  The data split
is the run's own (same seed and subsets); the head is kept as trained.
"""


def _load_run(run_dir):
    """(MnistConfig, validation-selected params, stored results) of a finished ``ttrnn mnist`` run folder."""
    results_path = Path(run_dir) / RESULTS_FILE
    if not results_path.is_file():
        raise FileNotFoundError(f"{results_path} not found: RUN must be the --out folder of a finished "
                                "`ttrnn mnist` run (results.json and the best checkpoint)")
    config, _, params = load_run(run_dir)
    stored = read_json(results_path)
    if stored.get("experiment") != "mnist":
        raise ValueError(f"{results_path} holds a {stored.get('experiment')!r} run, expected an 'mnist' run")
    return config, params, stored


def _evaluate(model, params, splits, config, test):
    """{"val": {loss, accuracy}[, "test": …]} of ``params``."""
    out = {"val": evaluate_split(model, params, splits.val, config)}
    if test:
        out["test"] = evaluate_split(model, params, splits.test, config)
    return out


def _finetune(config, model, params, splits, out, stream):
    """``config.epochs`` epochs of the run's recipe from ``params``; (history, best params, best epoch).

    ``config`` is the compressed run's: the source's recipe with the fine-tuning's epochs (the source's epochs
    when there is no fine-tuning) and lr."""
    steps = -(-len(splits.train) // config.batch_size)
    lr, lr_unit = _schedule(config, steps)

    def loss_fn(p, batch):
        images, y = batch  # (B, 28, 28) uint8, (B,)
        X = as_sequences(images, config.view, seed=config.perm_seed, dtype=config.dtype)  # (B, T, F)
        logits = (forward(model, p, X) if config.tbptt is None
                  else truncated_bptt(model, p, X, config.tbptt))  # (B, K)
        return softmax_cross_entropy(logits, y)

    def evaluate(p):
        val = evaluate_split(model, p, splits.val, config)
        print(f"  fine-tuning: validation accuracy {100 * val['accuracy']:.2f} % (loss {val['loss']:.4f})",
              file=stream)
        return {"val_accuracy": val["accuracy"], "val_loss": val["loss"]}

    result = fit(loss_fn, params, lambda epoch, rng: minibatches(splits.train.images, splits.train.labels,
                                                                 config.batch_size, rng),
                 epochs=config.epochs, optimizer="adam", lr=lr, lr_unit=lr_unit, clip=config.clip,
                 evaluate=evaluate, select_metric="val_accuracy", mode="max", checkpoint_dir=None if out is None else checkpoint_dir(out),
                 seed=config.seed, config=jsonable(dataclasses.asdict(config)), progress=False)
    return result.history, result.best_params, result.best_epoch


def _accuracy_line(label, metrics):
    test = f", test {100 * metrics['test']['accuracy']:.2f} %" if "test" in metrics else ""
    return f"{label}: validation {100 * metrics['val']['accuracy']:.2f} %{test}"


def compress_run(run_dir, n_cores, rank=None, eps=None, finetune_epochs=0, lr=None, out=None, data_dir=None,
                 stream=None, command=None):
    """Compress the run in ``run_dir`` (module docstring); write ``out``/results.json if ``out``; return the results."""
    stream = stream or sys.stdout
    wall_start = time.perf_counter()
    if not (isinstance(finetune_epochs, int) and finetune_epochs >= 0):
        raise ValueError(f"finetune_epochs must be an integer >= 0, got {finetune_epochs!r}")
    if out is not None:
        if (Path(out) / RESULTS_FILE).exists():
            raise ValueError(f"{out} already holds results ({RESULTS_FILE}); choose another --out")
        Path(out).mkdir(parents=True, exist_ok=True)
    source, params, stored = _load_run(run_dir)
    if source.head != "dense":
        raise ValueError(f"{run_dir} has a {source.head!r} head, which takes its d and R from the cell; "
                         "compress supports runs with a dense head")
    model, splits = build_model(source), prepare_data(source, data_dir)
    print(f"source: {run_dir}: {size_story(model).splitlines()[0]}", file=stream)
    loaded = evaluate_split(model, params, splits.val, source)
    stored_val = None if stored.get("best") is None else stored["best"]["val_accuracy"]
    if stored_val is not None and abs(loaded["accuracy"] - stored_val) > 1e-9:
        raise ValueError(f"the loaded parameters give validation accuracy {loaded['accuracy']:.6f}, the run "
                         f"stored {stored_val:.6f}: the data or the checkpoint is not the run's")
    print(f"  as trained: validation {100 * loaded['accuracy']:.2f} %"
          + ("" if stored.get("test") is None else f", test {100 * stored['test']['accuracy']:.2f} % (stored)"),
          file=stream)

    joint, joint_params, report = compress_model(model, params, n_cores, rank, eps)
    config = dataclasses.replace(source, layout="joint", cores=n_cores, rank=joint.cell.rank,  # the fine-tuning's
                                 epochs=finetune_epochs or source.epochs, lr=source.lr if lr is None else lr)
    if build_model(config) != joint:
        raise AssertionError(f"the compressed model {joint} is not the run config's {build_model(config)}")
    total = num_params(joint_params)
    print(f"compressed: {size_story(joint).splitlines()[0]}", file=stream)
    for row in report:
        print(f"  layer {row['layer']} {row['matrix']}: TT ranks {'-'.join(map(str, row['tt_ranks']))}, "
              f"{row['params']:,} parameters (dense {row['params_dense']:,}), relative error ‖W − W_TT‖/‖W‖ = "
              f"{row['rel_error']:.4f}", file=stream)
    print(f"  total {total:,} parameters (as trained {model_sizes(model)['total']:,})", file=stream)
    if out is not None:
        save_checkpoint(checkpoint_dir(out) / "compressed", joint_params,
                        meta={"config": jsonable(dataclasses.asdict(config)), "source": str(run_dir)})
    compressed = _evaluate(joint, joint_params, splits, config, test=True)
    print(_accuracy_line("  compressed", compressed), file=stream)

    finetuned = None
    if finetune_epochs > 0:
        history, best_params, best_epoch = _finetune(config, joint, joint_params, splits, out, stream)
        best = next(e for e in history["epochs"] if e["epoch"] == best_epoch)
        finetuned = {"epochs": finetune_epochs, "lr": config.lr, "best_epoch": best_epoch,
                     "val": {"accuracy": best["val_accuracy"], "loss": best["val_loss"]},
                     "test": evaluate_split(joint, best_params, splits.test, config),  # the fine-tuned model's one test
                     "history": history}
        print(_accuracy_line(f"  fine-tuned ({finetune_epochs} epochs, best epoch {best_epoch + 1})", finetuned),
              file=stream)

    results = {"experiment": "mnist_compress", "name": f"{source.name}_to_joint_d{n_cores}_R{joint.cell.rank}",
               "source": {"run": str(run_dir), "name": stored.get("name"), "config": stored["config"],
                          "params": model_sizes(model)["total"], "best": stored.get("best"),
                          "test": stored.get("test")},
               "compression": {"cores": n_cores, "rank": rank, "eps": eps, "matrices": report},
               "config": jsonable(dataclasses.asdict(config)), "model": size_story(joint).splitlines()[0],
               "params": total, "compressed": compressed, "finetuned": finetuned,
               "data": {"source": splits.source, "view": source.view, "n_train": len(splits.train),
                        "n_val": len(splits.val), "n_test": len(splits.test)},
               "wall_time_s": time.perf_counter() - wall_start, "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
               "out": None if out is None else str(out), "command": command, "machine": machine_info()}
    if out is not None:
        write_json(Path(out) / RESULTS_FILE, results)  # atomically
    return results


def add_arguments(parser):
    """Options of ``ttrnn compress``."""
    parser.add_argument("run", metavar="RUN", help="folder of a finished `ttrnn mnist --out RUN` run")
    parser.add_argument("--cores", "-d", type=int, required=True, help="TT cores d of the joint layout")
    parser.add_argument("--rank", "-R", type=int, default=None, help="cap every TT rank at R")
    parser.add_argument("--eps", type=float, default=None,
                        help="relative error per matrix: the smallest ranks with ‖W − W_TT‖_F ≤ eps ‖W‖_F "
                             "(with --rank too: capped at R)")
    parser.add_argument("--finetune-epochs", type=int, default=0, metavar="K",
                        help="fine-tune the compressed model K epochs with the run's recipe (default 0)")
    parser.add_argument("--lr", type=float, default=None, help="fine-tuning learning rate (default: the run's)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="folder for results.json and the checkpoints (default: none written)")
    parser.add_argument("--data-dir", default=None, help="folder holding the four MNIST IDX files")
    parser.add_argument("--blas-threads", type=int, default=None, metavar="N", help="OpenBLAS threads")
    parser.add_argument("--json", action="store_true",
                        help="print the results as JSON on stdout (the text goes to stderr)")


def run(args):
    """Compress, evaluate, fine-tune; print a summary table (or JSON); 0 on success."""
    from .runtime import set_blas_threads, tune_malloc
    tune_malloc()
    if args.blas_threads is not None and not set_blas_threads(args.blas_threads):
        print(f"ttrnn compress: note: could not set the BLAS threads to {args.blas_threads}", file=sys.stderr)
    stream = sys.stderr if args.json else sys.stdout
    results = compress_run(args.run, args.cores, args.rank, args.eps, args.finetune_epochs, args.lr, args.out,
                           args.data_dir, stream, command="ttrnn " + shlex.join(sys.argv[1:]))
    if args.json:
        print(json.dumps(results))
        return 0
    source, rows = results["source"], []
    if source["test"] is not None:
        rows.append(("as trained", source["params"], source["best"]["val_accuracy"], source["test"]["accuracy"]))
    total = results["params"]
    rows.append(("compressed", total, results["compressed"]["val"]["accuracy"],
                 results["compressed"]["test"]["accuracy"]))
    tuned = results["finetuned"]
    if tuned is not None:
        epochs = f"{tuned['epochs']} epoch{'s' if tuned['epochs'] > 1 else ''}"
        rows.append((f"fine-tuned, {epochs}", total, tuned["val"]["accuracy"], tuned["test"]["accuracy"]))
    table = [{"model": m, "params": p, "val": 100 * v, "test": 100 * t} for m, p, v, t in rows]
    print(format_table(table, [("model", "model", None), ("params", "parameters", ",d"),
                               ("val", "validation %", ".2f"), ("test", "test %", ".2f")]), file=stream)
    return 0
