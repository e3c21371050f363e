"""The fault-injection suite: the uninterrupted reference run, and a table of attempts and
passes per fault class (one class per test function) at the end of the session."""

import os
from collections import defaultdict

import pytest

from tests.faults.harness import Fault, fired, in_child, run_folders, run_here

_tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="the fault suite runs its runs in forked processes")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/faults/" in item.nodeid.replace("\\", "/"):
            item.add_marker(needs_fork)


def pytest_runtest_logreport(report):
    if "tests/faults/" not in report.nodeid.replace("\\", "/"):
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if report.skipped:
            return
        fault_class = report.nodeid.split("::")[-1].split("[")[0]
        _tally[fault_class][0] += 1
        _tally[fault_class][1] += report.passed


def pytest_terminal_summary(terminalreporter):
    if not _tally:
        return
    tr = terminalreporter
    tr.section("fault injection: attempts and passes per fault class")
    width = max(len(k) for k in _tally)
    for k, (attempts, passes) in sorted(_tally.items()):
        tr.write_line(f"{k:<{width}}  {attempts:>3} attempts  {passes:>3} passed")
    total = [sum(v[i] for v in _tally.values()) for i in (0, 1)]
    tr.write_line(f"{'total':<{width}}  {total[0]:>3} attempts  {total[1]:>3} passed")


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """The uninterrupted run's folder; ``reference.writes``: how many files it wrote."""
    root = tmp_path_factory.mktemp("reference")
    counting = Fault("count")  # the seams installed, counting the writes; it never strikes
    status = in_child(run_here, root, counting, None, root / "faults.log", report=root / "report.txt")
    assert status == 0, (root / "report.txt").read_text() if (root / "report.txt").exists() else status
    (run,) = run_folders(root)
    (writes,) = [r["writes"] for r in fired(root / "faults.log") if "writes" in r]
    return Reference(run, writes)


class Reference:
    def __init__(self, run, writes):
        self.run, self.writes = run, writes
