"""The README's example lab is a working lab: it runs in a run folder and passes its check."""

import re
import sys
import types
from pathlib import Path

from dlc import labs
from dlc.engine import RunContext

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_example_lab_runs_and_passes_its_check(tmp_path):
    text = README.read_text(encoding="utf-8")
    code = re.search(r"<!-- example-lab -->\n```python\n(.*?)```", text, re.S).group(1)
    assert len(code.strip().splitlines()) <= 40
    module = types.ModuleType("dlc_readme_example")
    sys.modules[module.__name__] = module
    try:
        exec(compile(code, "README example", "exec"), module.__dict__)
        lab = labs._REGISTRY.pop("line")
        lab.check = module.check
        cfg = labs.make_config(lab, "tiny")
        with RunContext.open("line", cfg, runs_dir=tmp_path, quiet=True, force_cpu=True) as ctx:
            result = lab.run(cfg, ctx)
            result.verdicts = lab.check(result)
            ctx.finish(result)
    finally:
        del sys.modules[module.__name__]
    assert result.verdicts and result.passed, [str(v) for v in result.verdicts]
    assert (result.run_dir / "checkpoints" / "last.pt").is_file()
    assert (result.run_dir / "curves.png").is_file()
