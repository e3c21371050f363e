"""The run context: a run that fails before producing anything leaves no folder; data
sizes are the lab's configuration (SIZE_PRESETS), recorded in the run and kept on resume."""

from dataclasses import dataclass

import pytest

from dlc.engine.context import RunContext
from dlc.errors import DataError, DlcError
from dlc.labs import SIZE_PRESETS
from tests.conftest import requires_mnist


@dataclass
class Cfg:
    lr: float = 0.1


def test_failure_before_any_output_leaves_no_run_folder(tmp_path):
    with pytest.raises(DataError, match="not found"):
        with RunContext.open("lab", Cfg(), runs_dir=tmp_path, quiet=True):
            raise DataError("MNIST not found")
    assert list(tmp_path.iterdir()) == []  # nor the lab's folder, which held only that run
    with RunContext.open("lab", Cfg(), runs_dir=tmp_path, quiet=True) as ctx:
        ctx.log(epoch=1)
        kept = ctx.dir
    with pytest.raises(DataError):
        with RunContext.open("lab", Cfg(), runs_dir=tmp_path, quiet=True):
            raise DataError("MNIST not found")
    assert list((tmp_path / "lab").iterdir()) == [kept]  # the other runs stay


def test_failure_after_output_keeps_the_run_folder(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with RunContext.open("lab", Cfg(), runs_dir=tmp_path, quiet=True) as ctx:
            ctx.log(epoch=1, loss=0.5)
            raise KeyboardInterrupt
    (run,) = (tmp_path / "lab").iterdir()
    assert (run / "config.json").is_file() and (run / "metrics.jsonl").read_text().strip()


def test_missing_mnist_without_network_names_files_places_and_remedies(tmp_path, monkeypatch):
    from dlc import prologue
    from dlc.data import download

    def offline(url):
        raise OSError("Name or service not known")

    monkeypatch.setattr(download, "urlopen", offline)
    monkeypatch.delenv("PYTORCH_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # ./data, the last place searched, is empty too
    with pytest.raises(DataError) as e:
        prologue.load(**SIZE_PRESETS["tiny"], data_dir=tmp_path)
    msg = str(e.value)
    assert "download failed" in msg and "train-images-idx3-ubyte" in msg
    assert str(tmp_path / "MNIST" / "raw") in msg and "PYTORCH_DATA_DIR" in msg
    assert not [p for p in tmp_path.rglob("*") if p.is_file()], "a failed download left files"


def test_config_threads_applies_during_the_run_only(tmp_path):
    import torch

    @dataclass
    class Small:
        n: int = 1
        THREADS = 1

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with RunContext.open("lab", Small(), runs_dir=tmp_path, quiet=True):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_run_lab_resume_takes_size_seed_and_options_from_the_run_folder(tmp_path):
    import json

    from dlc.labs import run_lab

    first = run_lab("mini-framework", size="tiny", seed=5, runs_dir=tmp_path, quiet=True, epochs=3)
    with pytest.raises(DlcError, match="finished run"):  # nothing to resume, nothing changed
        run_lab("mini-framework", resume=first.run_dir, quiet=True)
    # given more epochs, the resumed run keeps its size, seed and other options
    again = run_lab("mini-framework", resume=first.run_dir, quiet=True, epochs=4)
    assert again.run_dir == first.run_dir
    config = json.loads((first.run_dir / "config.json").read_text())
    assert config["size"] == "tiny" and config["seed"] == 5 and config["config"]["epochs"] == 4
    fresh = run_lab("mini-framework", size="tiny", seed=5, runs_dir=tmp_path / "fresh", quiet=True, epochs=4)
    assert again.metrics == fresh.metrics


def test_the_size_is_configuration_not_a_context_attribute(tmp_path):
    from dlc import labs

    lab = labs.get("lecture-convnet")
    assert SIZE_PRESETS == {
        "tiny": {"train_size": 500, "test_size": 100},
        "default": {"train_size": 1000, "test_size": 1000},
        "full": {"train_size": None, "test_size": None},
    }
    for size, preset in SIZE_PRESETS.items():
        cfg = labs.make_config(lab, size)
        assert (cfg.train_size, cfg.test_size) == (preset["train_size"], preset["test_size"])
    cfg = labs.make_config(lab, "tiny", train_size=200)  # an explicit value wins over the preset
    assert (cfg.train_size, cfg.test_size) == (200, 100)
    with RunContext.open("lab", Cfg(), runs_dir=tmp_path, quiet=True, size="tiny") as ctx:
        for removed in ("by_size", "prologue_sizes"):
            assert not hasattr(ctx, removed)
        assert ctx.resolved_config()["size"] == "tiny"  # the preset's name, for `dlc runs`


@requires_mnist
def test_a_runs_data_sizes_are_recorded_and_kept_on_resume(tmp_path):
    import json

    from dlc.labs import run_lab

    first = run_lab("lecture-convnet", size="tiny", runs_dir=tmp_path, quiet=True, epochs=1, test_size=50)
    config = json.loads((first.run_dir / "config.json").read_text())
    assert config["size"] == "tiny"
    assert (config["config"]["train_size"], config["config"]["test_size"]) == (500, 50)
    assert first.metrics["train_samples"] == 500 and first.metrics["test_n"] == 50
    again = run_lab("lecture-convnet", resume=first.run_dir, quiet=True, epochs=2)
    assert again.metrics["train_samples"] == 500 and again.metrics["test_n"] == 50
    assert again.metrics["epochs"] == 2
