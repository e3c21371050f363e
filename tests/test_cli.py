"""The command line: light start-up, lab options from the Config, clear errors."""

import dataclasses
import subprocess
import sys

import pytest

from dlc import labs
from dlc.cli import _option_type, lab_parser, main
from dlc.errors import UsageError


def _imports_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


@pytest.mark.parametrize("argv", [["--help"], ["list"], []])
def test_help_and_list_do_not_import_torch(argv):
    code = f"from dlc.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass"
    mods = _imports_after(code)
    assert "torch" not in mods and "numpy" not in mods


def test_list_shows_every_lab_with_source_and_summary(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for info in labs.catalog().values():
        line = next(l for l in out.splitlines() if l.split()[0] == info.id)
        assert info.source in line and info.summary in line


def test_catalog_read_from_source_matches_registration():
    for id, info in labs.catalog().items():
        lab = labs.get(id)
        assert lab.info == info, f"the source and the registration of {id!r} disagree"


def test_unknown_lab_lists_close_matches(capsys):
    ids = list(labs.catalog())
    if not ids:
        pytest.skip("no lab registered")
    typo = ids[0][:-1]
    assert main(["run", typo]) == 2
    err = capsys.readouterr().err
    assert f"no lab called {typo!r}" in err and ids[0] in err


def test_every_config_field_is_an_option_with_type_and_default():
    for id in labs.catalog():
        lab = labs.get(id)
        p = lab_parser(lab)
        text = p.format_help()
        for f in dataclasses.fields(lab.config):
            assert f"--{f.name}" in text, f"{id}: --{f.name} missing from --help"
            assert _option_type(f.type)[0] in (int, float, str, bool), f"{id}.{f.name}: {f.type}"
        for preset in ("TINY", "FULL"):
            unknown = set(getattr(lab.config, preset, {}) or {}) - {f.name for f in dataclasses.fields(lab.config)}
            assert not unknown, f"{id}.{preset} names fields that do not exist: {unknown}"


def test_make_config_presets_then_overrides():
    @dataclasses.dataclass
    class C:
        epochs: int = 10
        lr: float = 0.1
        TINY = {"epochs": 2}

    lab = labs.Lab(labs.LabInfo("x", "", "", "m"), C, lambda c, x: None)
    assert labs.make_config(lab, "tiny").epochs == 2
    assert labs.make_config(lab, "tiny", epochs=5).epochs == 5
    assert labs.make_config(lab, "default").epochs == 10
    with pytest.raises(UsageError, match="has no option"):
        labs.make_config(lab, "default", momentum=0.9)


def test_size_is_configuration_from_one_table():
    """train_size / test_size come from SIZE_PRESETS for any Config that has them, can be
    overridden one by one, and the Config's default equals the table's default row."""

    @dataclasses.dataclass
    class C:
        epochs: int = 10
        train_size: int | None = 1000
        test_size: int | None = 1000
        TINY = {"epochs": 2}

    lab = labs.Lab(labs.LabInfo("x", "", "", "m"), C, lambda c, x: None)
    assert (labs.make_config(lab, "tiny").train_size, labs.make_config(lab, "tiny").test_size) == (500, 100)
    assert labs.make_config(lab, "full").train_size is None
    assert labs.make_config(lab, "tiny", train_size=5000).train_size == 5000
    assert labs.make_config(lab, "tiny", train_size=5000).test_size == 100
    for id in labs.catalog():
        cfg = labs.get(id).config
        fields = {f.name: f.default for f in dataclasses.fields(cfg)}
        for k, v in labs.SIZE_PRESETS["default"].items():
            if k in fields:
                assert fields[k] == v, f"{id}.{k} defaults to {fields[k]}, the size table says {v}"


def test_size_options_accept_all_on_the_command_line(tmp_path):
    lab = labs.get("lecture-convnet")
    opts = lab_parser(lab).parse_args(["--train_size", "all", "--test_size", "200"])
    assert opts.train_size is None and opts.test_size == 200
    assert not hasattr(lab_parser(lab).parse_args([]), "lr")  # unset options stay unset


def test_errors_a_user_can_cause_are_one_line_with_exit_codes(tmp_path, capsys):
    runs = str(tmp_path / "runs")
    # bad usage: exit 2, one line, no traceback, no run folder
    assert main(["run", "lecture-convnet", "--tiny", "--train_size", "0", "--runs_dir", runs]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dlc: error: ") and "train_size" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()
    # a failed run: exit 1 (here: more samples than MNIST has), and no run folder
    assert main(["run", "lecture-convnet", "--train_size", "70000", "--runs_dir", runs, "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "70,000" in err and "60,000" in err and "Traceback" not in err
    assert not list((tmp_path / "runs").glob("*/*"))


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(UsageError):
        main(["run", "lecture-convnet", "--tiny", "--train_size", "0", "--debug", "--runs_dir", str(tmp_path)])


def test_an_unexpected_exception_is_reported_as_a_bug_without_traceback(monkeypatch, capsys):
    import dlc.cli

    def boom(*a, **k):
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(dlc.cli, "cmd_list", boom)
    assert main(["list"]) == 1
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError: oops" in err and "--debug" in err and "Traceback" not in err


def test_catalogue_is_cached_by_file_times_and_sizes(tmp_path, monkeypatch):
    monkeypatch.setenv("DLC_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "labs"
    folder.mkdir()
    (folder / "one.py").write_text('@lab("one", source="s", summary="first", config=C)\ndef run(): ...\n')
    assert list(labs.catalog(folder)) == ["one"]
    assert list((tmp_path / "cache" / "catalog").glob("*.json"))
    calls = []
    monkeypatch.setattr(labs, "_literal_lab_calls", lambda p: calls.append(p) or [])
    assert list(labs.catalog(folder)) == ["one"] and not calls  # from the cache, nothing parsed
    (folder / "two.py").write_text('@lab("two", source="s", summary="second", config=C)\ndef run(): ...\n')
    monkeypatch.undo()
    monkeypatch.setenv("DLC_CACHE_DIR", str(tmp_path / "cache"))
    assert list(labs.catalog(folder)) == ["one", "two"]  # a new file: read again


def test_no_lab_module_imports_another():
    import ast
    from pathlib import Path

    folder = Path(labs.__file__).parent
    for path in folder.glob("*.py"):
        if path.name == "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("dlc.labs."), f"{path.name} imports {node.module}"
                if node.module == "dlc.labs":
                    names = {a.name for a in node.names}
                    assert names <= {"Result", "lab", "verdict", "Verdict", "SIZE_PRESETS"}, (path.name, names)


def test_bool_options_parse_words():
    from dlc.cli import _parse_bool

    assert _parse_bool("true") is True and _parse_bool("0") is False
    import argparse

    with pytest.raises(argparse.ArgumentTypeError):
        _parse_bool("maybe")


def test_a_closed_pipe_is_not_an_error(tmp_path):
    """`dlc run LAB | head -1`: the reader may leave before the lab has printed (here it
    leaves at once, so every write after the run meets a closed pipe)."""
    out = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {sys.executable} -m dlc run tensors --tiny --quiet --runs_dir runs | true"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert list((tmp_path / "runs").rglob("summary.json"))
