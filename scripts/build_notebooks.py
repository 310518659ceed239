"""Execute the tutorials and write each ``tutorials/NN_name.ipynb`` with its outputs (figures included).

Each notebook is made from its jupytext source ``tutorials/NN_name.py`` (the source of truth), executed top to
bottom by a fresh Jupyter kernel in ``tutorials/`` with nbconvert, and written next to it with its outputs. The
wall time of every execution is recorded in the notebook's metadata (``ttrnn_build``) and in
``tutorials/build_times.json``. Full mode (the default, TTRNN_FAST unset) is what the committed notebooks show;
``--fast`` runs the test-sized version (TTRNN_FAST=1) and writes into ``--out`` instead, so the committed
notebooks keep their full-mode outputs. Run the notebooks one at a time: each full run is CPU-heavy.

    python scripts/build_notebooks.py                      # every tutorial, full mode (about an hour on 2 cores)
    python scripts/build_notebooks.py 01 05                # the tutorials whose names start with 01 and 05
    python scripts/build_notebooks.py --fast --out /tmp/nb # fast mode, for timing; tutorials/ untouched

Needs the tutorials extra (jupytext, nbconvert, an ipykernel) and, for the full MNIST data, TTRNN_DATA.
"""
import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
TIMES = TUTORIALS / "build_times.json"


def sources(prefixes):
    """The tutorial sources whose names start with one of ``prefixes`` (all of them if none)."""
    found = sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))
    chosen = [p for p in found if not prefixes or any(p.name.startswith(prefix) for prefix in prefixes)]
    if prefixes and not chosen:
        raise SystemExit(f"no tutorial in {TUTORIALS} starts with {' or '.join(prefixes)}; "
                         f"there are {', '.join(p.stem for p in found)}")
    return chosen


def execute(source, fast, out_dir):
    """Execute one tutorial; write the notebook into ``out_dir``; return the wall time in seconds."""
    import jupytext
    import nbformat
    from nbconvert.preprocessors import ExecutePreprocessor

    notebook = jupytext.read(source)
    os.environ.pop("TTRNN_FAST", None)
    if fast:
        os.environ["TTRNN_FAST"] = "1"
    os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars would fill the outputs
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    start = time.perf_counter()
    ExecutePreprocessor(timeout=None, kernel_name="python3").preprocess(notebook, {"metadata": {"path": str(TUTORIALS)}})
    seconds = time.perf_counter() - start
    notebook.metadata["ttrnn_build"] = {"mode": "fast" if fast else "full", "seconds": round(seconds, 1),
                                        "finished": time.strftime("%Y-%m-%d %H:%M"), "cpu_count": os.cpu_count(),
                                        "python": platform.python_version()}
    target = Path(out_dir) / source.with_suffix(".ipynb").name
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("prefixes", nargs="*", help="which tutorials, by the start of their names (default: all)")
    parser.add_argument("--fast", action="store_true", help="TTRNN_FAST=1 (test sizes); needs --out")
    parser.add_argument("--out", type=Path, default=None, help="folder for the notebooks (default: tutorials/)")
    options = parser.parse_args(argv)
    if options.fast and options.out is None:
        parser.error("--fast needs --out: the committed notebooks show full-mode runs")
    out_dir = options.out or TUTORIALS
    times = json.loads(TIMES.read_text()) if TIMES.exists() else {}
    for source in sources(options.prefixes):
        print(f"{source.stem}: executing ({'fast' if options.fast else 'full'} mode) …", flush=True)
        seconds = execute(source, options.fast, out_dir)
        print(f"{source.stem}: {seconds:.0f} s → {Path(out_dir) / source.with_suffix('.ipynb').name}", flush=True)
        times.setdefault(source.stem, {})["fast" if options.fast else "full"] = {
            "seconds": round(seconds, 1), "finished": time.strftime("%Y-%m-%d %H:%M"), "cpu_count": os.cpu_count()}
        TIMES.write_text(json.dumps(times, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
