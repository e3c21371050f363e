"""dlc.pretrained: weights trained once, then loaded; a damaged, foreign or stale cache
file is retrained and replaced (never a crash), and no temporary file stays behind."""

import pytest
import torch

from dlc import pretrained
from dlc.errors import InvalidArgument

RECIPE = {"width": 4, "epochs": 2, "data": "abc"}


def make_trainer(calls, value=1.0):
    def train():
        calls.append(1)
        net = torch.nn.Linear(3, 2)
        with torch.no_grad():
            net.weight.fill_(value)
        return net.state_dict(), {"accuracy": 0.5}

    return train


def leftovers(folder):
    return [p.name for p in folder.rglob(".*tmp*")]


def test_trained_once_then_loaded(tmp_path):
    calls = []
    first = pretrained.load_or_train("toy", RECIPE, make_trainer(calls), folder=tmp_path)
    assert first.trained_now and first.path.is_file() and first.meta["accuracy"] == 0.5 and not first.note
    assert first.meta["train_seconds"] == first.seconds >= 0
    second = pretrained.load_or_train("toy", RECIPE, make_trainer(calls), folder=tmp_path)
    assert not second.trained_now and second.path == first.path and len(calls) == 1
    assert second.seconds == pytest.approx(first.seconds) and second.meta["accuracy"] == 0.5
    assert second.state.keys() == first.state.keys()
    assert all(torch.equal(second.state[k], first.state[k]) for k in first.state)
    assert leftovers(tmp_path) == []


def test_the_user_cache_is_the_default_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("DLC_CACHE_DIR", str(tmp_path / "cache"))
    got = pretrained.load_or_train("toy", RECIPE, make_trainer([]))
    assert got.path.parent == tmp_path / "cache" / "pretrained"


def test_another_recipe_is_another_file(tmp_path):
    calls = []
    a = pretrained.load_or_train("toy", RECIPE, make_trainer(calls), folder=tmp_path)
    b = pretrained.load_or_train("toy", {**RECIPE, "epochs": 3}, make_trainer(calls), folder=tmp_path)
    assert a.path != b.path and b.trained_now and len(calls) == 2
    # key order does not matter
    assert pretrained.recipe_key("toy", {"a": 1, "b": 2}) == pretrained.recipe_key("toy", {"b": 2, "a": 1})
    assert pretrained.recipe_key("toy", {"a": 1}) != pretrained.recipe_key("other", {"a": 1})


@pytest.mark.parametrize(
    "damage",
    ["garbage", "empty", "truncated", "foreign_torch_file", "other_recipe", "flipped_weight", "nan_weight"],
)
def test_a_bad_cache_file_is_retrained_and_replaced(tmp_path, damage):
    calls = []
    good = pretrained.load_or_train("toy", RECIPE, make_trainer(calls), folder=tmp_path)
    path = good.path
    if damage == "garbage":
        path.write_bytes(b"not a torch file at all")
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "foreign_torch_file":
        torch.save({"weight": torch.zeros(2, 3)}, path)
    else:
        saved = torch.load(path, weights_only=True)
        if damage == "other_recipe":
            saved["recipe"] = {**saved["recipe"], "epochs": 99}
        elif damage == "flipped_weight":
            saved["state"]["weight"][0, 0] += 1  # the checksum beside it no longer matches
        elif damage == "nan_weight":
            saved["state"]["weight"][0, 0] = float("nan")
            saved["digest"] = pretrained.state_digest(saved["state"])
        torch.save(saved, path)
    again = pretrained.load_or_train("toy", RECIPE, make_trainer(calls, value=2.0), folder=tmp_path)
    assert again.trained_now and len(calls) == 2
    assert "was not used" in again.note and path.name in again.note
    assert torch.all(again.state["weight"] == 2.0)
    # the file was replaced by the new weights, which load next time
    third = pretrained.load_or_train("toy", RECIPE, make_trainer(calls), folder=tmp_path)
    assert not third.trained_now and torch.all(third.state["weight"] == 2.0) and len(calls) == 2
    assert leftovers(tmp_path) == []


def test_weights_the_model_refuses_are_retrained(tmp_path):
    calls = []
    pretrained.load_or_train("toy", RECIPE, make_trainer(calls), folder=tmp_path)
    other = torch.nn.Linear(5, 2)
    got = pretrained.load_or_train(
        "toy", RECIPE, make_trainer(calls), folder=tmp_path, accept=lambda s: other.load_state_dict(s)
    )
    assert got.trained_now and "refused by the model" in got.note and len(calls) == 2


def test_use_cache_false_neither_reads_nor_writes(tmp_path):
    calls = []
    got = pretrained.load_or_train("toy", RECIPE, make_trainer(calls), folder=tmp_path, use_cache=False)
    assert got.trained_now and got.path is None and not list(tmp_path.iterdir())


def test_an_unwritable_cache_still_gives_the_weights(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    got = pretrained.load_or_train("toy", RECIPE, make_trainer([]), folder=blocker / "sub")
    assert got.trained_now and got.path is None and "weight" in got.state


def test_a_failed_training_leaves_nothing(tmp_path):
    def fails():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        pretrained.load_or_train("toy", RECIPE, fails, folder=tmp_path)
    assert not tmp_path.exists() or not list(tmp_path.rglob("*"))


def test_a_write_killed_midway_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    calls = []
    good = pretrained.load_or_train("toy", RECIPE, make_trainer(calls), folder=tmp_path)
    before = good.path.read_bytes()
    good.path.write_bytes(b"damaged")  # forces a retrain and a rewrite
    real_save = torch.save

    def save_then_die(obj, f):
        real_save(obj, f)
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        pretrained.load_or_train("toy", RECIPE, make_trainer(calls), folder=tmp_path)
    assert good.path.read_bytes() == b"damaged" != before
    assert leftovers(tmp_path) == []


def test_names_and_digests():
    with pytest.raises(InvalidArgument, match="letters, digits"):
        pretrained.cache_path("../escape", RECIPE)
    a = torch.arange(6, dtype=torch.uint8)
    assert pretrained.tensor_digest(a) == pretrained.tensor_digest(a.clone())
    assert pretrained.tensor_digest(a) != pretrained.tensor_digest(a.view(2, 3))  # the shape counts
    assert pretrained.tensor_digest(a) != pretrained.tensor_digest(a.long())  # the dtype counts
    assert pretrained.tensor_digest(torch.tensor(3)) != pretrained.tensor_digest(torch.tensor(4))  # 0-d tensors
    assert pretrained.tensor_digest(torch.tensor([True, False])) != pretrained.tensor_digest(torch.tensor([1, 0]))
