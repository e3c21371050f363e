"""Saving and loading (EE-559 10.4): what a checkpoint must hold for training to go on
exactly as if it had never stopped, and why loading one is done with ``weights_only=True``.

Three lessons, each measured in the run:

1. **Resume.** A small MLP with dropout is trained with Adam on shuffled mini-batches of
   a 2-D spiral set, once without a break and once stopped half-way, written to disk,
   loaded into *new* objects and continued. Restoring the model, the optimizer (Adam's
   moment estimates and step count) and the random state (the next shuffles and dropout
   masks) gives bit-identical weights at the end; leaving out the optimizer's state or
   the random state does not.
2. **state_dict vs pickled model.** ``torch.save(model)`` pickles the object, which
   stores a *reference* to its class by module and name; once that code is renamed or
   moved the file no longer loads. A ``state_dict`` is only named tensors: it loads into
   any model with the same parameter names and shapes.
3. **weights_only.** A checkpoint is a pickle, and unpickling can call any function.
   The lab writes a "malicious" checkpoint whose payload is harmless (it creates a
   marker file in the run folder): ``torch.load(weights_only=True)`` refuses it and the
   marker is not created; with ``weights_only=False`` the payload runs.

Check: the full resume equals the uninterrupted run exactly (max |w| difference 0),
each partial resume differs; the pickled model fails to load once its class is gone
while its state_dict loads and gives the same outputs; the malicious file is refused
with ``weights_only=True`` and its payload ran only without it.
"""

from __future__ import annotations

import importlib
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from dlc import viz
from dlc.data import toy
from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict


@dataclass
class Config:
    steps: int = 400  # Adam steps of the uninterrupted run (at least 2); the break comes half-way
    batch_size: int = 32  # samples per step
    lr: float = 1e-2  # Adam's step size
    hidden: int = 64  # width of the two hidden layers
    dropout: float = 0.2  # dropout probability (random masks: the random state must be restored)
    samples: int = 1000  # spiral points
    TINY = {"steps": 100}
    THREADS = 1  # a 2-64-64-3 MLP: one thread is fastest

    def __post_init__(self):
        if self.steps < 2:
            raise UsageError(f"--steps must be at least 2 (the run stops half-way), got {self.steps}")
        if not 0 <= self.dropout < 1:
            raise UsageError(f"--dropout must be in [0, 1), got {self.dropout}")
        if self.samples < self.batch_size:
            raise UsageError(f"--samples ({self.samples}) must be at least --batch_size ({self.batch_size})")
        if self.hidden < 1:
            raise UsageError(f"--hidden must be at least 1, got {self.hidden}")


def make_model(cfg: Config) -> nn.Module:
    return nn.Sequential(
        nn.Linear(2, cfg.hidden),
        nn.ReLU(),
        nn.Dropout(cfg.dropout),
        nn.Linear(cfg.hidden, cfg.hidden),
        nn.ReLU(),
        nn.Dropout(cfg.dropout),
        nn.Linear(cfg.hidden, 3),
    )


def train(model, optimizer, x, y, steps: int, batch_size: int) -> list[torch.Tensor]:
    """``steps`` Adam steps on batches drawn at random (torch's global generator); the
    weights after each step, as one flat vector each."""
    path = []
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(x), (batch_size,))
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        path.append(nn.utils.parameters_to_vector(model.parameters()).detach().clone())
    return path


def max_difference(a: nn.Module, b: nn.Module) -> float:
    return max(float((p - q).abs().max().detach()) for p, q in zip(a.parameters(), b.parameters()))


def save_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, step: int) -> None:
    """Write to ``path`` (with ``torch.save``) everything training needs to go on exactly as
    if it had never stopped: a dict with the keys ``"model"`` (the model's state_dict),
    ``"optimizer"`` (the optimizer's state_dict: Adam's moments and step count), ``"step"``
    (the int) and ``"rng"`` (torch's global random state, which draws the next batches and
    dropout masks)."""
    ### BEGIN SOLUTION
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step}
    torch.save({**state, "rng": torch.get_rng_state()}, path)
    ### END SOLUTION


def load_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Read the file :func:`save_checkpoint` wrote, safely (``weights_only=True``: tensors and
    plain containers only), into ``model`` and ``optimizer`` (new objects of the same
    shapes), restore torch's global random state, and return the step it was saved at."""
    ### BEGIN SOLUTION
    state = torch.load(path, weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"])
    return state["step"]
    ### END SOLUTION


def resume_experiment(cfg: Config, seed: int, folder: Path) -> dict:
    """The uninterrupted run, then runs stopped half-way and resumed from a file that holds
    everything, or leaves out the optimizer's state, or the random state."""
    x, y = toy.spirals(cfg.samples, classes=3, seed=seed)
    half = cfg.steps // 2

    torch.manual_seed(seed)
    ref = make_model(cfg)
    ref_opt = torch.optim.Adam(ref.parameters(), lr=cfg.lr)
    ref_path = train(ref, ref_opt, x, y, cfg.steps, cfg.batch_size)

    torch.manual_seed(seed)
    model = make_model(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    train(model, opt, x, y, half, cfg.batch_size)
    path = folder / "checkpoint.pt"
    save_checkpoint(path, model, opt, half)

    differences, gaps = {}, {}
    for variant in ("everything", "no optimizer state", "no random state"):
        torch.manual_seed(seed + 1)  # the new process's own random state
        resumed = make_model(cfg)  # new objects, as after a restart
        resumed_opt = torch.optim.Adam(resumed.parameters(), lr=cfg.lr)
        step = load_checkpoint(path, resumed, resumed_opt)
        # the partial resumes: throw one part of the restored state away again
        if variant == "no optimizer state":
            resumed_opt = torch.optim.Adam(resumed.parameters(), lr=cfg.lr)  # fresh moments, step count 0
        if variant == "no random state":
            torch.manual_seed(seed + 1)  # the new process's own random state, not the saved one
        rest = train(resumed, resumed_opt, x, y, cfg.steps - step, cfg.batch_size)
        # distance to the uninterrupted run's weights after the same step
        gaps[variant] = [float((w - r).abs().max()) for w, r in zip(rest, ref_path[half:])]
        differences[variant] = max_difference(ref, resumed)
    path.unlink()
    return {"differences": differences, "gaps": gaps, "half": half}


def pickle_experiment(folder: Path) -> dict:
    """Pickle a whole model whose class lives in a small module, then remove the module:
    the pickled model no longer loads; its state_dict still does."""
    name = "dlc_persistence_demo_model"
    source = folder / f"{name}.py"
    source.write_text(
        "import torch\n\n\nclass Scaler(torch.nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n"
        "        self.weight = torch.nn.Parameter(torch.randn(4))\n\n"
        "    def forward(self, x):\n        return x * self.weight\n"
    )
    sys.path.insert(0, str(folder))
    try:
        module = importlib.import_module(name)
        model = module.Scaler()
        torch.save(model, folder / "whole_model.pt")
        torch.save(model.state_dict(), folder / "state_dict.pt")
        x = torch.randn(3, 4)
        expected = model(x).detach()
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop(name, None)
        source.unlink()  # the code is gone (renamed, moved, or another machine)

    try:
        torch.load(folder / "whole_model.pt", weights_only=False)
        whole_error = ""
    except (ModuleNotFoundError, AttributeError) as e:
        whole_error = f"{type(e).__name__}: {e}"
    fresh = _ScalerHere()  # the same parameter names and shapes, defined by today's code
    fresh.load_state_dict(torch.load(folder / "state_dict.pt", weights_only=True))
    same = torch.equal(fresh(x).detach(), expected)
    for f in ("whole_model.pt", "state_dict.pt"):
        (folder / f).unlink()
    return {"whole_model_error": whole_error, "state_dict_loads_and_matches": same}


class _ScalerHere(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(4))

    def forward(self, x):
        return x * self.weight


def _touch(path: str) -> None:
    """The 'malicious' payload: harmless, it only leaves a marker file behind."""
    Path(path).write_text("this file was written while a checkpoint was being loaded\n")


class _Payload:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (_touch, (self.marker,))  # unpickling calls _touch(marker)


def malicious_experiment(folder: Path) -> dict:
    marker = folder / "payload-ran.txt"
    path = folder / "malicious.pt"
    torch.save({"model": {"weight": torch.zeros(2)}, "extra": _Payload(marker)}, path)
    try:
        torch.load(path, weights_only=True)
        refused = ""
    except pickle.UnpicklingError as e:
        refused = str(e).splitlines()[0]
    ran_when_safe = marker.exists()
    torch.load(path, weights_only=False)  # the unsafe way: the payload runs
    ran_when_unsafe = marker.exists()
    path.unlink()
    marker.unlink(missing_ok=True)
    return {"refused": refused, "ran_with_weights_only": ran_when_safe, "ran_without": ran_when_unsafe}


@lab(
    "persistence",
    source="EE-559 10.4",
    summary="checkpoints: exact resume needs model, optimizer and random state; state_dict vs pickle; weights_only",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    scratch = ctx.path("scratch")
    scratch.mkdir(exist_ok=True)
    resume = resume_experiment(cfg, ctx.seed, scratch)
    pickled = pickle_experiment(scratch)
    malicious = malicious_experiment(scratch)
    scratch.rmdir()

    d = resume["differences"]
    names = {
        "everything": "resumed with model + optimizer + random state",
        "no optimizer state": "resumed without the optimizer's state",
        "no random state": "resumed without the random state",
    }
    fig = viz.curves(
        {names[k]: v for k, v in resume["gaps"].items()},
        x=list(range(resume["half"] + 1, cfg.steps + 1)),
        xlabel=f"Adam step (stopped and resumed after step {resume['half']})",
        ylabel="max |w - w of the uninterrupted run|",
        title="Only a complete checkpoint resumes on the uninterrupted path",
    )
    for line, style in zip(fig.axes[0].get_lines(), ("-", "--", ":")):
        line.set_linestyle(style)
        line.set_linewidth(2)
    fig.axes[0].legend(fontsize=8)
    ctx.save_figure(fig, "resume")

    line = (
        f"resume from model + optimizer + random state: |Δw| = {d['everything']:.1g}; without the optimizer's state "
        f"{d['no optimizer state']:.1e}, without the random state {d['no random state']:.1e}; pickled model "
        f"{'fails' if pickled['whole_model_error'] else 'loads'} once its class is gone, state_dict loads; "
        f"malicious file {'refused' if malicious['refused'] else 'ACCEPTED'} with weights_only=True"
    )
    return Result(
        line,
        metrics={
            "steps": cfg.steps,
            "max_weight_difference": d,
            "whole_model_error": pickled["whole_model_error"],
            "state_dict_loads_and_matches": pickled["state_dict_loads_and_matches"],
            "weights_only_refusal": malicious["refused"],
            "payload_ran_with_weights_only": malicious["ran_with_weights_only"],
            "payload_ran_without_weights_only": malicious["ran_without"],
        },
    )


def check(result: Result) -> list:
    m = result.metrics
    d = m["max_weight_difference"]
    return [
        verdict("full resume: max |w - w_uninterrupted|", d["everything"], "==", 0),
        verdict("resume without optimizer state: max |Δw|", d["no optimizer state"], ">", 0),
        verdict("resume without random state: max |Δw|", d["no random state"], ">", 0),
        verdict("pickled model fails to load once its class is gone (1 = yes)", bool(m["whole_model_error"]), "==", 1),
        verdict(
            "its state_dict loads and gives the same outputs (1 = yes)", m["state_dict_loads_and_matches"], "==", 1
        ),
        verdict(
            "malicious checkpoint refused by weights_only=True (1 = yes)", bool(m["weights_only_refusal"]), "==", 1
        ),
        verdict("payload ran with weights_only=True (0 = no)", m["payload_ran_with_weights_only"], "==", 0),
        verdict("payload ran with weights_only=False (1 = it is live)", m["payload_ran_without_weights_only"], "==", 1),
    ]


# -- exercises (`dlc exercise persistence`, then `dlc check persistence`) ----------------------


def _trained(hidden: int, steps: int) -> tuple[nn.Module, torch.optim.Optimizer, torch.Tensor, torch.Tensor]:
    """A small model with dropout and its Adam, after ``steps`` steps on a spiral (float64)."""
    cfg = Config(hidden=hidden, dropout=0.3, samples=64, batch_size=8)
    x, y = toy.spirals(cfg.samples, classes=3, seed=1)
    model = make_model(cfg).double()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    train(model, opt, x.double(), y, steps, cfg.batch_size)
    return model, opt, x.double(), y


def _saved(f, hidden: int, steps: int) -> dict:
    """What the student's ``save_checkpoint`` wrote, read back."""
    import tempfile

    model, opt, _, _ = _trained(hidden, steps)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "checkpoint.pt"
        f(path, model, opt, steps)
        return torch.load(path, weights_only=True)


def _resumed(f, hidden: int, steps: int) -> dict:
    """Saved by dlc's ``save_checkpoint``, loaded by the student's into new objects, then
    three more steps: the step returned, and the weights and optimizer state reached."""
    import tempfile

    model, opt, x, y = _trained(hidden, steps)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "checkpoint.pt"
        save_checkpoint(path, model, opt, steps)
        torch.manual_seed(1234)  # another process's random state and initialisation
        new = make_model(Config(hidden=hidden, dropout=0.3)).double()
        new_opt = torch.optim.Adam(new.parameters(), lr=Config.lr)
        step = f(path, new, new_opt)
    train(new, new_opt, x, y, 3, 8)
    return {"step": step, "model": new.state_dict(), "optimizer": new_opt.state_dict()["state"]}


TASKS = [
    Task(
        "save_checkpoint",
        hint="put the model's and the optimizer's state_dicts, the step and torch's random state (torch.get_rng_state) "
        "in one dict, under the keys the docstring names, and torch.save it",
        cases=lambda g: [(4, 2), (8, 5)],
        call=_saved,
    ),
    Task(
        "load_checkpoint",
        hint="torch.load with weights_only=True, put each part back where it came from (load_state_dict, "
        "torch.set_rng_state) and return the step",
        cases=lambda g: [(4, 2), (8, 5)],
        call=_resumed,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
