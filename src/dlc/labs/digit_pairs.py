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
the test accuracy with the parameter counts. Training is batched tensors on the
device through the shared Trainer, no DataLoader.

Check: every configuration beats chance (always answering the more frequent target)
clearly, and weight sharing + auxiliary loss beats the plain baseline.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch

from dlc import prologue
from dlc.engine import Trainer, seed_everything
from dlc.engine.callbacks import MetricsLogger
from dlc.errors import DlcError
from dlc.labs import Result, lab
from dlc.models.pairs import DigitPairNet, PairConvNet, count_parameters, pair_loss

# name -> (what it is, model factory, auxiliary loss on?)
MODELS = {
    "baseline": ("plain convnet, 2 channels", lambda: PairConvNet(), False),
    "sharing": ("siamese digit net + comparison", lambda: DigitPairNet(share=True), False),
    "aux": ("two digit nets + auxiliary loss", lambda: DigitPairNet(share=False), True),
    "sharing+aux": ("siamese + auxiliary loss", lambda: DigitPairNet(share=True), True),
}


@dataclass
class Config:
    pairs: int = 1000         # training pairs and test pairs (the project's 1,000)
    rounds: int = 10          # new data and initialisation each round (the project: >= 10)
    epochs: int = 25
    batch_size: int = 100
    lr: float = 1e-3          # Adam
    aux_weight: float = 1.0   # weight of the digit-classification loss
    models: str = "baseline,sharing,sharing+aux"  # any of baseline, sharing, aux, sharing+aux
    TINY = {"pairs": 300, "rounds": 2}
    FULL = {"models": "baseline,sharing,aux,sharing+aux", "rounds": 20}

    def __post_init__(self):
        parse_models(self.models)
        if self.rounds < 1 or self.epochs < 1:
            raise DlcError(f"rounds and epochs must be >= 1, got {self.rounds} and {self.epochs}")


def parse_models(spec: str) -> list[str]:
    names = [m.strip() for m in spec.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if unknown or not names:
        raise DlcError(f"unknown model(s) {unknown or spec!r}; choose from {', '.join(MODELS)} "
                       f"(comma-separated, e.g. --models baseline,sharing+aux)")
    return names


def round_data(nb: int, data_dir, device):
    """One round's pairs, normalised with the training inputs' mean and std.

    The targets go to the Trainer as one N x 3 tensor: (first <= second, digit 1, digit 2).
    """
    tr_x, tr_y, tr_c, te_x, te_y, te_c = prologue.generate_pair_sets(nb, data_dir=data_dir,
                                                                     device=device)
    mu, std = tr_x.mean(), tr_x.std()
    tr_x, te_x = (tr_x - mu) / std, (te_x - mu) / std
    return (tr_x, torch.cat((tr_y[:, None], tr_c), 1)), (te_x, torch.cat((te_y[:, None], te_c), 1))


@torch.no_grad()
def accuracy(model, data) -> tuple[float, float | None]:
    """Pair accuracy, and digit accuracy when the model has per-digit outputs."""
    x, y = data
    model.eval()
    pair_logits, digit_logits = model(x)
    model.train()
    pair = (pair_logits.argmax(1) == y[:, 0]).float().mean().item()
    digit = None
    if digit_logits is not None:
        digit = (digit_logits.argmax(2) == y[:, 1:]).float().mean().item()
    return pair, digit


def train_one(name: str, cfg: Config, train, ctx, tag: str):
    """Train a fresh model of configuration ``name`` on one round's training pairs."""
    _, factory, aux = MODELS[name]
    model = factory().to(ctx.device)
    weight = cfg.aux_weight if aux else 0.0

    def loss(output, y):
        return pair_loss(output, y[:, 0], y[:, 1:], weight)

    trainer = Trainer(model, torch.optim.Adam(model.parameters(), lr=cfg.lr), ctx, loss=loss,
                      metric=None, name=tag, progress=False, tensorboard=False,
                      checkpoints=False, plot=False, callbacks=[MetricsLogger(every=0)])
    history = trainer.fit(train, epochs=cfg.epochs, batch_size=cfg.batch_size)
    return model, history


@lab("digit-pairs", source="EE-559 mini-project 1",
     summary="digit pairs: plain convnet vs weight sharing vs auxiliary losses, over seeded rounds",
     config=Config)
def run(cfg: Config, ctx) -> Result:
    names = parse_models(cfg.models)
    results = {n: {"acc": [], "digit": [], "time": []} for n in names}
    params = {n: count_parameters(MODELS[n][1]()) for n in names}
    chance = []
    for r in range(cfg.rounds):
        seed_everything(ctx.seed * 1000 + r)       # new pairs and initialisations each round
        train, test = round_data(cfg.pairs, ctx.data_dir, ctx.device)
        # Chance: always answer the training set's more frequent target.
        majority = int(train[1][:, 0].float().mean() >= 0.5)
        chance.append((test[1][:, 0] == majority).float().mean().item())
        for n in names:
            t0 = time.perf_counter()
            model, history = train_one(n, cfg, train, ctx, f"round{r}-{n}")
            seconds = time.perf_counter() - t0
            acc, digit = accuracy(model, test)
            results[n]["acc"].append(acc)
            results[n]["time"].append(seconds)
            if MODELS[n][2]:        # digit outputs mean digits only when trained as such
                results[n]["digit"].append(digit)
            ctx.log(kind="round", round=r, model=n, test_accuracy=acc,
                    digit_accuracy=digit if MODELS[n][2] else None,
                    train_loss=history[-1]["train_loss"], seconds=seconds)
        ctx.print(f"round {r + 1}/{cfg.rounds}: " + ", ".join(
            f"{n} {results[n]['acc'][-1]:.1%}" for n in names))

    rows = []
    for n in names:
        accs = results[n]["acc"]
        rows.append({"model": n, "what": MODELS[n][0], "params": params[n],
                     "mean": statistics.mean(accs),
                     "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                     "digit": statistics.mean(results[n]["digit"]) if results[n]["digit"] else None,
                     "seconds": statistics.mean(results[n]["time"])})
    table = format_table(rows, cfg, statistics.mean(chance))
    ctx.print(table)
    path = ctx.path("table.md")
    path.write_text(table + "\n", encoding="utf-8")
    ctx.save_figure(bar_chart(rows, statistics.mean(chance), cfg), "accuracy")

    base = rows[0]
    best = max(rows, key=lambda row: row["mean"])
    line = (f"{best['model']} {best['mean']:.1%} ± {best['std']:.1%} vs {base['model']} "
            f"{base['mean']:.1%} ± {base['std']:.1%} test accuracy over {cfg.rounds} rounds "
            f"({cfg.epochs} epochs, {cfg.pairs} pairs; chance {statistics.mean(chance):.1%})")
    metrics = {"chance": statistics.mean(chance), "rounds": cfg.rounds,
               "accuracy": {row["model"]: row["mean"] for row in rows},
               "accuracy_std": {row["model"]: row["std"] for row in rows},
               "params": {row["model"]: row["params"] for row in rows},
               "seconds_per_training": {row["model"]: row["seconds"] for row in rows},
               "per_round": {n: results[n]["acc"] for n in names}}
    return Result(line, metrics=metrics, artifacts=[path])


def format_table(rows: list[dict], cfg: Config, chance: float) -> str:
    """A markdown table: what each idea gains over the first row (the baseline)."""
    base = rows[0]["mean"]
    lines = [f"Digit pairs: test accuracy over {cfg.rounds} rounds of {cfg.pairs} pairs, "
             f"{cfg.epochs} epochs (chance {chance:.1%})", "",
             "| model | what | parameters | test accuracy | gain | digit accuracy | s / training |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        digit = f"{row['digit']:.1%}" if row["digit"] is not None else "-"
        lines.append(f"| {row['model']} | {row['what']} | {row['params']:,} | "
                     f"{row['mean']:.1%} ± {row['std']:.1%} | {row['mean'] - base:+.1%} | "
                     f"{digit} | {row['seconds']:.2f} |")
    return "\n".join(lines)


def bar_chart(rows: list[dict], chance: float, cfg: Config):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.6 * len(rows) + 2, 3.8))
    xs = range(len(rows))
    ax.bar(xs, [100 * r["mean"] for r in rows], yerr=[100 * r["std"] for r in rows],
           capsize=6, color="tab:blue", alpha=0.8)
    for x, r in zip(xs, rows):
        ax.text(x, 100 * (r["mean"] + r["std"]) + 0.5, f"{r['mean']:.1%}\n{r['params']:,} p.",
                ha="center", va="bottom", fontsize=8)
    ax.axhline(100 * chance, color="k", linestyle="--", linewidth=1, label="chance")
    ax.set_xticks(list(xs), [r["model"] for r in rows])
    ax.set_ylim(100 * chance - 10, 100)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"mean ± std over {cfg.rounds} rounds, {cfg.epochs} epochs", fontsize=10)
    ax.legend(loc="lower right")
    return fig
