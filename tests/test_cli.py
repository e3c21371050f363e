"""The command line: light start-up, lab options from the Config, clear errors."""

import dataclasses
import subprocess
import sys

import pytest

from dlc import labs
from dlc.cli import _option_type, lab_parser, main


def _imports_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


@pytest.mark.parametrize("argv", [["--help"], ["list"], []])
def test_help_and_list_do_not_import_torch(argv):
    code = ("from dlc.cli import main\n"
            "try:\n"
            f"    main({argv!r})\n"
            "except SystemExit:\n"
            "    pass")
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
            assert _option_type(f.type) in (int, float, str, bool), f"{id}.{f.name}: {f.type}"
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
    with pytest.raises(TypeError, match="has no option"):
        labs.make_config(lab, "default", momentum=0.9)


def test_bool_options_parse_words():
    from dlc.cli import _parse_bool
    assert _parse_bool("true") is True and _parse_bool("0") is False
    import argparse
    with pytest.raises(argparse.ArgumentTypeError):
        _parse_bool("maybe")
