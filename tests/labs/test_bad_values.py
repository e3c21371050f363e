"""Every option of every lab, given a value no lab can take, is refused before anything
runs: exit code 2, one line naming the option, no traceback, no run folder."""

import dataclasses

import pytest

from dlc import labs
from dlc.cli import main
from dlc.options import field_types


def _is_rate(name):
    return name == "lr" or name.startswith("lr_") or name.endswith("_lr")


def bad_values():
    cases = []
    for lab_id in labs.catalog():
        lab = labs.get(lab_id)
        for name, (tp, _optional) in field_types(lab.config).items():
            if tp is float:
                cases += [(lab_id, name, "nan"), (lab_id, name, "inf"), (lab_id, name, "ten")]
                if _is_rate(name):
                    cases += [(lab_id, name, "-1"), (lab_id, name, "0")]
            elif tp is int:
                cases += [(lab_id, name, "-1"), (lab_id, name, "2.5")]
            elif tp is bool:
                cases.append((lab_id, name, "maybe"))
    return cases


CASES = bad_values()


def test_every_lab_has_options_to_test():
    assert {c[0] for c in CASES} == set(labs.catalog())


@pytest.mark.parametrize("lab_id, name, value", CASES, ids=[f"{a}--{b}={c}" for a, b, c in CASES])
def test_a_bad_value_is_refused_before_the_run(lab_id, name, value, tmp_path, monkeypatch, capsys):
    from dlc.engine.context import RunContext

    def no_run(*args, **kwargs):
        raise AssertionError("the run started although an option was bad")

    monkeypatch.setattr(RunContext, "open", no_run)
    runs = tmp_path / "runs"
    code = exit_code(["run", lab_id, "--tiny", f"--{name}", value, "--runs_dir", str(runs), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err
    assert f"--{name}" in err
    assert not runs.exists()


def exit_code(argv):
    """The command's exit code, whether it returns it or argparse exits (a value that does
    not even parse as the option's type)."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


def test_defaults_and_presets_are_valid_for_every_lab():
    for lab_id in labs.catalog():
        lab = labs.get(lab_id)
        for size in ("tiny", "default", "full"):
            cfg = labs.make_config(lab, size)
            assert dataclasses.is_dataclass(cfg)
