"""Run a lab at --tiny in a temporary runs folder and check its run folder."""

import json

from dlc.labs import run_lab


def run_tiny(lab_id, runs_dir, **overrides):
    result = run_lab(lab_id, size="tiny", runs_dir=runs_dir, quiet=True, **overrides)
    assert_run_folder(result)
    return result


def assert_checks(result):
    """The lab's own check (its ``check(result)``, run by run_lab) passed, verdict by
    verdict; the verdicts are also in summary.json."""
    assert result.verdicts, "the lab's check returned no verdict"
    failed = [str(v) for v in result.verdicts if not v.passed]
    assert not failed, "check failed: " + "; ".join(failed)
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert [c["name"] for c in summary["checks"]] == [v.name for v in result.verdicts]


def assert_run_folder(result, figures=True):
    """The lab contract: config, metrics, summary with the result line, figures as PNG."""
    d = result.run_dir
    assert d is not None and d.is_dir()
    config = json.loads((d / "config.json").read_text())
    assert config["lab"] and "config" in config
    summary = json.loads((d / "summary.json").read_text())
    assert summary["line"] == result.line and result.line
    assert (d / "metrics.jsonl").is_file()
    if figures:
        pngs = list(d.glob("*.png"))
        assert pngs, f"no figure in {d}"
        for p in pngs:
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return summary
