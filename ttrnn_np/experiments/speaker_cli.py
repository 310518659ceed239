"""``ttrnn speaker``: the command-line face of ``experiments.speaker`` (options, the end-of-run table).

``--baseline`` only scores the no-training mean/std baseline on the test trials; otherwise one configuration
is trained and evaluated and its size/EER/time table printed (``--json``: the results without the history).
Exit codes: 0 finished, 2 bad options or missing data (raised as ValueError / FileNotFoundError for
``cli.main`` to print).  Also ``python -m ttrnn_np.experiments.speaker_cli`` with the same options.
"""
import argparse
import dataclasses
import json
import os
import sys

from ..cells import LAYOUTS
from .runtime import set_blas_threads, tune_malloc
from .speaker import SpeakerConfig, baseline_on_test_split, load_data, train

__all__ = ["EPILOG", "add_arguments", "config_from_args", "results_table", "run", "build_parser"]

EPILOG = """\
examples:
  ttrnn speaker --baseline
      the no-training mean/std baseline on the test trials (needs only test-other)
  ttrnn speaker --layout joint --cores 2 --rank 2
      train the default TT encoder (H=128, 2,000 steps, ≈ 10 min on a free core) and print the size/EER table
  ttrnn speaker --layout dense --steps 200 --eval-every 50 --out runs/speaker/quick-dense
  ttrnn speaker --layout joint --resume     continue the default run from its last checkpoint

Data: $TTRNN_DATA/librispeech-sample (or --data-dir) with train-clean-100/ and test-other/.  The 251 training
speakers have one utterance each: a batch's M utterances per speaker are M random crops of it; the last 20
training speakers are held out for validation (model selection).  Test: 10 test-other speakers, first 5
utterances enrol, last 5 verify (50 target / 450 non-target trials).  Results are small-sample CPU-scale,
not comparable one-to-one with the paper's full-LibriSpeech EERs.
"""


def add_arguments(parser):
    """Options of ``ttrnn speaker``."""
    d = SpeakerConfig()
    arg = parser.add_argument
    arg("--layout", choices=LAYOUTS, default=d.layout, help=f"cell weight layout (default {d.layout})")
    arg("--cores", "-d", type=int, default=d.cores, help=f"TT factor cores d (default {d.cores})")
    arg("--rank", "-R", type=int, default=d.rank, help=f"TT rank R (default {d.rank})")
    arg("--hidden", "-H", type=int, default=d.hidden, help=f"hidden units H (default {d.hidden}; paper 768)")
    arg("--embed-dim", type=int, default=d.embed_dim, help=f"d-vector size D (default {d.embed_dim})")
    arg("--head", choices=("dense", "tt"), default=None, help="embedding head (default: tt for TT layouts)")
    arg("--speakers-per-batch", "-N", type=int, default=d.speakers_per_batch, help="GE2E N (default 16)")
    arg("--utterances-per-speaker", "-M", type=int, default=d.utterances_per_speaker,
        help="GE2E M crops per speaker (default 8; paper 32)")
    arg("--frames", type=int, default=d.frames, help="frames per training crop T (default 160)")
    arg("--steps", type=int, default=d.steps, help=f"training steps (default {d.steps}; paper 20,000)")
    arg("--lr", type=float, default=d.lr, help="Adam learning rate (default 1e-3)")
    arg("--clip", type=float, default=d.clip, help="global gradient-norm clip (default 3)")
    arg("--eval-every", type=int, default=d.eval_every, help=f"steps between evaluations (default {d.eval_every})")
    arg("--seed", type=int, default=d.seed, help="seed of initialisation and batches (default 11)")
    arg("--fraction", type=float, default=d.fraction, help="fraction of training speakers used (default 1)")
    arg("--val-speakers", type=int, default=d.val_speakers, help="held-out validation speakers (default 20)")
    arg("--dtype", choices=("float32", "float64"), default=d.dtype, help="parameter dtype (default float32)")
    arg("--data-dir", default=None, help="the LibriSpeech sample (default $TTRNN_DATA/librispeech-sample)")
    arg("--cache-dir", default=None, help="feature cache (default $TTRNN_CACHE or ~/.cache/ttrnn_np)")
    arg("--out", default=None, help="run directory (default runs/speaker/<tag>)")
    arg("--resume", action="store_true", help="continue from the run directory's last checkpoint")
    arg("--baseline", action="store_true", help="only the no-training baseline on the test trials")
    arg("--blas-threads", type=int, default=1, metavar="N",
        help="OpenBLAS threads (default 1: at these matrix sizes more threads only wait on each other)")
    arg("--json", action="store_true", help="print the results as JSON (no progress output)")


def config_from_args(args):
    """A SpeakerConfig from parsed ``ttrnn speaker`` options."""
    names = {f.name for f in dataclasses.fields(SpeakerConfig)}
    return SpeakerConfig(**{k: v for k, v in vars(args).items() if k in names})


def _pct(x):
    return "-" if x is None else f"{100 * x:.2f} %"


def results_table(results):
    """A readable summary of one run (``speaker.train``'s results): sizes, compression, EERs, baseline, time."""
    c, s, best = results["config"], results["sizes"], results["best"]
    shape = "dense" if c["layout"] == "dense" else f"{c['layout']} TT, d = {c['cores']}, R = {c['rank']}"
    p = s["parts"]
    lines = [
        f"speaker verification, small-sample CPU-scale run ({results['data']['train_speakers']} training "
        f"speakers, 1 utterance each; {results['data']['test_speakers']} test speakers × 5 enrol + 5 verify)",
        f"encoder: LSTM {shape}, I = 40 → H = {c['hidden']}, {SpeakerConfig(**c).head_layout} head → "
        f"D = {c['embed_dim']}; batch {c['speakers_per_batch']} × {c['utterances_per_speaker']} × "
        f"{c['frames']} frames, {results['steps']} steps, lr {c['lr']:g}, {c['dtype']}",
        f"{'W_x':>10}{'W_h':>10}{'bias':>8}{'head W':>9}{'head b':>8}{'total':>10}{'dense':>11}{'compress':>10}",
        f"{p['W_x']:>10,}{p['W_h']:>10,}{p['bias']:>8,}{p['head_W']:>9,}{p['head_b']:>8,}{s['total']:>10,}"
        f"{s['dense_total']:>11,}{s['compression']:>9.1f}×   (+2 GE2E scalars w, b)",
        f"test EER {_pct(best.get('test_eer'))} (checkpoint of step {best.get('step')}, chosen by validation EER "
        f"{_pct(best.get('val_eer'))}); pairwise EER {_pct(best.get('test_pairwise_eer'))}",
        f"no-training baseline on the same trials: {_pct(results['baseline']['normalised'])} (normalised mean/std "
        f"of log-mel), {_pct(results['baseline']['raw'])} (raw)",
        f"train time {results['train_time_s']:.0f} s ({results['steps_per_s'] or 0:.2f} steps/s), "
        f"evaluation {results['eval_time_s']:.0f} s",
    ]
    return "\n".join(lines)


def run(args):
    """``ttrnn speaker``: the baseline alone, or train + evaluate + table (or JSON)."""
    tune_malloc()
    if not set_blas_threads(args.blas_threads):
        print(f"ttrnn speaker: note: could not set the BLAS threads to {args.blas_threads} (not OpenBLAS?)",
              file=sys.stderr)
    if args.baseline:
        out = baseline_on_test_split(args.data_dir, cache_dir=args.cache_dir)
        print(json.dumps(out, indent=1) if args.json else
              f"no-training baseline EER on {out['speakers']} test speakers × 5 enrol + 5 verify: "
              f"{_pct(out['normalised'])} (normalised mean/std of log-mel), {_pct(out['raw'])} (raw)")
        return 0
    config = config_from_args(args)
    data = load_data(args.data_dir, config.fraction, config.val_speakers, cache_dir=args.cache_dir,
                     progress=not args.json)
    out_dir = args.out or os.path.join("runs", "speaker", config.tag)
    results = train(config, data, out_dir, resume=args.resume, progress=not args.json)
    print(json.dumps({k: v for k, v in results.items() if k != "history"}, indent=1) if args.json else
          results_table(results) + f"\nresults: {os.path.join(out_dir, 'results.json')}")
    return 0


def build_parser():
    """A stand-alone parser for ``python -m ttrnn_np.experiments.speaker_cli`` (the options of ``ttrnn speaker``)."""
    parser = argparse.ArgumentParser(prog="ttrnn speaker", epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return parser


if __name__ == "__main__":
    sys.exit(run(build_parser().parse_args()))
