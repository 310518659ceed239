"""``ttrnn speaker``: the command-line face of ``experiments.speaker`` (options, the end-of-run table).

``--baseline`` only scores the no-training mean/std baseline on the test trials; otherwise one configuration
is trained until its validation EER plateaus and evaluated, and its size/EER/time table printed (``--json``:
the results without the history).  Every EER is printed with its 95 % speaker-bootstrap interval.
The run folder (``--out``, default ``runs/speaker/<name>``) has the layout of every run (``runfolder``): a
folder that holds another run is refused unless ``--resume``, and it is proven writable before any feature is
computed.  Exit codes (``cli.EXIT_CODES``): 0 finished, 1 diverged, 2 bad options, 3 missing or corrupt data
(an unreadable audio file is named), 4 I/O failure (failures are raised for ``cli.main`` to print in one
line).  Also ``python -m ttrnn_np.experiments.speaker_cli`` with the same options.
"""
import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from .runtime import set_blas_threads, tune_malloc
from ..training import TrainingDiverged
from .speaker import CORPORA, SpeakerConfig, baseline_only, check_out, load_data, train

__all__ = ["EPILOG", "add_arguments", "command", "config_from_args", "results_table", "test_table", "baseline_table",
           "run", "build_parser"]

EPILOG = """\
examples:
  ttrnn speaker --baseline
      the no-training mean/std baseline on the test trials (AN4's 44 evaluation speakers, LibriSpeech test-other)
  ttrnn speaker --layout joint --cores 2 --rank 2
      train a TT encoder on AN4 + LibriSpeech speakers until the validation EER plateaus; print the table
  ttrnn speaker --layout dense --max-steps 300 --eval-every 50 --out runs/speaker/quick-dense
  ttrnn speaker --corpus librispeech --layout joint     the earlier LibriSpeech-only protocol
  ttrnn speaker --layout joint --resume     continue the run from its last checkpoint

Data: $TTRNN_DATA/an4 (or --an4-dir), a folder of WAV files per speaker; $TTRNN_DATA/librispeech-sample (or
--librispeech-dir) with train-clean-100/ and test-other/.  AN4's 84 speakers are split by speaker with a fixed
seed: 44 evaluate (first 4 utterances enrol, all others verify), 12 validate (checkpoint choice and the
plateau stop), 28 train together with the 251 LibriSpeech training speakers (--no-mix-librispeech: AN4 only).
Test-other (10 speakers × 5 enrol + 5 verify) is a second, cross-corpus test.  Intervals: 95 %, from
resampling the evaluation speakers (1,000 draws).  Results are CPU-scale, not comparable one-to-one with the
paper's full-LibriSpeech EERs.
"""


def _with_deprecated_alias(old):
    """An argparse store action that notes on stderr when the deprecated spelling ``old`` is used."""
    class Store(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None):
            if option_string == old:
                print(f"ttrnn speaker: note: {old} is deprecated, use {self.option_strings[0]}", file=sys.stderr)
            setattr(namespace, self.dest, values)
    return Store


def add_arguments(parser):
    """Options of ``ttrnn speaker``."""
    d = SpeakerConfig()
    arg = parser.add_argument
    arg("--corpus", choices=CORPORA, default=d.corpus,
        help="an4 (default: AN4 speaker split, training mixed with LibriSpeech) or librispeech (the sample alone)")
    arg("--mix-librispeech", action=argparse.BooleanOptionalAction, default=d.mix_librispeech,
        help="AN4: also train on the 251 LibriSpeech speakers and test on test-other (default on)")
    arg("--layout", default=d.layout, help=f"cell weight layout: dense, naive, joint, joint_gate_core "
                                           f"(default {d.layout})")
    arg("--cores", "-d", type=int, default=d.cores, help=f"TT factor cores d (default {d.cores})")
    arg("--rank", "-R", type=int, default=d.rank, help=f"TT rank R (default {d.rank})")
    arg("--hidden-size", "--hidden", "-H", dest="hidden_size", type=int, default=d.hidden_size,
        action=_with_deprecated_alias("--hidden"),
        help=f"hidden units H (default {d.hidden_size}; paper 768; --hidden is a deprecated spelling)")
    arg("--embed-dim", type=int, default=d.embed_dim, help=f"d-vector size D (default {d.embed_dim})")
    arg("--head", choices=("dense", "tt"), default=None, help="embedding head (default: tt for TT layouts)")
    arg("--speakers-per-batch", "-N", type=int, default=d.speakers_per_batch, help="GE2E N (default 16)")
    arg("--utterances-per-speaker", "-M", type=int, default=d.utterances_per_speaker,
        help=f"GE2E M crops per speaker (default {d.utterances_per_speaker}; paper 32)")
    arg("--frames", type=int, default=d.frames,
        help=f"frames T of a training crop and an evaluation window (default {d.frames}; paper 160)")
    arg("--max-steps", "--steps", dest="max_steps", type=int, default=d.max_steps,
        action=_with_deprecated_alias("--steps"),
        help=f"step cap (default {d.max_steps}); training normally stops earlier, on the validation plateau")
    arg("--eval-every", type=int, default=d.eval_every, help=f"steps between validations (default {d.eval_every})")
    arg("--patience", type=int, default=d.patience,
        help=f"stop after this many validations without an improvement of --min-delta (default {d.patience}; "
             f"0: train to the cap)")
    arg("--min-delta", type=float, default=d.min_delta,
        help=f"validation-EER improvement that counts, a fraction (default {d.min_delta})")
    arg("--lr", type=float, default=d.lr, help="Adam learning rate (default 1e-3)")
    arg("--clip", type=float, default=d.clip, help="global gradient-norm clip (default 3)")
    arg("--seed", type=int, default=d.seed, help="seed of initialisation and batches (default 11)")
    arg("--fraction", type=float, default=d.fraction, help="fraction of training speakers used (default 1)")
    arg("--val-speakers", type=int, default=None, help="validation speakers (default 12 for an4, 20 for librispeech)")
    arg("--eval-speakers", type=int, default=d.eval_speakers, help=f"AN4 evaluation speakers (default "
                                                                   f"{d.eval_speakers})")
    arg("--split-seed", type=int, default=d.split_seed, help=f"seed of the AN4 speaker split (default {d.split_seed})")
    arg("--dtype", choices=("float32", "float64"), default=d.dtype, help="parameter dtype (default float32)")
    arg("--an4-dir", default=None, help="the AN4 corpus (default $TTRNN_DATA/an4)")
    arg("--librispeech-dir", "--data-dir", dest="librispeech_dir", default=None,
        action=_with_deprecated_alias("--data-dir"),
        help="the LibriSpeech sample (default $TTRNN_DATA/librispeech-sample; --data-dir is a deprecated spelling)")
    arg("--cache-dir", default=None, help="feature cache (default $TTRNN_CACHE or ~/.cache/ttrnn_np)")
    arg("--out", default=None, help="run directory (default runs/speaker/<name>)")
    arg("--resume", action="store_true", help="continue from the run directory's last checkpoint")
    arg("--baseline", action="store_true", help="only the no-training baseline on the test trials")
    arg("--blas-threads", type=int, default=1, metavar="N",
        help="OpenBLAS threads (default 1: at these matrix sizes more threads only wait on each other)")
    arg("--json", action="store_true", help="print the results as JSON (no progress output)")


def command(config):
    """The ``ttrnn speaker`` command that trains ``config``: the options whose values differ from the defaults."""
    default = SpeakerConfig()
    argv = ["ttrnn", "speaker"]
    for field in dataclasses.fields(SpeakerConfig):
        value = getattr(config, field.name)
        if value == getattr(default, field.name) or value is None:
            continue
        option = "--" + field.name.replace("_", "-")
        argv += [option] if value is True else [f"--no-{option[2:]}"] if value is False else [option, str(value)]
    return " ".join(argv)


def config_from_args(args):
    """A SpeakerConfig from parsed ``ttrnn speaker`` options."""
    names = {f.name for f in dataclasses.fields(SpeakerConfig)}
    return SpeakerConfig(**{k: v for k, v in vars(args).items() if k in names})


def interval(result):
    """'12.34 % [10.00, 15.00]' from {"eer", "low", "high"} (fractions)."""
    return f"{100 * result['eer']:5.2f} % [{100 * result['low']:5.2f}, {100 * result['high']:5.2f}]"


TEST_NAMES = {"an4": "AN4 evaluation speakers", "librispeech": "LibriSpeech test-other"}


def _trials_line(name, t):
    return (f"{TEST_NAMES[name]}: {t['speakers']} speakers, {t['utterances']} utterances; enrolment "
            f"{t['n_enrol']} per speaker → {t['enrolment_trials']['target']:,} target / "
            f"{t['enrolment_trials']['nontarget']:,} non-target trials; pairwise {t['pairwise_trials']['target']:,} / "
            f"{t['pairwise_trials']['nontarget']:,}")


def _eer_rows(label, scores):
    return f"  {label:<30}{interval(scores['enrolment']):>28}{interval(scores['pairwise']):>28}"


def _header():
    return f"  {'':<30}{'enrolment EER [95 % CI]':>28}{'pairwise EER [95 % CI]':>28}"


def test_table(name, trials, encoder, baseline):
    """The lines of one test set: its trials, then the encoder's and both baselines' EERs with intervals
    (``encoder`` a ``speaker.verification``, ``baseline`` {"normalised", "raw"} of them)."""
    return [_trials_line(name, trials), _header(), _eer_rows("encoder (best checkpoint)", encoder),
            _eer_rows("baseline, normalised", baseline["normalised"]),
            _eer_rows("baseline, raw log-mel", baseline["raw"])]


def baseline_table(baselines):
    """The ``--baseline`` table: per test set, its trials and the baseline's EERs with intervals."""
    lines = ["no-training baseline (mean/std of log-mel frames), 95 % intervals from resampling speakers"]
    for name, b in baselines.items():
        lines += [_trials_line(name, b["trials"]), _header(), _eer_rows("baseline, normalised", b["normalised"]),
                  _eer_rows("baseline, raw log-mel", b["raw"])]
    return "\n".join(lines)


def results_table(results):
    """A readable summary of one run (``speaker.train``'s results): sizes, stopping, EERs with intervals, time."""
    c, s, best, data = results["config"], results["sizes"], results["best"], results["data"]
    shape = "dense" if c["layout"] == "dense" else f"{c['layout']} TT, d = {c['cores']}, R = {c['rank']}"
    by_corpus = ", ".join(f"{n} {k}" for k, n in data["train_speakers_by_corpus"].items())
    stop = {"plateau": f"validation EER not better by {100 * c['min_delta']:g} % in {c['patience']} validations",
            "step cap": f"the step cap {c['max_steps']:,}"}[results["stop_reason"]]
    head = SpeakerConfig(**c).head_layout
    lines = [
        f"speaker verification ({results['name']}): {data['train_speakers']} training speakers ({by_corpus}), "
        f"{data['val_speakers']} validation speakers",
        f"encoder: LSTM {shape}, I = 40 → H = {c['hidden_size']}, {head} head → D = {c['embed_dim']}; batch "
        f"{c['speakers_per_batch']} × {c['utterances_per_speaker']} × {c['frames']} frames, lr {c['lr']:g}, "
        f"{c['dtype']}",
        f"parameters {s['total']:,} (+2 GE2E scalars w, b); dense equivalent {s['dense_total']:,}, "
        f"compression {s['compression']:.1f}×",
        f"stopped after {results['steps']:,} steps: {stop}; best checkpoint at step {best['step']} (validation EER "
        f"{100 * best['val_eer']:.2f} %), tested below",
    ]
    for name, t in data["tests"].items():
        lines += test_table(name, t, best["tests"][name], results["baseline"][name])
    lines.append(f"time: training {results['train_time_s']:.0f} s ({results['steps_per_s'] or 0:.2f} steps/s), "
                 f"validation {results['eval_time_s']:.0f} s, test {results['test_time_s']:.0f} s; "
                 f"wall {results['wall_time_s'] / 60:.1f} min")
    return "\n".join(lines)


def run(args):
    """``ttrnn speaker``: the baseline alone, or train + evaluate + table (or JSON)."""
    tune_malloc()
    if not set_blas_threads(args.blas_threads):
        print(f"ttrnn speaker: note: could not set the BLAS threads to {args.blas_threads} (not OpenBLAS?)",
              file=sys.stderr)
    config = config_from_args(args)
    dirs = dict(an4_dir=args.an4_dir, librispeech_dir=args.librispeech_dir, cache_dir=args.cache_dir)
    if args.baseline:
        out = baseline_only(config, **dirs)
        print(json.dumps(out, indent=1) if args.json else baseline_table(out))
        return 0
    out_dir = args.out or os.path.join("runs", "speaker", config.name)
    check_out(out_dir, args.resume)  # before the features are computed; train checks again, holding the lock
    data = load_data(config, progress=not args.json, **dirs)
    try:
        results = train(config, data, out_dir, resume=args.resume, progress=not args.json)
    except TrainingDiverged as error:
        last = Path(out_dir) / "checkpoints" / "last"
        kept = (f"the last good checkpoint is {last}" if Path(f"{last}.json").exists() else
                "no checkpoint was written: the run diverged before its first evaluation")
        print(f"ttrnn speaker: {error}; {kept}. Try a smaller --lr or --clip.", file=sys.stderr)
        return 1
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
