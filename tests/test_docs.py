"""docs/method.md stays true to the code, and the repository stands alone.

(a) every ``module.function`` in the concordance (docs/method.md §12) exists in ``ttrnn_np``;
(b) no git-tracked file outside ``.ci/`` points at the project's private notes or at a path outside the repository;
(c) every ``docs/method.md §n`` reference in a tracked file names a section that exists.
"""
import importlib
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
METHOD = ROOT / "docs" / "method.md"
SECTION = re.compile(r"^## (\d+)\. ", re.MULTILINE)
# "docs/method.md §3", "docs/method.md §5 and §7", "docs/method.md §2, §3": every § number of the chain
REFERENCE = re.compile(r"docs/method\.md((?:\s*(?:,|and|or|–|-)?\s*§\s*\d+)+)")
# Built from parts so that this file does not name what it forbids.
FORBIDDEN = ("PAPER" + ".md", ".." + "/shared", "/work" + "/shared")


def _sections():
    """{n: text of section n} of docs/method.md."""
    text = METHOD.read_text(encoding="utf-8")
    starts = list(SECTION.finditer(text))
    return {int(m.group(1)): text[m.start():(starts[i + 1].start() if i + 1 < len(starts) else len(text))]
            for i, m in enumerate(starts)}


def _concordance_names():
    """The backticked dotted names in the last column of the §12 table."""
    names = []
    for line in _sections()[12].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or set(cells[-1]) <= set("-: "):
            continue
        names += [name for name in re.findall(r"`([A-Za-z_][\w.]*)`", cells[-1]) if "." in name]
    return names


def _tracked_files():
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        pytest.skip(f"not a git checkout (git ls-files failed: {error}); the tracked-file checks need one")
    return [ROOT / name for name in out.decode().split("\0") if name]


def _text(path):
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
        return None  # binary files (images, IDX data) and files deleted in the work tree


def test_sections_are_numbered_1_to_12_in_order():
    numbers = [int(n) for n in SECTION.findall(METHOD.read_text(encoding="utf-8"))]
    assert numbers == list(range(1, 13)), f"expected sections 1…12 in order, found {numbers}"


def test_concordance_names_exist():
    names = _concordance_names()
    assert len(names) >= 30, f"expected the §12 table to name at least 30 functions, parsed {names}"
    missing = []
    for name in names:
        module_name, attribute = name.rsplit(".", 1)
        try:
            module = importlib.import_module(f"ttrnn_np.{module_name}")
        except ImportError as error:
            missing.append(f"{name} (no module ttrnn_np.{module_name}: {error})")
            continue
        if not hasattr(module, attribute):
            missing.append(f"{name} (ttrnn_np.{module_name} has no attribute {attribute!r})")
    assert not missing, "docs/method.md §12 names code that does not exist:\n" + "\n".join(missing)


def test_no_tracked_file_points_outside_the_repository():
    offenders = []
    for path in _tracked_files():
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(".ci/"):
            continue
        text = _text(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            offenders += [f"{relative}:{number}: {word}" for word in FORBIDDEN if word in line]
    assert not offenders, ("cite docs/method.md §n or the paper by section name instead of:\n"
                           + "\n".join(offenders))


def test_method_references_name_existing_sections():
    sections = set(_sections())
    dangling = []
    for path in _tracked_files():
        text = _text(path)
        if text is None:
            continue
        for match in REFERENCE.finditer(text):
            cited = [int(n) for n in re.findall(r"§\s*(\d+)", match.group(1))]
            line = text.count("\n", 0, match.start()) + 1
            dangling += [f"{path.relative_to(ROOT).as_posix()}:{line}: §{n}" for n in cited if n not in sections]
    assert not dangling, (f"docs/method.md has sections {sorted(sections)}, but these references point "
                          "elsewhere:\n" + "\n".join(dangling))


def test_reference_pattern_reads_every_number_of_a_chain():
    """The parser behind the previous test: it must see §7 in a chain, or a dangling §7 would pass unnoticed."""
    doc = "docs/method" + ".md"  # in parts, so that the dangling §13 below is not itself a reference of this file
    sample = f"see {doc} §5 and §7, {doc} §2, §13"
    found = [re.findall(r"§\s*(\d+)", m.group(1)) for m in REFERENCE.finditer(sample)]
    assert found == [["5", "7"], ["2", "13"]]
