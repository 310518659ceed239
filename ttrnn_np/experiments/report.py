"""Results files → tables, CSV and figures, shared by the experiments.

A results file is the JSON an experiment writes at the end of a run (``results.json`` in its run directory).
A *row* is a flat dict of one run's headline numbers; a *column* is ``(key, header, format)`` where format is
a format spec such as ``",d"`` or ``".2f"`` (None: ``str``).  Missing values print as "-".

The size/accuracy figure follows the paper's MNIST figure: test error e = 100 · (1 − test accuracy) in % on
the y axis against the total parameter count P on a logarithmic x axis, one line per group (e.g. per core
count d, points ordered by P and labelled by rank R), and horizontal reference lines (e.g. the dense LSTM).
The speaker study's figure is its counterpart for the EER with intervals, beside the no-training baseline.
"""
import csv
import json
import math
from pathlib import Path

__all__ = ["load_results", "format_value", "format_table", "write_csv", "read_csv", "markdown_table", "pareto_front",
           "plot_error_vs_params", "plot_eer_vs_params"]


def load_results(root, name="results.json"):
    """{run name: results dict} for every ``<root>/<run>/results.json``, sorted by run name."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"results directory {root} does not exist")
    runs = {}
    for path in sorted(root.glob(f"*/{name}")):
        with open(path) as f:
            try:
                runs[path.parent.name] = json.load(f)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path} is not valid JSON: {err}") from err
    return runs


def format_value(value, spec=None):
    """``value`` formatted with ``spec``; None and NaN become "-"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec) if spec else str(value)


def _check_columns(columns):
    for column in columns:
        if not (isinstance(column, tuple) and len(column) == 3):
            raise TypeError(f"a column is (key, header, format spec or None), got {column!r}")


def format_table(rows, columns):
    """Rows as a plain-text table with a header line and a rule; numbers right-aligned, text left-aligned."""
    _check_columns(columns)
    cells = [[format_value(row.get(key), spec) for key, _, spec in columns] for row in rows]
    widths = [max([len(header)] + [len(r[i]) for r in cells]) for i, (_, header, _) in enumerate(columns)]
    numeric = [all(isinstance(row.get(key), (int, float)) or row.get(key) is None for row in rows)
               for key, _, _ in columns]

    def line(values):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    header = line([header for _, header, _ in columns])
    return "\n".join([header, "-" * len(header)] + [line(r) for r in cells])


def markdown_table(rows, columns):
    """Rows as a GitHub-flavoured Markdown table."""
    _check_columns(columns)
    lines = ["| " + " | ".join(header for _, header, _ in columns) + " |",
             "|" + "|".join("---:" if spec else "---" for _, _, spec in columns) + "|"]
    lines += ["| " + " | ".join(format_value(row.get(key), spec) for key, _, spec in columns) + " |" for row in rows]
    return "\n".join(lines)


def write_csv(path, rows, keys):
    """Write ``rows`` to ``path`` as CSV with the given column ``keys`` (missing values empty)."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(keys), extrasaction="ignore")
        writer.writeheader()
        writer.writerows([{k: "" if row.get(k) is None else row[k] for k in keys} for row in rows])
    return Path(path)


def _parsed(text):
    """A CSV cell as written by ``write_csv``: "" → None, an integer → int, a number → float, else the text."""
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_csv(path):
    """The rows of a CSV that ``write_csv`` wrote: dicts with empty cells as None and numbers as int or float."""
    with open(path, newline="") as f:
        return [{key: _parsed(value) for key, value in row.items()} for row in csv.DictReader(f)]


def pareto_front(points):
    """The points (params, error %, …) that no other point beats on both counts, by increasing params: the
    lowest error so far at each size, scanning from the smallest model."""
    front, best = [], math.inf
    for point in sorted(points, key=lambda p: (p[0], p[1])):
        if point[1] < best:
            front.append(point)
            best = point[1]
    return front


def plot_error_vs_params(groups, references=(), background=None, ax=None, title=None):
    """Test error (%) against total parameters (log x), one line per group; returns ``(fig, ax)``.

    groups      {label: [(params, error %, point label[, spread]), ...]}; points are sorted by params and joined,
                each annotated with its point label (e.g. "R=4"); a spread (e.g. half the range over seeds) is
                drawn as an error bar of ± spread.  A label starting with "_" is not in the legend.
    references  [(label, params or None, error %)]: a dashed horizontal line at the error, and a marker at
                (params, error) when params is given (e.g. the dense LSTM).
    background  {label: [(params, error %), ...]}: context drawn thin, grey and dotted, without point labels
                (e.g. published numbers).
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4.5))
    else:
        fig = ax.figure
    markers = "osD^v<>p*h"
    for k, (label, points) in enumerate((background or {}).items()):
        points = sorted(points)
        ax.plot([p[0] for p in points], [p[1] for p in points], linestyle=":", linewidth=1, color="0.6",
                marker=markers[k % len(markers)], markersize=3, markerfacecolor="none", label=label)
    for k, (label, points) in enumerate(groups.items()):
        points = sorted(p for p in points if p[1] is not None)
        if not points:
            continue
        x, y = [p[0] for p in points], [p[1] for p in points]
        (line,) = ax.plot(x, y, marker=markers[k % len(markers)], label=label)
        for px, py, text, *spread in points:
            ax.annotate(text, (px, py), textcoords="offset points", xytext=(4, 4), fontsize=7,
                        color=line.get_color())
            if spread and spread[0] is not None:
                ax.errorbar([px], [py], yerr=[spread[0]], color=line.get_color(), capsize=3, linestyle="none")
    for label, params, error in references:
        (line,) = ax.plot([], [])
        ax.axhline(error, linestyle="--", linewidth=1, color=line.get_color(), label=label)
        if params is not None:
            ax.plot([params], [error], marker="*", markersize=10, color=line.get_color())
    ax.set_xscale("log")
    ax.set_xlabel("total parameters (log scale)")
    ax.set_ylabel("test error (%)")
    ax.grid(True, which="both", alpha=0.3)
    if title:
        ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return fig, ax


def plot_eer_vs_params(rows, baseline, ax=None, title=None):
    """The speaker study's figure: EER (%) with its 95 % interval against encoder parameters (log x); returns
    ``(fig, ax)``.

    rows      summary rows of the study (``scripts/speaker_study.py``): "layout", "cores", "rank", "seed",
              "fraction", "params", "an4_eer", "an4_low", "an4_high"; only full-data rows (fraction 1) are drawn.
    baseline  {"eer", "low", "high"} of the no-training baseline on the same trials: a grey band and line.

    One colour per core count d (dense in black squares), each point labelled with its rank; the runs of one
    model with other seeds sit slightly to the right of each other, so their intervals do not hide each other.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, 4.8))
    else:
        fig = ax.figure
    ax.axhspan(100 * baseline["low"], 100 * baseline["high"], color="0.88", label="no-training baseline, 95 % interval")
    ax.axhline(100 * baseline["eer"], color="0.55", linewidth=1)
    rows = sorted((r for r in rows if r["fraction"] == 1.0),
                  key=lambda r: (r["layout"] != "dense", r["cores"] or 0, r["rank"] or 0, r["seed"]))
    seen, labelled = {}, set()
    for r in rows:
        dense = r["layout"] == "dense"
        model = ("dense",) if dense else (r["cores"], r["rank"])
        k = seen[model] = seen.get(model, -1) + 1  # this model's k-th seed
        label = "dense LSTM" if dense else f"joint TT-LSTM, d = {r['cores']}"
        color = "k" if dense else f"C{r['cores'] - 2}"
        x = r["params"] * 1.07 ** k  # (the shift is a display offset: every seed has the same size)
        ax.errorbar(x, 100 * r["an4_eer"], yerr=[[100 * (r["an4_eer"] - r["an4_low"])],
                                                   [100 * (r["an4_high"] - r["an4_eer"])]],
                    fmt="s" if dense else "o", color=color, capsize=3, markersize=5 if k == 0 else 3.5,
                    label=None if label in labelled else label)
        labelled.add(label)
        if k == 0 and not dense:  # odd d labelled to the right, even d to the left: neighbours do not collide
            right = r["cores"] % 2 == 1
            ax.annotate(f"R={r['rank']}", (x, 100 * r["an4_eer"]), textcoords="offset points",
                        xytext=(5 if right else -5, -3), ha="left" if right else "right", fontsize=7, color=color)
    ax.set_xscale("log")
    ax.set_xlabel("encoder parameters (log scale; a model's other seeds drawn just to its right)")
    ax.set_ylabel("AN4 enrolment EER (%), 95 % interval")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title or "speaker verification on held-out AN4 speakers")
    ax.legend(fontsize=8, loc="upper right")
    return fig, ax
