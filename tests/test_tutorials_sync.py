"""Every tutorial notebook matches its jupytext source (the .py file is the source of truth); the outputs a
notebook carries come from a full-mode run of scripts/build_notebooks.py."""
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
    rebuild = f"run `python scripts/build_notebooks.py {source.name[:2]}` (or `jupytext --to ipynb {source.name}` in tutorials/)"
    assert paired.exists(), f"{paired.name} is missing: {rebuild}"
    notebook = jupytext.read(paired)
    assert _cells(notebook) == _cells(jupytext.read(source)), f"{paired.name} differs from {source.name}: {rebuild}"
    assert "TTRNN_FAST" in source.read_text(), f"{source.name} must read TTRNN_FAST to run fast in the tests"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_outputs_come_from_a_full_mode_build(source):
    notebook = jupytext.read(source.with_suffix(".ipynb"))
    if not any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"):
        pytest.skip(f"{source.with_suffix('.ipynb').name} carries no outputs")
    build = notebook.metadata.get("ttrnn_build")
    assert build is not None and build["mode"] == "full", (
        f"{source.with_suffix('.ipynb').name} has outputs but not from a full-mode build (metadata {build}): "
        f"run `python scripts/build_notebooks.py {source.name[:2]}`")
    errors = [output for cell in notebook.cells for output in cell.get("outputs", []) if output.output_type == "error"]
    assert not errors, f"{source.with_suffix('.ipynb').name} shows an error: {errors[0].get('ename')}"
