"""Transfer learning (ESCAPE T5): a network pretrained on many images, frozen, with a new
two-class head, beats a network trained from scratch on a small set of photos.

The tutorial loads a ResNet-18 pretrained on ImageNet. ImageNet weights cannot be
downloaded here, so **the "pretrained" weights come from dlc's own pretraining on
CIFAR-10**: this lab first trains a ResNet-18 (:class:`dlc.models.cifar.ResNet18`,
width 8 at the default size, the paper's 64 with ``--full``) on CIFAR-10 images, or loads
the weights an earlier run trained with the same recipe from the user's cache
(:mod:`dlc.pretrained`, keyed by the recipe -- options, seed -- and the SHA-256 of the
images used); the result line says which, and how long the training took.

What it pretrains on: by default CIFAR-10's 10,000 cat and dog images, one epoch (about
half a minute of CPU). ImageNet features separate cats from dogs because ImageNet is
full of cats and dogs; with seconds of pretraining, the two CIFAR-10 classes the photos
share are what gives useful features (all ten classes for the same time gave weaker
ones, measured while writing this lab). ``--full`` pretrains the wide network on all ten
classes for 15 epochs, a general pretraining like ImageNet's (hours on a CPU, once).

Then the tutorial's recipe, on the light cats-vs-dogs folder set (500 training and 200
validation photos), for a few epochs:

- transfer: the pretrained network, every parameter frozen (its batch-norm layers keep
  the running statistics of pretraining), the last layer ``fc`` replaced by a new
  2-class one, which alone is trained (Adam);
- from scratch: the T4 network (:class:`dlc.models.cifar.T4Net`, 2 classes) trained on
  the same photos with T4's recipe (Adam lr 1e-3, batches of 32), for as many epochs;
- and full fine-tuning: the pretrained network with its new head, every layer trained
  (Adam lr 1e-4, a small step that keeps what pretraining learnt).

All see the same photos, resized to 32 x 32 (CIFAR-10's size: the pretrained filters see
objects at the scale they were trained on; ``--image_size 64`` also works, at four times
the cost), normalised with mean 0.5 and std 0.5 per channel (T4's), with the tutorial's
augmentation: random left-right flips and rotations of up to 10 degrees.

Measured at the default size (seed 0): 65.0% for the frozen network with its new head,
70.5% with every layer fine-tuned, 52.5% for T4 from scratch, which in 5 epochs on 500
photos has barely left chance (trained 10-20 epochs with a one-cycle schedule it reached
about 63-66% while this lab was written: transfer's gain is largest when epochs and
labelled photos are few).

Check (same run): the transfer network's validation accuracy is above the from-scratch
T4 network's; the frozen backbone did not change at all during fine-tuning (its weights
and batch-norm statistics are bit-for-bit the pretrained ones), and only the new head
was trainable. At ``--tiny`` the pretraining (500 images) is a smoke test whose
features are too weak to compare with anything: the check then holds only the latter two.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

from dlc import data, pretrained
from dlc.data.augment import random_flip, random_rotation
from dlc.data.images import decode_all
from dlc.engine import LRSchedule, Supervised, evaluate, fit, predict, standard_callbacks
from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict
from dlc.models.cifar import ResNet18, T4Net
from dlc.options import parse_list

#: bump when the pretraining code changes what it trains: cached weights are then retrained
PRETRAIN_VERSION = 1
CLASSES = ("cat", "dog")
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
#: below this many pretraining images seen, pretraining is a smoke test (--tiny): its
#: features are too weak to be compared with training from scratch
MEANINGFUL_PRETRAINING = 10000


@dataclass
class Config:
    width: int = 8  # ResNet-18's first-stage channels (the paper's 64 with --full; 8 trains
    # in seconds on a CPU)
    pretrain_classes: str = "cat,dog"  # CIFAR-10 classes to pretrain on, comma-separated, or
    # "all" (--full): the two the photos share make the best use of a short pretraining
    pretrain_size: int | None = 10000  # CIFAR-10 training images to pretrain on, balanced over
    # those classes (10,000: every cat and dog; --tiny 500; --full all 50,000)
    pretrain_epochs: int = 1  # passes over them (--full 15)
    pretrain_lr: float = 0.002  # Adam's peak learning rate of the pretraining's one-cycle schedule
    pretrain_batch_size: int = 64  # CIFAR-10 images per pretraining step
    pretrained_cache: bool = True  # reuse the weights an earlier run pretrained with the same
    # recipe (kept in the user's cache); false: pretrain again and keep nothing
    image_size: int = 32  # photos resized to this square (32: CIFAR-10's; 64 also works)
    epochs: int = 5  # fine-tuning epochs, the same for every model (a few, as in the tutorial)
    lr: float = 0.001  # Adam's learning rate from scratch (T4's 1e-3)
    head_lr: float = 0.01  # Adam's learning rate of the new head on the frozen backbone
    finetune_lr: float = 0.0001  # Adam's learning rate when every layer is fine-tuned
    batch_size: int = 32  # photos per fine-tuning step (T4's 32)
    rotation: float = 10.0  # augmentation: rotations drawn in [-rotation, rotation] degrees,
    # with random left-right flips
    full_finetune: bool = True  # also fine-tune every layer of the pretrained network
    train_size: int | None = 1000  # cats-vs-dogs training photos, at most (the set has 500;
    # --tiny 200)
    test_size: int | None = 1000  # validation photos, at most (the set has 200); --tiny 100
    TINY = {"pretrain_size": 500, "epochs": 2, "full_finetune": False, "train_size": 200}
    FULL = {"width": 64, "pretrain_classes": "all", "pretrain_size": None, "pretrain_epochs": 15, "epochs": 10}

    def __post_init__(self):
        for name in ("width", "pretrain_epochs", "epochs", "pretrain_batch_size", "batch_size"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if self.pretrain_size is not None and self.pretrain_size < 10:
            raise UsageError(f"--pretrain_size must be at least 10 (one image a class), got {self.pretrain_size}")
        if self.image_size < 8 or self.image_size % 8:
            raise UsageError(
                f"--image_size must be a multiple of 8 (the T4 network pools three times), got {self.image_size}"
            )
        if not 0 <= self.rotation <= 180:
            raise UsageError(f"--rotation must be between 0 and 180 degrees, got {self.rotation}")
        self.class_list()
        for name in ("pretrain_lr", "lr", "head_lr", "finetune_lr"):
            if not getattr(self, name) > 0:
                raise UsageError(f"--{name} must be positive, got {getattr(self, name)}")

    def class_list(self) -> list[int]:
        """The CIFAR-10 labels pretrained on."""
        if self.pretrain_classes.strip() == "all":
            return list(range(len(CIFAR_CLASSES)))
        names = parse_list("pretrain_classes", self.pretrain_classes, choices=CIFAR_CLASSES, example="cat,dog")
        if len(set(names)) < 2:
            raise UsageError(f"--pretrain_classes needs at least two classes, got {self.pretrain_classes!r}")
        return sorted(CIFAR_CLASSES.index(n) for n in set(names))


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> floats with mean 0.5 and std 0.5 per channel removed (T4's)."""
    return (images.float() / 255 - 0.5) / 0.5


def balanced_subset(labels: torch.Tensor, n: int | None, seed: int = 0) -> torch.Tensor:
    """Indices of ``n`` samples (all for None), as equal a share of each class as possible,
    in a fixed shuffled order (the data's choice does not depend on the run's seed)."""
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(labels), generator=g)
    if n is None or n >= len(labels):
        return order
    # rank of each sample within its class, in the shuffled order: take the lowest ranks
    shuffled = labels[order]
    rank = torch.zeros(len(labels), dtype=torch.long)
    for c in shuffled.unique():
        where = (shuffled == c).nonzero().view(-1)
        rank[where] = torch.arange(len(where))
    keep = torch.argsort(rank * len(labels) + torch.arange(len(labels)))[:n]
    return order[keep.sort().values]


class FrozenBackbone(Supervised):
    """The supervised step for a network whose layers except ``fc`` are frozen: their
    parameters get no gradient (``requires_grad=False``, and the optimiser holds only the
    head's), and their batch-norm layers stay in eval mode, so the running statistics of
    pretraining are used and never updated."""

    def train(self, mode: bool = True) -> None:
        """The model in train mode (``mode``) or eval mode, except that every child module of
        ``self.model`` but ``fc`` stays in eval mode (``module.train(False)``) whatever ``mode``."""
        super().train(mode)  # every module of the model, in the mode asked
        ### BEGIN SOLUTION
        for name, module in self.model.named_children():
            if name != "fc":
                module.train(False)
        ### END SOLUTION


def freeze_and_replace_head(model: ResNet18, classes: int = 2) -> ResNet18:
    """Model surgery for transfer learning: freeze every parameter of ``model`` (no gradient
    for them), then replace its last layer ``model.fc`` by a new ``nn.Linear`` from the same
    number of features to ``classes`` outputs, whose parameters are trainable. Returns the
    model, changed in place."""
    ### BEGIN SOLUTION
    for p in model.parameters():
        p.requires_grad_(False)
    model.fc = nn.Linear(model.fc.in_features, classes)  # new parameters: requires_grad=True
    ### END SOLUTION
    return model


def pretrain(cfg: Config, ctx, cifar: tuple, cifar_test: tuple):
    """Train a ResNet-18 on the CIFAR-10 subset (Adam, one-cycle schedule, random flips);
    returns its state_dict and its CIFAR-10 test accuracy (on the same classes)."""
    net = ResNet18(classes=len(cfg.class_list()), width=cfg.width)
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.pretrain_lr)
    step = Supervised(net, optimizer, metric="accuracy", augment=random_flip)
    # a curve of one epoch is one point: the pretraining curves are drawn from two epochs
    callbacks = [*standard_callbacks(ctx, "pretrain", curves=cfg.pretrain_epochs > 1), LRSchedule("one-cycle")]
    fit(
        step,
        cifar,
        ctx,
        epochs=cfg.pretrain_epochs,
        batch_size=cfg.pretrain_batch_size,
        name="pretrain",
        callbacks=callbacks,
    )
    scores = evaluate(step, cifar_test, ctx)
    return net.state_dict(), {"cifar_test_accuracy": scores["accuracy"], "cifar_images": len(cifar[0])}


def cifar_subset(cfg: Config, ctx, train: bool, size: int | None, seed: int):
    """A balanced subset of CIFAR-10's chosen classes: uint8 images, labels 0..k-1."""
    x, y = data.load("cifar10", train=train, data_dir=ctx.data_dir)
    classes = torch.tensor(cfg.class_list())
    among = torch.isin(y, classes).nonzero().view(-1)
    keep = among[balanced_subset(y[among], size, seed=seed)]
    return x[keep], torch.searchsorted(classes, y[keep])  # labels renumbered 0..k-1


def pretrained_resnet(cfg: Config, ctx) -> pretrained.Pretrained:
    """The pretrained weights: from the user's cache when a run with the same recipe made
    them (same options, seed and CIFAR-10 images), else trained now and cached."""
    images, labels = cifar_subset(cfg, ctx, True, cfg.pretrain_size, seed=0)
    recipe = {
        "version": PRETRAIN_VERSION,
        "model": "ResNet18",
        "width": cfg.width,
        "classes": [CIFAR_CLASSES[c] for c in cfg.class_list()],
        "epochs": cfg.pretrain_epochs,
        "lr": cfg.pretrain_lr,
        "batch_size": cfg.pretrain_batch_size,
        "optimizer": "Adam, one-cycle",
        "augment": "random_flip",
        "normalise": "mean 0.5 std 0.5",
        "seed": ctx.seed,
        "data": "cifar10 train",
        "data_sha256": pretrained.tensor_digest(images, labels),
    }

    def train():
        torch.manual_seed(ctx.seed)
        test_x, test_y = cifar_subset(cfg, ctx, False, min(1000, max(len(images) // 5, 100)), seed=1)
        cifar = (normalise(images).to(ctx.device), labels.to(ctx.device))
        cifar_test = (normalise(test_x).to(ctx.device), test_y.to(ctx.device))
        return pretrain(cfg, ctx, cifar, cifar_test)

    probe = ResNet18(classes=len(cfg.class_list()), width=cfg.width)
    # unseeded or multi-process runs do not share weights through the cache
    use_cache = cfg.pretrained_cache and ctx.seed >= 0 and not ctx.world.distributed
    return pretrained.load_or_train(
        "resnet18-cifar10", recipe, train, use_cache=use_cache, accept=lambda s: probe.load_state_dict(s)
    )


def fine_tune(step, name: str, ctx, cfg: Config, train, val) -> list[dict]:
    callbacks = standard_callbacks(ctx, name, curves=False, checkpoints=False)
    return fit(step, train, ctx, epochs=cfg.epochs, batch_size=cfg.batch_size, val=val, name=name, callbacks=callbacks)


@lab(
    "transfer",
    source="ESCAPE T5",
    summary="a ResNet-18 pretrained by dlc on CIFAR-10, frozen, new head: beats training from scratch on cats vs dogs",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    # The small photo set: decoded once, at the lab's size.
    train_items = data.load("cats-vs-dogs", train=True, data_dir=ctx.data_dir)
    val_items = data.load("cats-vs-dogs", train=False, data_dir=ctx.data_dir)
    # a balanced choice of photos, made on the labels: only those chosen are decoded
    keep = balanced_subset(torch.tensor([label for _, label in train_items]), cfg.train_size)
    val_keep = balanced_subset(torch.tensor([label for _, label in val_items]), cfg.test_size, seed=1)
    train_x, train_y = decode_all([train_items[i] for i in keep], cfg.image_size)
    val_x, val_y = decode_all([val_items[i] for i in val_keep], cfg.image_size)
    train, val = (normalise(train_x), train_y), (normalise(val_x), val_y)

    # 1. The pretrained network (CIFAR-10, by dlc): trained now, or loaded from the cache.
    t0 = time.perf_counter()
    weights = pretrained_resnet(cfg, ctx)
    pretrain_s = time.perf_counter() - t0
    if weights.note:
        ctx.print(weights.note)
    if ctx.seed >= 0:  # fine-tuning draws the same numbers whether the weights were trained or loaded
        torch.manual_seed(ctx.seed + 1)

    def augment(x):
        return random_rotation(random_flip(x), cfg.rotation)

    # 2. Transfer: freeze, replace the head, train the head only.
    transfer = ResNet18(classes=len(cfg.class_list()), width=cfg.width)
    transfer.load_state_dict(weights.state)
    freeze_and_replace_head(transfer)
    backbone_before = {k: v.clone() for k, v in transfer.state_dict().items() if not k.startswith("fc.")}
    trainable = [p for p in transfer.parameters() if p.requires_grad]
    step = FrozenBackbone(transfer, torch.optim.Adam(trainable, lr=cfg.head_lr), metric="accuracy", augment=augment)
    histories = {"transfer": fine_tune(step, "transfer", ctx, cfg, train, val)}
    backbone_after = {k: v for k, v in transfer.state_dict().items() if not k.startswith("fc.")}
    backbone_change = max(
        float((backbone_after[k].double() - v.double()).abs().max()) for k, v in backbone_before.items()
    )
    scores = {"transfer": evaluate(step, val, ctx)}

    # 3. Optionally: every layer fine-tuned, from the same pretrained weights.
    models = {"transfer": transfer}
    if cfg.full_finetune:
        full = ResNet18(classes=len(cfg.class_list()), width=cfg.width)
        full.load_state_dict(weights.state)
        full.fc = nn.Linear(full.fc.in_features, 2)
        step = Supervised(
            full, torch.optim.Adam(full.parameters(), lr=cfg.finetune_lr), metric="accuracy", augment=augment
        )
        histories["fine-tune all"] = fine_tune(step, "finetune-all", ctx, cfg, train, val)
        scores["fine-tune all"] = evaluate(step, val, ctx)
        models["fine-tune all"] = full

    # 4. The baseline: T4's network from scratch on the same photos, T4's recipe.
    scratch = T4Net(classes=2, image_size=cfg.image_size)
    step = Supervised(scratch, torch.optim.Adam(scratch.parameters(), lr=cfg.lr), metric="accuracy", augment=augment)
    histories["scratch"] = fine_tune(step, "scratch", ctx, cfg, train, val)
    scores["scratch"] = evaluate(step, val, ctx)
    models["scratch"] = scratch

    n_trainable = {
        "transfer": sum(p.numel() for p in trainable),
        "transfer_total": sum(p.numel() for p in transfer.parameters()),
        "scratch": sum(p.numel() for p in scratch.parameters()),
    }
    _figures(ctx, cfg, histories, models, val)

    acc = {k: s["accuracy"] for k, s in scores.items()}
    cifar_acc = weights.meta.get("cifar_test_accuracy", float("nan"))
    seen = int(weights.meta.get("cifar_images", 0)) * cfg.pretrain_epochs
    classes = cfg.class_list()
    what = "all 10 classes" if len(classes) == 10 else " and ".join(CIFAR_CLASSES[c] for c in classes)
    what += f", {seen:,} images seen"
    origin = (
        f"trained now in {weights.seconds:.0f} s"
        if weights.trained_now
        else f"loaded from the cache (trained earlier in {weights.seconds:.0f} s)"
    )
    line = (
        f"validation accuracy {acc['transfer']:.1%} for the frozen ResNet-18 with a new head vs "
        f"{acc['scratch']:.1%} for T4 from scratch ({scores['scratch']['n']} photos, {cfg.image_size}x{cfg.image_size}"
        f", {cfg.epochs} epochs)"
        + (f"; every layer fine-tuned {acc['fine-tune all']:.1%}" if "fine-tune all" in acc else "")
        + f'; the "pretrained" weights are dlc\'s own, from CIFAR-10 ({what}: {cifar_acc:.0%} test accuracy), '
        f"{origin}"
    )
    metrics = {
        "transfer_accuracy": acc["transfer"],
        "scratch_accuracy": acc["scratch"],
        "finetune_all_accuracy": acc.get("fine-tune all"),
        "transfer_loss": scores["transfer"]["loss"],
        "scratch_loss": scores["scratch"]["loss"],
        "val_n": scores["scratch"]["n"],
        "train_n": len(train[0]),
        "backbone_change": backbone_change,
        "trainable_parameters": n_trainable["transfer"],
        "transfer_parameters": n_trainable["transfer_total"],
        "scratch_parameters": n_trainable["scratch"],
        "pretrained_now": weights.trained_now,
        "pretrain_seconds": weights.seconds,
        "pretrain_wall_s": pretrain_s,
        "pretrain_cifar_accuracy": cifar_acc,
        "pretrain_images_seen": seen,
        "head_parameters": sum(p.numel() for p in transfer.fc.parameters()),
        "pretrained_path": str(weights.path) if weights.path else None,
        "cache_note": weights.note,
        "epochs": cfg.epochs,
        "val_accuracy_curves": {k: [r["val_accuracy"] for r in h] for k, h in histories.items()},
    }
    ctx.log(kind="test", **{k: v for k, v in metrics.items() if k != "val_accuracy_curves"})
    return Result(line, metrics=metrics)


def _figures(ctx, cfg: Config, histories: dict, models: dict, val: tuple) -> None:
    import matplotlib.pyplot as plt

    colours = {"transfer": "tab:blue", "fine-tune all": "tab:green", "scratch": "tab:red"}
    labels = {
        "transfer": "transfer: frozen ResNet-18 + new head",
        "fine-tune all": "transfer: every layer fine-tuned",
        "scratch": "T4 network from scratch",
    }
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for k, h in histories.items():
        epochs = [r["epoch"] for r in h]
        axes[0].plot(epochs, [r["val_accuracy"] for r in h], marker="o", ms=3, color=colours[k], label=labels[k])
        axes[1].plot(epochs, [r["train_loss"] for r in h], marker="o", ms=3, color=colours[k], label=labels[k])
    axes[0].axhline(0.5, color="k", ls=":", lw=1, label="chance")
    axes[0].set_ylabel("validation accuracy")
    axes[1].set_ylabel("training loss (cross-entropy)")
    for ax in axes:
        ax.set_xlabel("fine-tuning epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=len(names), fontsize=9, frameon=False)
    fig.suptitle(f"cats vs dogs, {len(val[0])} validation photos: transfer (pretrained on CIFAR-10 by dlc) vs scratch")
    fig.subplots_adjust(bottom=0.22, wspace=0.25)
    ctx.save_figure(fig, "fine-tuning")

    # Sample predictions of the transfer network and of the scratch baseline.
    x, y = val
    # up to 8 cats (first row) and 8 dogs (second row)
    pick = torch.cat([(y == c).nonzero().view(-1)[:8] for c in range(len(CLASSES))])
    n = len(pick)
    dev = ctx.device
    preds = {k: predict(models[k], x[pick].to(dev)).argmax(1).cpu() for k in ("transfer", "scratch")}
    cols = max(int((y[pick] == c).sum()) for c in range(len(CLASSES)))
    fig, axes = plt.subplots(len(CLASSES), cols, figsize=(1.5 * cols, 4.2), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    rows = [0] * len(CLASSES)
    for i in range(n):
        truth = int(y[pick[i]])
        ax = axes[truth, rows[truth]]
        rows[truth] += 1
        img = (x[pick[i]] * 0.5 + 0.5).clamp(0, 1).permute(1, 2, 0).numpy()
        ax.imshow(img)
        t, s = int(preds["transfer"][i]), int(preds["scratch"][i])
        ax.set_title(
            f"{CLASSES[truth]}\nT: {CLASSES[t]}  S: {CLASSES[s]}",
            fontsize=8,
            color="tab:green" if t == truth else "tab:red",
        )
    fig.suptitle(
        "validation photos: true class, T = transfer's guess, S = scratch's guess (title green: transfer right)",
        fontsize=9,
    )
    ctx.save_figure(fig, "predictions")


def check(result: Result) -> list:
    """The tutorial's point: the frozen pretrained network with a new head beats the
    network trained from scratch on the same small set; freezing really froze it (and
    only the head learnt). A pretraining of fewer than 10,000 images (--tiny: a smoke test
    of seconds) makes features too weak to compare, and the check then says only the latter."""
    m = result.metrics
    out = [
        verdict("largest change of a frozen backbone weight or statistic", m["backbone_change"], "==", 0.0),
        verdict(
            "trainable parameters of the transfer network, minus its new head's",
            m["trainable_parameters"] - m["head_parameters"],
            "==",
            0,
        ),
    ]
    if m["pretrain_images_seen"] >= MEANINGFUL_PRETRAINING:
        out.insert(
            0,
            verdict(
                "transfer minus from-scratch validation accuracy",
                m["transfer_accuracy"] - m["scratch_accuracy"],
                ">",
                0.0,
            ),
        )
    return out


# -- exercises (`dlc exercise transfer`, then `dlc check transfer`) ------------------------


def _small_resnet(width: int, classes: int = 3, seed: int = 0) -> ResNet18:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return ResNet18(classes=classes, width=width).double()


def _surgery_facts(f, width: int, classes: int) -> dict:
    """What the surgery must give: which parameters are trainable, the new head's shape,
    the rest of the network untouched, the output's shape."""
    model = _small_resnet(width)
    before = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("fc.")}
    model = f(model, classes)
    after = model.state_dict()
    x = torch.zeros(2, 3, 8, 8, dtype=torch.float64)
    return {
        "trainable": [name for name, p in model.named_parameters() if p.requires_grad],
        "head (in, out)": (model.fc.in_features, model.fc.out_features),
        "largest change of the rest": max(float((after[k] - v).abs().max()) for k, v in before.items()),
        "output shape": list(model.double().eval()(x).shape),
    }


def _modes(step: FrozenBackbone, mode: bool) -> dict:
    """The mode of each layer whose computation depends on it (batch norm, here)."""
    step.train(mode)
    kinds = (nn.modules.batchnorm._BatchNorm, nn.Dropout)
    return {f"{name}.training": m.training for name, m in step.model.named_modules() if isinstance(m, kinds)}


TASKS = [
    Task(
        "freeze_and_replace_head",
        hint="first call requires_grad_(False) on every parameter of the model, then set model.fc = nn.Linear("
        "model.fc.in_features, classes): a new layer's parameters require gradients",
        cases=lambda g: [(2, 2), (4, 5)],
        call=_surgery_facts,
    ),
    Task(
        "FrozenBackbone",
        hint="after super().train(mode), put every child of self.model except the one named 'fc' in eval mode "
        "(named_children, module.train(False)): its batch-norm layers then keep pretraining's statistics",
        cases=lambda g: [(True,), (False,)],
        build=lambda cls: cls((m := _small_resnet(2)), torch.optim.SGD(m.fc.parameters(), lr=0.1)),
        call=_modes,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
