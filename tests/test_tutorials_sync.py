"""Every tutorial notebook matches its jupytext source (the .py file is the source of truth) and has no outputs."""
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext", reason="jupytext is in the dev extra: pip install -e '.[all]'")

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"
SOURCES = sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))


def _cells(notebook):
    return [(cell.cell_type, cell.source.strip()) for cell in notebook.cells]


def test_there_are_tutorials():
    assert SOURCES, f"no tutorials found in {TUTORIALS}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_is_paired_with_its_source(source):
    paired = source.with_suffix(".ipynb")
    assert paired.exists(), f"{paired.name} is missing: run `jupytext --to ipynb {source.name}` in tutorials/"
    notebook = jupytext.read(paired)
    assert _cells(notebook) == _cells(jupytext.read(source)), (
        f"{paired.name} differs from {source.name}: run `jupytext --to ipynb {source.name}` in tutorials/")
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), (
        f"{paired.name} has outputs; commit notebooks without outputs")
    assert "TTRNN_FAST" in source.read_text(), f"{source.name} must read TTRNN_FAST to run fast in the tests"
