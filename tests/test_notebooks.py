"""Execute every user notebook top to bottom (as a user would, in a fresh kernel)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit notebooks with outputs stripped"
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    # run in a scratch directory so studies' SQLite files and figures do not land in the repo
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


def test_all_three_notebooks_exist() -> None:
    assert {p.name for p in NOTEBOOKS} == {"conditional_generation.ipynb", "bo_nas.ipynb", "pareto_sampling.ipynb"}


def test_notebooks_match_their_sources() -> None:
    """The committed notebooks are what ``python scripts/make_notebooks.py`` writes: cells edited only in a
    ``.ipynb`` would be deleted by the script's next run, and cells added only to the script would never run."""
    nbformat = pytest.importorskip("nbformat")
    spec = importlib.util.spec_from_file_location("_make_notebooks", REPO / "scripts" / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines the cell lists; writes nothing (its writing runs only under __main__)
    assert set(module.NOTEBOOKS) == {p.name for p in NOTEBOOKS}
    for name, cells in module.NOTEBOOKS.items():
        want = [(c.cell_type, c.source) for c in module.build(cells).cells]
        got = [(c.cell_type, c.source) for c in nbformat.read(REPO / "notebooks" / name, as_version=4).cells]
        assert got == want, f"notebooks/{name} differs from scripts/make_notebooks.py: run python scripts/make_notebooks.py"
