"""Every notebook (a jupytext text file in notebooks/) runs top to bottom at --tiny."""

from pathlib import Path

import pytest

from dlc import labs

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.py"))


def test_every_lab_has_a_notebook():
    have = {p.stem for p in NOTEBOOKS}
    missing = sorted(set(labs.catalog()) - have)
    assert not missing, f"labs without a notebook: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    nb = jupytext.read(path)
    # The notebook's size is a plain assignment, as a reader would change it by hand.
    setting = 'size = "default"'
    cells = [c for c in nb.cells if c.cell_type == "code" and setting in c.source]
    assert len(cells) == 1, f"{path.name} must set its size once with {setting!r}"
    cells[0].source = cells[0].source.replace(setting, 'size = "tiny"')
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # One thread per kernel: CI runs two test workers on two cores.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert list((tmp_path / "runs").rglob("summary.json")), "the notebook did not run its lab"
