"""DataLoader and neuro-surgery (EE-559 7.5): feed a network through a ``Dataset`` and a
``DataLoader`` with worker processes, then operate on a trained network: replace its
head and freeze the layers below.

The data side: :class:`DigitImages` is a custom ``Dataset`` (``__len__``, ``__getitem__``)
holding MNIST digits as bytes and shifting each by a random offset of up to ``shift``
pixels when it is read (augmentation drawn with NumPy: each worker process needs its own
NumPy seed, or all would draw the same shifts; torch >= 1.9 seeds NumPy in each worker
itself, :func:`seed_worker` shows how it was done before, with ``worker_init_fn``);
:class:`NormaliseCollate` is the collate function that stacks the samples of a batch and
turns bytes into normalised floats; the ``DataLoader`` runs
``num_workers`` processes with a seeded generator. The engine's ``fit`` reads a DataLoader
in one process only, so the head is trained here with the plain loop of the lecture.

The surgery: the lecture's convnet is trained on the digits 0-4; its last layer (``fc2``,
5 outputs) is replaced by a new one for the digits 5-9, every other layer is frozen
(``requires_grad = False``), and the optimiser is given only the parameters that still
require a gradient. The same head is trained, the same way, on a copy of the network
whose frozen layers are left at their random initialisation, as the baseline.

Check, measured in the same run: every frozen parameter is exactly equal after training
(largest change 0) while the head changed; the optimiser holds exactly the trainable
parameters (the head's); the new head's test error on 5-9 is below half of its error
before training (near chance, 80%) and below that of the same head on random frozen
layers; two passes of the loader with the same seed give identical batches.
``--epochs 0`` trains no head: the check then says its error is near chance.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from dlc import prologue, viz
from dlc.engine import Supervised, evaluate, fit
from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict
from dlc.models.convnets import LectureConvNet
from dlc.progress import progress_bar

LAYERS = ("conv1", "conv2", "fc1")  # the layers below the head, which may be frozen


@dataclass
class Config:
    pretrain_epochs: int = 5  # epochs of the convnet on the digits 0-4 (0: its layers stay random)
    epochs: int = 3  # epochs of the new head on the digits 5-9, through the DataLoader (0: none)
    lr: float = 0.1  # SGD step size of both trainings (the lecture's 0.1)
    batch_size: int = 20  # images per step, for both trainings
    num_workers: int = 2  # DataLoader worker processes (0: load in the main process)
    shift: int = 2  # the Dataset shifts each digit by up to this many pixels when read (0: none)
    freeze: str = "conv1,conv2,fc1"  # layers frozen for the head's training, comma-separated
    # among conv1, conv2, fc1 ("" : none frozen, the whole network is fine-tuned)
    train_size: int | None = 1000  # MNIST training images, split into 0-4 and 5-9 (--tiny 500)
    test_size: int | None = 1000  # MNIST test images, split the same way (--tiny 100)
    THREADS = 1

    def __post_init__(self):
        parse_freeze(self.freeze)
        if self.shift > 8:
            raise UsageError(f"--shift must be at most 8 pixels, got {self.shift}")
        if self.num_workers > 16:
            raise UsageError(f"--num_workers must be at most 16, got {self.num_workers}")


def parse_freeze(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [n for n in names if n not in LAYERS]
    if bad:
        raise UsageError(f"--freeze: unknown layer(s) {', '.join(bad)}; choose among {', '.join(LAYERS)}")
    return names


# --- the data: a Dataset, a collate function, a seeded worker -----------------------------
class DigitImages(Dataset):
    """MNIST digits of some classes, stored as bytes (N x 28 x 28 uint8), labels renumbered
    from 0; each read shifts the digit by a random offset in [-shift, shift]^2 (zeros in).

    ``len(dataset)`` is the number of digits kept; ``dataset[i]`` is ``(image, label)``: the
    i-th digit as a 1 x 28 x 28 uint8 tensor, moved down by dy and right by dx pixels (what
    leaves the 28 x 28 frame is lost, what comes in is 0), with ``dy, dx =
    np.random.randint(-shift, shift + 1, size=2)`` drawn at each read (none if shift is 0),
    and its label as an int."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, classes: list[int], shift: int = 0):
        keep = torch.isin(labels, torch.tensor(classes))
        self.images = images[keep].round().clamp(0, 255).to(torch.uint8).reshape(-1, 28, 28)
        self.labels = labels[keep] - min(classes)
        self.shift = shift

    def __len__(self) -> int:
        return len(self.labels)  # SOLUTION

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        ### BEGIN SOLUTION
        image = self.images[i]
        if self.shift:
            dy, dx = np.random.randint(-self.shift, self.shift + 1, size=2)  # NumPy: see seed_worker
            image = F.pad(image, (self.shift,) * 4)
            s = self.shift
            image = image[s - dy : s - dy + 28, s - dx : s - dx + 28]
        return image.unsqueeze(0), int(self.labels[i])
        ### END SOLUTION


class NormaliseCollate:
    """The collate function: a list of (image bytes, label) -> a batch of normalised float
    images and a tensor of labels. (A class, not a lambda: workers may need to pickle it.)"""

    def __init__(self, mean: float, std: float):
        self.mean, self.std = mean, std

    def __call__(self, samples: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """``samples``: B pairs (1 x 28 x 28 uint8 image, int label). Returns the images
        stacked as one B x 1 x 28 x 28 float32 batch, minus ``mean``, divided by ``std``, and
        the labels as one int64 tensor of B."""
        ### BEGIN SOLUTION
        images = torch.stack([s[0] for s in samples]).float()
        labels = torch.tensor([s[1] for s in samples])
        return (images - self.mean) / self.std, labels
        ### END SOLUTION


def seed_worker(worker_id: int) -> None:
    """Give each worker process its own NumPy and ``random`` seeds, derived from the seed
    torch gives the worker (the loader's seed + worker id). Before torch 1.9 every worker
    started from a copy of the parent's NumPy state and drew the same "random" shifts
    without it; torch now seeds NumPy in each worker itself, so this is the explicit form."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def make_loader(dataset: Dataset, cfg: Config, mean: float, std: float, seed: int, shuffle: bool = True):
    g = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        shuffle=shuffle,
        num_workers=cfg.num_workers,
        collate_fn=NormaliseCollate(mean, std),
        worker_init_fn=seed_worker,
        generator=g,
    )


# --- the surgery ----------------------------------------------------------------------
def operate(model: LectureConvNet, frozen: list[str], n_classes: int) -> None:
    """Replace the head (``model.fc2``) by a new ``nn.Linear`` with ``n_classes`` outputs
    and the same inputs, and freeze the layers named in ``frozen`` (their parameters stop
    requiring a gradient; every other parameter, the new head's included, requires one).
    The optimiser is then made from the parameters that still need a gradient."""
    ### BEGIN SOLUTION
    model.fc2 = nn.Linear(model.fc2.in_features, n_classes)  # a new layer: new random weights
    for name, p in model.named_parameters():
        p.requires_grad = name.split(".")[0] not in frozen
    ### END SOLUTION


@torch.no_grad()
def error_on(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return float((model(x).argmax(1) != y).float().mean())


def train_head(model, optimizer, loader, epochs, test, ctx, desc) -> list[float]:
    """The lecture's plain loop over a DataLoader; returns the test error after each epoch."""
    errors = []
    bar = progress_bar(ctx, epochs * len(loader), desc)
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            loss = F.cross_entropy(model(x.to(ctx.device)), y.to(ctx.device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            bar.update(1)
        errors.append(error_on(model, *test))
    bar.close()
    return errors


@lab(
    "dataloader-surgery",
    source="EE-559 7.5",
    summary="a Dataset, a DataLoader with workers and a collate function; a new head on frozen layers",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    frozen = parse_freeze(cfg.freeze)
    x, y, xt, yt = prologue.load(
        train_size=cfg.train_size, test_size=cfg.test_size, flatten=False, data_dir=ctx.data_dir
    )
    old, new = [0, 1, 2, 3, 4], [5, 6, 7, 8, 9]
    mean, std = float(x.mean()), float(x.std())
    norm = lambda t: ((t - mean) / std).to(ctx.device)

    # 1. a network trained on the digits 0-4 (tensors in memory: the engine's fit)
    a, at = torch.isin(y, torch.tensor(old)), torch.isin(yt, torch.tensor(old))
    net = LectureConvNet(n_classes=5).to(ctx.device)
    random_net = copy.deepcopy(net)  # the baseline keeps the random layers
    step = Supervised(net, torch.optim.SGD(net.parameters(), lr=cfg.lr))
    if cfg.pretrain_epochs:
        fit(step, (norm(x[a]), y[a].to(ctx.device)), ctx, epochs=cfg.pretrain_epochs, batch_size=cfg.batch_size,
            name="pretrain")  # fmt: skip
    old_error = evaluate(step, (norm(xt[at]), yt[at].to(ctx.device)), ctx)["error"]

    # 2. the data of the new task, through a Dataset and a DataLoader with workers
    train_set = DigitImages(x, y, new, shift=cfg.shift)
    test_set = DigitImages(xt, yt, new, shift=0)
    if len(train_set) < 1 or len(test_set) < 1:
        raise UsageError("no digit 5-9 among the images kept: ask for more (--train_size, --test_size)")
    test = NormaliseCollate(mean, std)([test_set[i] for i in range(len(test_set))])
    test = (test[0].to(ctx.device), test[1].to(ctx.device))
    loader = make_loader(train_set, cfg, mean, std, seed=ctx.seed if ctx.seed >= 0 else 0)
    # the same seed twice: the same batches (shuffling order and the workers' shifts)
    first = [b for b, _ in zip(make_loader(train_set, cfg, mean, std, 123), range(3))]
    again = [b for b, _ in zip(make_loader(train_set, cfg, mean, std, 123), range(3))]
    reproducible = all(torch.equal(p[0], q[0]) and torch.equal(p[1], q[1]) for p, q in zip(first, again))
    ctx.save_figure(
        viz.image_grid(
            first[0][0][:16], nrow=8, title=f"a batch from the DataLoader (digits 5-9 as labels 0-4, shifted up to "
            f"{cfg.shift} px)", labels=[f"label {int(v)} (a {int(v) + 5})" for v in first[0][1][:16]]
        ),
        "loader_batch",
    )  # fmt: skip

    # 3. the surgery, on the trained network and on the random one
    results = {}
    for name, model in (("trained layers", net), ("random layers", random_net)):
        operate(model, frozen, len(new))
        model.to(ctx.device)
        before = {k: p.detach().clone() for k, p in model.named_parameters()}
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(trainable, lr=cfg.lr)
        untouched = error_on(model, *test)
        errors = train_head(model, optimizer, loader, cfg.epochs, test, ctx, f"head on {name}")
        in_optimizer = {id(p) for g in optimizer.param_groups for p in g["params"]}
        changes = {k: float((p.detach() - before[k]).abs().max()) for k, p in model.named_parameters()}
        results[name] = {
            "untouched_error": untouched,
            "errors": errors,
            "error": errors[-1] if errors else untouched,
            "frozen_change": max([c for k, c in changes.items() if k.split(".")[0] in frozen], default=0.0),
            "head_change": max(changes["fc2.weight"], changes["fc2.bias"]),
            "n_trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "n_frozen": sum(p.numel() for p in model.parameters() if not p.requires_grad),
            "n_in_optimizer": sum(p.numel() for p in model.parameters() if id(p) in in_optimizer),
            "optimizer_exactly_trainable": in_optimizer == {id(p) for p in model.parameters() if p.requires_grad},
            "changes": changes,
        }
    r, b = results["trained layers"], results["random layers"]

    if cfg.epochs:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        epochs = list(range(0, cfg.epochs + 1))
        for name, res, colour in (("on layers trained on 0-4", r, "C0"), ("on random frozen layers", b, "C1")):
            ax.plot(epochs, [res["untouched_error"], *res["errors"]], "o-", color=colour, label=f"new head {name}")
        ax.axhline(0.8, color="gray", linestyle="--", linewidth=1, label="chance (5 classes)")
        ax.set_xlabel("epoch of the new head (through the DataLoader)")
        ax.set_ylabel("test error on the digits 5-9")
        ax.set_title(f"a new head on frozen layers ({', '.join(frozen) or 'none'} frozen)")
        ax.set_ylim(0, 1)
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, fontsize=8)
        ax.grid(alpha=0.3)
        ctx.save_figure(fig, "head_training")

    line = (
        f"new head on the digits 5-9: test error {r['error']:.1%} (untouched head {r['untouched_error']:.1%}, "
        f"same head on random frozen layers {b['error']:.1%}); {r['n_frozen']:,} frozen parameters changed by "
        f"{r['frozen_change']:.3g}, the optimiser holds {r['n_in_optimizer']:,} (the head's)"
    )
    return Result(
        line,
        metrics={
            "epochs": cfg.epochs,
            "old_task_error": old_error,
            "head_error": r["error"],
            "head_errors": r["errors"],
            "untouched_head_error": r["untouched_error"],
            "random_layers_head_error": b["error"],
            "frozen_change": r["frozen_change"],
            "random_frozen_change": b["frozen_change"],
            "head_change": r["head_change"],
            "n_trainable": r["n_trainable"],
            "n_frozen": r["n_frozen"],
            "n_in_optimizer": r["n_in_optimizer"],
            "optimizer_exactly_trainable": r["optimizer_exactly_trainable"],
            "frozen": frozen,
            "reproducible_batches": reproducible,
            "n_new_train": len(train_set),
            "n_new_test": len(test_set),
            "parameter_changes": r["changes"],
        },
    )


def check(result: Result) -> list:
    m = result.metrics
    out = [
        verdict(
            "optimiser holds exactly the trainable parameters (1 = yes)", m["optimizer_exactly_trainable"], "==", 1
        ),
        verdict("same seed, same batches through the workers (1 = yes)", m["reproducible_batches"], "==", 1),
    ]  # fmt: skip
    if m["epochs"] == 0:
        return out + [verdict("untrained head's test error, near chance (80%)", m["head_error"], ">", 0.5)]
    out.append(verdict("the head's weights changed", m["head_change"], ">", 0))
    if m["frozen"]:
        out.append(verdict("largest change of a frozen parameter", m["frozen_change"], "==", 0))
    return out + [
        verdict("new head's test error below half the untouched head's", m["head_error"], "<",
                0.5 * m["untouched_head_error"]),
        verdict("new head's test error below that on random frozen layers", m["head_error"], "<",
                m["random_layers_head_error"]),
    ]  # fmt: skip


# -- exercises (`dlc exercise dataloader-surgery`, then `dlc check dataloader-surgery`) --------


def _bytes(g: torch.Generator, n: int) -> torch.Tensor:
    """Digit-like grey levels 0..255 (N x 1 x 28 x 28, as the prologue gives them)."""
    return (torch.rand(n, 1, 28, 28, generator=g) * 255 * (torch.rand(n, 1, 28, 28, generator=g) > 0.7)).round()


def _read(cls, images, labels, shift: int):
    """A dataset of the digits 5-9 among ``images``, its length and a few reads (NumPy seeded)."""
    ds = cls(images, labels, [5, 6, 7, 8, 9], shift=shift)
    np.random.seed(0)
    return {"len": len(ds), "reads": [ds[i] for i in (0, len(ds) - 1, 1, 0)]}


def _operated(f, frozen: list[str], n_classes: int) -> dict:
    """dlc's convnet after the student's surgery: what requires a gradient, the head's shape."""
    model = LectureConvNet(n_classes=5)
    old = model.fc2
    f(model, frozen, n_classes)
    return {
        "requires_grad": {name: p.requires_grad for name, p in model.named_parameters()},
        "head weight shape": list(model.fc2.weight.shape),
        "a new head": model.fc2 is not old,
    }


TASKS = [
    Task(
        "DigitImages",
        hint="__len__: the number of labels kept; __getitem__: pad the i-th image by shift zeros on each side, "
        "cut the 28 x 28 window that moves it by (dy, dx), add the channel axis, and return it with its label",
        cases=lambda g: [
            (_bytes(g, 12), torch.arange(12) % 10, 2),
            (_bytes(g, 9), torch.tensor([5, 1, 9, 9, 0, 7, 6, 2, 5]), 5),
            (_bytes(g, 6), torch.tensor([9, 8, 7, 6, 5, 4]), 0),
        ],
        call=_read,
    ),
    Task(
        "NormaliseCollate",
        hint="stack the images into one batch and make it float, put the labels in one tensor, and normalise the "
        "batch with self.mean and self.std",
        cases=lambda g: [
            ([(_bytes(g, 1)[0].to(torch.uint8), int(k)) for k in torch.randint(0, 5, (4,), generator=g)],),
            ([(_bytes(g, 1)[0].to(torch.uint8), 3)],),
        ],
        build=lambda cls: cls(33.3, 78.6),
    ),
    Task(
        "operate",
        hint="assign a new nn.Linear(model.fc2.in_features, n_classes) to model.fc2, then set requires_grad of "
        "each parameter: False if its layer (the name before the dot) is in frozen, True otherwise",
        cases=lambda g: [(["conv1", "conv2", "fc1"], 5), (["conv2"], 3), ([], 2)],
        call=_operated,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
