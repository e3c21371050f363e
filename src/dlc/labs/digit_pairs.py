"""Mini-project 1 (EE-559): is the first of two digits smaller than or equal to the second?

``generate_pair_sets(1000)`` gives 1,000 training and 1,000 test pairs of 14 x 14
MNIST digits, each with its target (first <= second) and the two digits' classes.
The project asks how much two ideas gain over a plain convnet of ~70,000 parameters
trained for 25 epochs (the course: ~15% error, under 2 s per training in its VM):

- weight sharing: one digit network reads both digits (a siamese network), then a
  small network compares the two outputs;
- auxiliary losses: the digit network is also trained to classify each digit.

Each configuration is trained over several rounds, each with new pairs and a new
initialisation (at least 10 at the default size), and the table reports mean ± std of
the test accuracy with the parameter counts. A batch is three tensors, the pairs, their
targets and the digits' classes, and :class:`PairStep` is the step of the training loop
that reads them: the pair loss plus the weighted digit loss; batched tensors on the
device, no DataLoader.

Check: every configuration beats chance (always answering the training set's more
frequent target) by more than 15 points of test accuracy, and weight sharing +
auxiliary loss beats the plain baseline (when both are among ``--models``).

Exercises (``dlc exercise digit-pairs``): the siamese network's forward
(:class:`SiameseNet`, weight sharing) and the loss with its auxiliary term
(:func:`total_loss`). ``dlc check digit-pairs DIR`` grades a whole project package
instead (see :mod:`dlc.exercise.miniprojects`).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dlc import prologue
from dlc.data.tensors import MNIST
from dlc.engine import Callback, Step, evaluate, fit, seed_everything
from dlc.engine.callbacks import MetricsLogger
from dlc.errors import DlcError, UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict
from dlc.models.pairs import DigitNet, DigitPairNet, PairConvNet, count_parameters
from dlc.options import parse_list
from dlc.progress import progress_bar
from dlc.stats import standardize

# name -> (what it is, model factory, auxiliary loss on?)
MODELS = {
    "baseline": ("plain convnet, 2 channels", lambda: PairConvNet(), False),
    "sharing": ("siamese digit net + comparison", lambda: SiameseNet(), False),
    "aux": ("two digit nets + auxiliary loss", lambda: DigitPairNet(share=False), True),
    "sharing+aux": ("siamese + auxiliary loss", lambda: SiameseNet(), True),
}
# A round draws 2 x pairs distinct images from each of MNIST's sets: the test set (10,000) limits it.
MAX_PAIRS = min(MNIST.counts.values()) // 2
CHANCE_MARGIN = 0.15  # the check: each configuration's test accuracy above chance + 15 points


@dataclass
class Config:
    pairs: int = 1000  # training pairs, and as many test pairs (the project's 1,000; 1 to 5,000)
    rounds: int = 10  # repetitions, each with new pairs and initialisations (the project: at least 10)
    epochs: int = 25  # training epochs of every model in every round (the project's 25; at least 1)
    batch_size: int = 100  # pairs per mini-batch (chosen here)
    lr: float = 1e-3  # Adam's learning rate (chosen here: the project leaves it to the student)
    aux_weight: float = 1.0  # weight of the digit-classification loss in the aux models (0: none)
    models: str = "baseline,sharing,sharing+aux"  # the configurations compared, comma-separated:
    # any of baseline, sharing, aux, sharing+aux (the first is the reference of the gain column)
    TINY = {"pairs": 300, "rounds": 2}
    FULL = {"models": "baseline,sharing,aux,sharing+aux", "rounds": 20}
    # Batches of 100 pairs of 14 x 14 digits: one intra-op thread does the same work, and does
    # not collapse when other processes share the cores (2 threads under load: 6x the CPU time).
    THREADS = 1

    def __post_init__(self):
        parse_models(self.models)
        if not 1 <= self.pairs <= MAX_PAIRS:
            raise UsageError(
                f"--pairs must be at least 1 and at most {MAX_PAIRS:,}, got {self.pairs:,}: each round "
                f"draws 2 x pairs different digits from MNIST's test set, which has "
                f"{MNIST.counts['test']:,} (e.g. --pairs 1000)"
            )
        for name in ("rounds", "epochs"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if self.batch_size < 1:
            raise UsageError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.lr <= 0:
            raise UsageError(f"lr must be positive, got {self.lr}")
        if self.aux_weight < 0:
            raise UsageError(f"aux_weight must be >= 0 (0: no auxiliary loss), got {self.aux_weight}")


def parse_models(spec: str) -> list[str]:
    """The configurations named in ``--models`` (comma-separated), in that order."""
    return parse_list("models", spec, choices=MODELS, example="baseline,sharing+aux")


def round_data(nb: int, data_dir, device):
    """One round's pairs, normalised with the training inputs' mean and std.

    Returns ``(train, test)``, each the three tensors of a batch of :class:`PairStep`:
    ``(pairs N x 2 x 14 x 14, target N (first <= second), classes N x 2 (the two digits))``.
    """
    tr_x, tr_y, tr_c, te_x, te_y, te_c = prologue.generate_pair_sets(nb, data_dir=data_dir, device=device)
    tr_x, te_x = standardize(tr_x, te_x)
    return (tr_x, tr_y, tr_c), (te_x, te_y, te_c)


class SiameseNet(nn.Module):
    """Weight sharing: one digit network reads each of the two digits, then a small network
    compares the two digits' 10 outputs (those of ``DigitPairNet(share=True)``, 72,320
    parameters)."""

    def __init__(self, hidden: int = 220, compare_hidden: int = 64):
        super().__init__()
        self.digit = DigitNet(hidden)  # one 1 x 14 x 14 digit -> 10 logits
        self.compare = nn.Sequential(nn.Linear(20, compare_hidden), nn.ReLU(), nn.Linear(compare_hidden, 2))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x``: pairs, (N, 2, 14, 14). Returns ``(pair_logits (N, 2), digit_logits (N, 2, 10))``:
        ``self.digit`` on each digit (one call on the 2N digits as (2N, 1, 14, 14) images), then
        ``self.compare`` on the two digits' logits side by side, (N, 20)."""
        if x.dim() != 4 or tuple(x.shape[1:]) != (2, 14, 14):
            raise DlcError(f"SiameseNet expects pairs of shape (N, 2, 14, 14), got {tuple(x.shape)}")
        ### BEGIN SOLUTION
        n = x.shape[0]
        digits = self.digit(x.reshape(2 * n, 1, 14, 14)).view(n, 2, 10)
        return self.compare(digits.flatten(1)), digits
        ### END SOLUTION


def total_loss(outputs, target: torch.Tensor, classes: torch.Tensor | None, aux_weight: float) -> torch.Tensor:
    """The training loss: the cross-entropy of the pair logits against ``target`` (N,), plus
    ``aux_weight`` x the cross-entropy of the digit logits against ``classes`` (N, 2), the mean
    over the 2N digits (the auxiliary loss; none when ``aux_weight`` is 0).

    ``outputs`` is a model's ``(pair_logits (N, 2), digit_logits (N, 2, 10) or None)``. Returns a
    0-d tensor."""
    pair_logits, digit_logits = outputs
    if aux_weight and (digit_logits is None or classes is None):
        raise DlcError("an auxiliary digit loss needs a model with digit outputs (SiameseNet) and the digit classes")
    ### BEGIN SOLUTION
    loss = F.cross_entropy(pair_logits, target)
    if aux_weight:
        loss = loss + aux_weight * F.cross_entropy(digit_logits.reshape(-1, 10), classes.reshape(-1))
    return loss
    ### END SOLUTION


class PairStep(Step):
    """The training loop's step for digit pairs: a batch is ``(x, target, classes)``.

    The loss is the pair cross-entropy plus ``aux_weight`` x the digit cross-entropy
    (:func:`total_loss`); the scores are that ``loss``, the pair
    ``error``, and with an auxiliary loss the ``digit_error`` (over both digits).
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, aux_weight: float = 0.0):
        self.model, self.optimizer, self.aux_weight = model, optimizer, aux_weight

    @property
    def auxiliary(self) -> bool:
        return self.aux_weight > 0

    def _scores(self, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, target, classes = batch
        outputs = self.model(x)
        loss = total_loss(outputs, target, classes, self.aux_weight)
        pair_logits, digit_logits = outputs
        scores = {"loss": loss.detach().float(), "error": (pair_logits.detach().argmax(1) != target).float().mean()}
        if self.auxiliary:
            scores["digit_error"] = (digit_logits.detach().argmax(2) != classes).float().mean()
        return loss, scores

    def __call__(self, batch):
        loss, scores = self._scores(batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return scores

    def evaluate(self, batch):
        return self._scores(batch)[1]


class EpochTicks(Callback):
    """Moves the lab's progress bar one epoch on, at the end of each epoch of an inner fit."""

    def __init__(self, bar):
        self.bar = bar

    def on_epoch_end(self, loop, record: dict) -> None:
        self.bar.update(1)


def train_one(name: str, cfg: Config, train, ctx, tag: str, bar=None) -> tuple[PairStep, list[dict]]:
    """Train a fresh model of configuration ``name`` on one round's training pairs
    (``bar``: a progress bar moved on at every epoch)."""
    _, factory, aux = MODELS[name]
    model = factory().to(ctx.device)
    step = PairStep(model, torch.optim.Adam(model.parameters(), lr=cfg.lr), aux_weight=cfg.aux_weight if aux else 0.0)
    # Many short inner fits: their epoch records in metrics.jsonl, nothing else.
    callbacks = [MetricsLogger(every=0)] + ([EpochTicks(bar)] if bar is not None else [])
    history = fit(step, train, ctx, epochs=cfg.epochs, batch_size=cfg.batch_size, callbacks=callbacks, name=tag)
    return step, history


@lab(
    "digit-pairs",
    source="EE-559 mini-project 1",
    summary="digit pairs: plain convnet vs weight sharing vs auxiliary losses, over seeded rounds",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    names = parse_models(cfg.models)
    results = {n: {"acc": [], "digit": [], "time": []} for n in names}
    params = {n: count_parameters(MODELS[n][1]()) for n in names}
    chance = []
    # One bar over everything (rounds x models x epochs); a line per round above it.
    bar = progress_bar(ctx, cfg.rounds * len(names) * cfg.epochs, unit="epoch")
    for r in range(cfg.rounds):
        seed_everything(ctx.seed * 1000 + r)  # new pairs and initialisations each round
        train, test = round_data(cfg.pairs, ctx.data_dir, ctx.device)
        # Chance: always answer the training set's more frequent target.
        majority = int(train[1].float().mean() >= 0.5)
        chance.append((test[1] == majority).float().mean().item())
        for n in names:
            bar.set_description(f"round {r + 1}/{cfg.rounds}, {n}")
            t0 = time.perf_counter()
            step, history = train_one(n, cfg, train, ctx, f"round{r}-{n}", bar)
            seconds = time.perf_counter() - t0
            scores = evaluate(step, test, ctx)
            acc = 1 - scores["error"]
            # digit outputs mean digits only when trained as such (an auxiliary loss)
            digit = 1 - scores["digit_error"] if step.auxiliary else None
            results[n]["acc"].append(acc)
            results[n]["time"].append(seconds)
            if digit is not None:
                results[n]["digit"].append(digit)
            ctx.log(
                kind="round",
                round=r,
                model=n,
                test_accuracy=acc,
                digit_accuracy=digit,
                train_loss=history[-1]["train_loss"],
                seconds=seconds,
            )
        if not ctx.quiet:
            bar.write(
                f"round {r + 1}/{cfg.rounds}: test accuracy "
                + ", ".join(f"{n} {results[n]['acc'][-1]:.1%}" for n in names)
            )
    bar.close()

    rows = []
    for n in names:
        accs = results[n]["acc"]
        rows.append(
            {
                "model": n,
                "what": MODELS[n][0],
                "params": params[n],
                "mean": statistics.mean(accs),
                "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                "digit": statistics.mean(results[n]["digit"]) if results[n]["digit"] else None,
                "seconds": statistics.mean(results[n]["time"]),
            }
        )
    table = format_table(rows, cfg, statistics.mean(chance))
    ctx.print(table)
    path = ctx.write_text("table.md", table + "\n")
    ctx.save_figure(bar_chart(rows, statistics.mean(chance), cfg), "accuracy")

    base = rows[0]
    best = max(rows, key=lambda row: row["mean"])
    line = (
        f"{best['model']} {best['mean']:.1%} ± {best['std']:.1%} vs {base['model']} "
        f"{base['mean']:.1%} ± {base['std']:.1%} test accuracy over {cfg.rounds} rounds "
        f"({cfg.epochs} epochs, {cfg.pairs} pairs; chance {statistics.mean(chance):.1%})"
    )
    metrics = {
        "chance": statistics.mean(chance),
        "rounds": cfg.rounds,
        "accuracy": {row["model"]: row["mean"] for row in rows},
        "accuracy_std": {row["model"]: row["std"] for row in rows},
        "params": {row["model"]: row["params"] for row in rows},
        "seconds_per_training": {row["model"]: row["seconds"] for row in rows},
        "digit_accuracy": {row["model"]: row["digit"] for row in rows if row["digit"] is not None},
        "per_round": {n: results[n]["acc"] for n in names},
    }
    return Result(line, metrics=metrics, artifacts=[path])


def check(result: Result) -> list:
    """The project's point: every configuration learns the comparison (far above chance),
    and the two ideas together beat the plain convnet."""
    m = result.metrics
    chance = m["chance"]
    out = [
        verdict(f"{name} test accuracy above chance + {CHANCE_MARGIN:.0%}", acc, ">", chance + CHANCE_MARGIN)
        for name, acc in m["accuracy"].items()
    ]
    if "baseline" in m["accuracy"] and "sharing+aux" in m["accuracy"]:
        out.append(
            verdict(
                "sharing+aux test accuracy above the baseline's",
                m["accuracy"]["sharing+aux"],
                ">",
                m["accuracy"]["baseline"],
            )
        )
    return out


def format_table(rows: list[dict], cfg: Config, chance: float) -> str:
    """A markdown table: what each idea gains over the first row (the baseline)."""
    base = rows[0]["mean"]
    lines = [
        f"Digit pairs: test accuracy over {cfg.rounds} rounds of {cfg.pairs} pairs, "
        f"{cfg.epochs} epochs (chance {chance:.1%})",
        "",
        "| model | what | parameters | test accuracy | gain | digit accuracy | s / training |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        digit = f"{row['digit']:.1%}" if row["digit"] is not None else "-"
        lines.append(
            f"| {row['model']} | {row['what']} | {row['params']:,} | "
            f"{row['mean']:.1%} ± {row['std']:.1%} | {row['mean'] - base:+.1%} | "
            f"{digit} | {row['seconds']:.2f} |"
        )
    return "\n".join(lines)


def bar_chart(rows: list[dict], chance: float, cfg: Config):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.6 * len(rows) + 2, 3.8))
    xs = range(len(rows))
    ax.bar(
        xs, [100 * r["mean"] for r in rows], yerr=[100 * r["std"] for r in rows], capsize=6, color="tab:blue", alpha=0.8
    )
    for x, r in zip(xs, rows):
        ax.text(
            x,
            100 * (r["mean"] + r["std"]) + 0.5,
            f"{r['mean']:.1%}\n{r['params']:,} p.",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.axhline(100 * chance, color="k", linestyle="--", linewidth=1, label="chance")
    ax.set_xticks(list(xs), [r["model"] for r in rows])
    ax.set_ylim(100 * chance - 10, 100)
    ax.set_xlabel("configuration (p. = parameters)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(
        f"digit pairs, is the first <= the second? test accuracy, mean ± std\n"
        f"over {cfg.rounds} rounds of {cfg.pairs} pairs, {cfg.epochs} epochs",
        fontsize=10,
    )
    ax.legend(loc="lower right")
    return fig


# -- exercises (`dlc exercise digit-pairs`, then `dlc check digit-pairs`) ------------------


def _pairs(g: torch.Generator, n: int) -> torch.Tensor:
    return torch.randn(n, 2, 14, 14, generator=g, dtype=torch.float64)


def _loss_cases(g: torch.Generator) -> list[tuple]:
    n = 6
    pair_logits = torch.randn(n, 2, generator=g, dtype=torch.float64)
    digit_logits = torch.randn(n, 2, 10, generator=g, dtype=torch.float64)
    classes = torch.randint(0, 10, (n, 2), generator=g)
    target = (classes[:, 0] <= classes[:, 1]).long()
    return [
        ((pair_logits, digit_logits), target, classes, 0.5),
        ((pair_logits, digit_logits), target, classes, 0.0),
        ((pair_logits[:3], None), target[:3], None, 0.0),  # the baseline: no digit outputs
    ]


TASKS = [
    Task(
        "SiameseNet",
        hint="run self.digit once on the 2N digits reshaped to (2N, 1, 14, 14), view its logits as (N, 2, 10), "
        "and feed them flattened to (N, 20) to self.compare; return both",
        cases=lambda g: [(_pairs(g, 4),), (_pairs(g, 1),)],
        build=lambda cls: cls(),
        grad=True,
    ),
    Task(
        "total_loss",
        hint="cross-entropy of the pair logits, plus aux_weight times the cross-entropy of the digit logits "
        "(reshaped to (2N, 10)) against the classes (2N,) when aux_weight is not 0",
        cases=_loss_cases,
        grad=True,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
