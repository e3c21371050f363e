"""Conditional GANs (EE-559 10.3): give the generator *and* the discriminator the class, and
the generator draws the class it is asked for; give them an input image instead, and the
same game translates images (pix2pix).

Two parts, each trained through :func:`dlc.engine.fit` with this lab's own steps:

- **A conditional DCGAN on MNIST.** The generator reads the noise concatenated with the
  requested digit's one-hot code; the discriminator sees the digit through a learned
  class embedding projected on its features (the "projection discriminator": its logit
  is ``psi(h) + <embed(y), h>``), so a well drawn 3 labelled "7" is a fake. Measured with
  dlc's own digit judge (:func:`dlc.judge.mnist_judge`): the fraction of samples in which
  the judge reads the requested digit, and the Fréchet distance of the samples to held-out
  test digits -- for the trained generator, the same generator untrained (about 10%, chance)
  and, for the distance, real digits (the floor: two halves of held-out test digits).
- **Image-to-image translation (pix2pix).** Coarse label maps of the synthetic shapes
  (:func:`dlc.data.shapes.shapes`: each pixel's class -- background, square, circle,
  triangle -- given at 1/``coarse`` of the resolution) are translated into the images.
  The map fixes the shapes, never their colours (random in every image), so the input
  leaves much of the output open. A small U-Net is trained twice from the same start:
  with the L1 loss alone (the baseline), and with pix2pix's loss: a conditional
  discriminator judges (input, output) pairs patch by patch, plus ``l1_weight`` x L1.
  L1 alone predicts the per-pixel median of the plausible outputs: shapes in the right
  place, but grey, a "blur" over colours; the adversarial term pushes towards outputs that
  look like one real sample. Measured on held-out maps: the colour saturation (the
  per-pixel standard deviation over the RGB channels), the sharpness (the energy of
  neighbouring-pixel differences) and the L1 error, each against the real images'.

Check: the requested digit is recognised in most samples (over half) and in over 3 times
as many as the untrained generator's; the samples' Fréchet distance is under half the
untrained generator's. In the translation, pix2pix's outputs are over twice as colourful
as L1-only's and nearer the real images' saturation, and L1-only has the lower L1 error
(it minimises exactly that: the price of plausible outputs). In a few seconds of training
pix2pix's outputs are colourful but carry artefacts (textures, stripes) and are not
sharper than L1-only's here: the label map already fixes the edges, only colour is open.
``--epochs 0`` trains no cGAN: the check then states that the untrained generator's
samples are read as the requested digit near chance (under 25%);
``--toy_epochs 0`` leaves the translation out of the check.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dlc import prologue
from dlc.data.shapes import shapes
from dlc.engine import Step, Supervised, fit, standard_callbacks
from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict


@dataclass
class Config:
    lr: float = 2e-3  # Adam's learning rate of the cGAN's two players (betas 0.5, 0.999, as DCGAN)
    epochs: int = 15  # passes over the MNIST training images (0: the untrained generator only)
    batch_size: int = 32  # MNIST images per step
    z_dim: int = 32  # noise dimension of the generator
    channels: int = 16  # channels of the first (discriminator) / last (generator) convolution
    judge_samples: int = 500  # generated digits judged (requested 0..9 in turn), and real test digits per half
    toy_images: int = 192  # training images of the translation toy (200 more are held out)
    toy_size: int = 32  # side of the toy's images, in pixels
    coarse: int = 4  # the label map is given at 1/coarse of the resolution (1: the exact mask)
    toy_epochs: int = 8  # passes over the toy's images, for each of the two generators (0: untrained)
    toy_batch_size: int = 16  # toy images per step
    toy_lr: float = 1e-3  # Adam's learning rate of the translation models
    toy_width: int = 16  # channels of the U-Net's and the patch discriminator's first layer
    l1_weight: float = 10.0  # lambda of pix2pix's loss GAN + lambda * L1 (the paper: 100, for longer training)
    train_size: int | None = 1000  # MNIST training images (--tiny 500, --full all 60,000)
    test_size: int | None = 1000  # MNIST test images (--tiny 100, --full all 10,000)
    TINY = {"epochs": 4, "batch_size": 16, "judge_samples": 200, "toy_images": 64, "toy_lr": 2e-3}
    FULL = {"epochs": 5, "batch_size": 64, "lr": 1e-3, "judge_samples": 5000, "toy_images": 2000, "toy_epochs": 10}
    THREADS = 1

    def __post_init__(self):
        for name in ("epochs", "toy_epochs"):
            if getattr(self, name) < 0:
                raise UsageError(f"--{name} must be 0 or more, got {getattr(self, name)}")
        for name in ("batch_size", "z_dim", "channels", "toy_images", "toy_batch_size", "toy_width", "coarse"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if not 2 <= self.judge_samples <= 5000:
            raise UsageError(
                f"--judge_samples must be between 2 and 5,000 (two halves of MNIST's 10,000 test digits), "
                f"got {self.judge_samples}"
            )
        if self.toy_size < 8 or self.toy_size % 4:
            raise UsageError(
                f"--toy_size must be a multiple of 4, at least 8 (the U-Net halves it twice), got {self.toy_size}"
            )
        if self.toy_size % self.coarse:
            raise UsageError(f"--coarse must divide --toy_size ({self.toy_size}), got {self.coarse}")
        for name in ("lr", "toy_lr"):
            if not getattr(self, name) > 0:
                raise UsageError(f"--{name} must be positive, got {getattr(self, name)}")
        if not self.l1_weight >= 0:
            raise UsageError(f"--l1_weight must be 0 or more, got {self.l1_weight}")


# -- part 1: the conditional DCGAN -----------------------------------------------------------


class CondGenerator(nn.Module):
    """(z: N x z_dim, y: N digits) -> N x 1 x 28 x 28 in [0, 1]: [z, one_hot(y)] -> Linear ->
    2c x 7 x 7 -> ConvT(4, stride 2) -> c x 14 x 14 -> ConvT(4, stride 2) -> 1 x 28 x 28."""

    def __init__(self, z_dim: int = 32, channels: int = 16, classes: int = 10):
        super().__init__()
        self.z_dim, self.classes, c = z_dim, classes, channels
        self.fc = nn.Sequential(nn.Linear(z_dim + classes, 2 * c * 49), nn.BatchNorm1d(2 * c * 49), nn.ReLU())
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1),
            nn.BatchNorm2d(c),
            nn.ReLU(),
            nn.ConvTranspose2d(c, 1, 4, stride=2, padding=1),
            nn.Sigmoid(),
        )

    def forward(self, z, y):
        """Images (N x 1 x 28 x 28) for noise ``z`` (N x z_dim) and requested digits ``y`` (N,
        int64): ``h`` is ``self.fc`` of z and y's one-hot code side by side (N x (z_dim +
        classes), z's dtype), and ``self.up`` draws from h seen as N x 2c x 7 x 7 maps."""
        h = self.fc(torch.cat([z, F.one_hot(y, self.classes).to(z.dtype)], 1))  # SOLUTION
        return self.up(h.view(len(z), -1, 7, 7))


class ProjectionDiscriminator(nn.Module):
    """(x: N x 1 x 28 x 28, y: N digits) -> N logits: features h = convs(x), then
    ``linear(h) + <embed(y), h>``; the embedding starts at zero (an unconditional D at first)."""

    def __init__(self, channels: int = 16, classes: int = 10):
        super().__init__()
        c = channels
        self.features = nn.Sequential(
            nn.Conv2d(1, c, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(c, 2 * c, 4, stride=2, padding=1),
            nn.BatchNorm2d(2 * c),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
        )
        self.linear = nn.Linear(2 * c * 49, 1)
        self.embed = nn.Embedding(classes, 2 * c * 49)
        nn.init.zeros_(self.embed.weight)

    def forward(self, x, y):
        """One logit per pair (N): ``linear(h)`` plus the dot product of the class embedding
        ``embed(y)`` with the features ``h`` (N x 2c*49) of the image."""
        h = self.features(x)
        return self.linear(h).view(-1) + (self.embed(y) * h).sum(1)  # SOLUTION


def bce(logits, real: bool):
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


class CGANStep(Step):
    """One batch of (images, digits): a discriminator update on real pairs and fake pairs
    (generated for the same digits), then a generator update with the non-saturating loss.

    One noise batch ``torch.randn(len(real), self.G.z_dim, device=real.device)`` makes one
    fake batch, used by both updates. ``d_loss``: :func:`bce` of D on the real pairs as real
    plus on the fake pairs (detached: D's update must not reach G) as fake; one step of
    ``opt_d``. ``g_loss``: bce of D on the fake pairs as real; one step of ``opt_g``."""

    def __init__(self, G, D, opt_g, opt_d):
        self.G, self.D, self.opt_g, self.opt_d = G, D, opt_g, opt_d

    def __call__(self, batch):
        real, y = batch
        ### BEGIN SOLUTION
        fake = self.G(torch.randn(len(real), self.G.z_dim, device=real.device), y)
        d_loss = bce(self.D(real, y), True) + bce(self.D(fake.detach(), y), False)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        g_loss = bce(self.D(fake, y), True)
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        ### END SOLUTION
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}


# -- part 2: image-to-image translation ------------------------------------------------------


class UNet(nn.Module):
    """N x in_ch x S x S -> N x 3 x S x S in [0, 1]: two stride-2 convolutions down, two
    transposed ones up, each up-sampled map concatenated with the down path's of its size."""

    def __init__(self, in_ch: int = 4, width: int = 16):
        super().__init__()
        w = width
        self.d1 = nn.Sequential(nn.Conv2d(in_ch, w, 3, padding=1), nn.LeakyReLU(0.2))
        self.d2 = nn.Sequential(nn.Conv2d(w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2))
        self.d3 = nn.Sequential(nn.Conv2d(2 * w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2))
        self.u3 = nn.Sequential(nn.ConvTranspose2d(2 * w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w), nn.ReLU())
        self.u2 = nn.Sequential(nn.ConvTranspose2d(4 * w, w, 4, 2, 1), nn.BatchNorm2d(w), nn.ReLU())
        self.out = nn.Sequential(nn.Conv2d(2 * w, 3, 3, padding=1), nn.Sigmoid())

    def forward(self, m):
        a = self.d1(m)
        b = self.d2(a)
        u = self.u3(self.d3(b))
        u = self.u2(torch.cat([u, b], 1))
        return self.out(torch.cat([u, a], 1))


class PatchDiscriminator(nn.Module):
    """(input map, image) pairs -> a grid of logits, one per overlapping patch (PatchGAN)."""

    def __init__(self, in_ch: int = 4 + 3, width: int = 16):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(in_ch, w, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 4, 2, 1),
            nn.BatchNorm2d(2 * w),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * w, 1, 3, padding=1),
        )

    def forward(self, m, x):
        return self.net(torch.cat([m, x], 1))


def l1(output, target):
    return (output - target).abs().mean()


class Pix2PixStep(Step):
    """One batch of (maps, images): the discriminator learns real pairs from (map, G(map))
    pairs; the generator minimises GAN loss + l1_weight x L1 to the real image.

    One fake batch ``G(m)`` serves both updates. ``d_loss``: :func:`bce` of D on (map, real)
    as real plus on (map, fake detached) as fake; one step of ``opt_d``. ``gan``: bce of D on
    (map, fake) as real, ``rec``: :func:`l1` of fake to real; ``g_loss = gan + l1_weight *
    rec``; one step of ``opt_g``."""

    def __init__(self, G, D, opt_g, opt_d, l1_weight: float):
        self.G, self.D, self.opt_g, self.opt_d, self.l1_weight = G, D, opt_g, opt_d, l1_weight

    def __call__(self, batch):
        m, real = batch
        ### BEGIN SOLUTION
        fake = self.G(m)
        d_loss = bce(self.D(m, real), True) + bce(self.D(m, fake.detach()), False)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        gan, rec = bce(self.D(m, fake), True), l1(fake, real)
        g_loss = gan + self.l1_weight * rec
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        ### END SOLUTION
        return {"d_loss": d_loss.detach(), "g_gan": gan.detach(), "l1": rec.detach()}


def label_maps(masks: torch.Tensor, coarse: int) -> torch.Tensor:
    """N x H x W class masks (0..3) -> N x 4 x H x W one-hot maps, averaged over coarse x
    coarse cells (the fraction of each class in the cell) and blown back up to H x W."""
    m = F.one_hot(masks, 4).permute(0, 3, 1, 2).float()
    if coarse > 1:
        m = F.interpolate(F.avg_pool2d(m, coarse), scale_factor=coarse, mode="nearest")
    return m


def saturation(images: torch.Tensor) -> float:
    """Mean over pixels of the standard deviation of the RGB values: 0 for grey."""
    return float(images.std(1).mean())


def sharpness(images: torch.Tensor) -> float:
    """Mean squared difference of neighbouring pixels (vertical plus horizontal)."""
    dy = (images[..., 1:, :] - images[..., :-1, :]).pow(2).mean()
    dx = (images[..., :, 1:] - images[..., :, :-1]).pow(2).mean()
    return float(dx + dy)


# -- figures ---------------------------------------------------------------------------------


def digit_rows_figure(panels, per_digit: int, title: str):
    """Side-by-side panels of 10 rows (requested digit 0..9) x per_digit samples."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 5.2), squeeze=False)
    for ax, (name, images, correct) in zip(axes[0], panels):
        grid = images[: 10 * per_digit, 0].reshape(10, per_digit, 28, 28).permute(0, 2, 1, 3).reshape(280, -1)
        ax.imshow(grid.numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_yticks([14 + 28 * k for k in range(10)], [str(k) for k in range(10)])
        ax.set_xticks([])
        ax.set_ylabel("requested digit")
        ax.set_xlabel("samples (fresh noise each)")
        ax.set_title(f"{name}\njudge reads the requested digit: {correct:.0%}", fontsize=10)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def translation_figure(rows, n: int, title: str):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), n, figsize=(1.25 * n + 1.6, 1.35 * len(rows) + 0.6), squeeze=False)
    for r, (name, images) in enumerate(rows):
        for j in range(n):
            ax = axes[r, j]
            ax.imshow(images[j].permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(name, fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


# -- the run ---------------------------------------------------------------------------------


@lab(
    "cgan",
    source="EE-559 10.3",
    summary="conditional GAN on MNIST (judge reads the requested digit) and pix2pix vs L1 on label maps -> shapes",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    from dlc.judge import mnist_judge

    n_real = 2 * cfg.judge_samples
    train, train_y, test_all, _ = prologue.load(
        train_size=cfg.train_size,
        test_size=max(cfg.test_size or 10_000, n_real),
        flatten=False,
        data_dir=ctx.data_dir,
    )
    train = train / 255  # the prologue gives grey levels 0..255
    test_all = test_all / 255
    real_a, real_b = test_all[: cfg.judge_samples], test_all[cfg.judge_samples : n_real]
    judge = mnist_judge(data_dir=ctx.data_dir)

    # -- part 1: the conditional GAN ---------------------------------------------------------
    G, D = CondGenerator(cfg.z_dim, cfg.channels), ProjectionDiscriminator(cfg.channels)
    adam = {"lr": cfg.lr, "betas": (0.5, 0.999)}
    step = CGANStep(G, D, torch.optim.Adam(G.parameters(), **adam), torch.optim.Adam(D.parameters(), **adam))
    requested = torch.arange(10).repeat(cfg.judge_samples // 10 + 1)[: cfg.judge_samples]
    noise = torch.randn(cfg.judge_samples, cfg.z_dim, generator=torch.Generator().manual_seed(4321))

    @torch.no_grad()
    def generate():
        G.cpu().eval()
        out = torch.cat([G(noise[i : i + 1000], requested[i : i + 1000]) for i in range(0, len(noise), 1000)])
        G.train()
        return out

    def judged(samples):
        return float((judge.classify(samples) == requested).double().mean()), judge.frechet(real_a, samples)

    untrained_samples = generate()
    untrained_acc, untrained_fd = judged(untrained_samples)
    history = fit(
        step,
        (train, train_y),
        ctx,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        callbacks=standard_callbacks(ctx, "cgan", curves=False, checkpoints=False),  # a GAN has no "best" loss
        name="cgan",
    )
    samples = generate()
    acc, fd = judged(samples)
    floor_fd = judge.frechet(real_a, real_b)
    per_digit = min(8, cfg.judge_samples // 10)
    if per_digit:
        order = torch.cat([torch.nonzero(requested == k).view(-1)[:per_digit] for k in range(10)])
        ctx.save_figure(
            digit_rows_figure(
                [
                    ("untrained generator", untrained_samples[order], untrained_acc),
                    ("trained cGAN", samples[order], acc),
                ],
                per_digit,
                f"conditional GAN on MNIST: each row asks for one digit ({len(history)} epochs)",
            ),
            "cgan_samples",
        )

    # -- part 2: translation, L1 alone vs pix2pix ----------------------------------------------
    toy = shapes(cfg.toy_images, size=cfg.toy_size, seed=ctx.seed + 1)
    held = shapes(200, size=cfg.toy_size, seed=ctx.seed + 2)
    maps, held_maps = label_maps(toy.masks, cfg.coarse), label_maps(held.masks, cfg.coarse)
    toy_adam = {"lr": cfg.toy_lr, "betas": (0.5, 0.999)}
    unet = UNet(4, cfg.toy_width)
    start = {k: v.clone() for k, v in unet.state_dict().items()}  # both generators start here
    outputs = {}
    for name in ("l1", "pix2pix"):
        G2 = UNet(4, cfg.toy_width)
        G2.load_state_dict(start)
        if name == "l1":
            tstep = Supervised(G2, torch.optim.Adam(G2.parameters(), **toy_adam), loss=l1, metric=None)
        else:
            D2 = PatchDiscriminator(4 + 3, cfg.toy_width)
            opts = torch.optim.Adam(G2.parameters(), **toy_adam), torch.optim.Adam(D2.parameters(), **toy_adam)
            tstep = Pix2PixStep(G2, D2, *opts, cfg.l1_weight)
        fit(
            tstep,
            (maps, toy.images),
            ctx,
            epochs=cfg.toy_epochs,
            batch_size=cfg.toy_batch_size,
            callbacks=standard_callbacks(ctx, name, curves=False, checkpoints=False, epoch_lines=False),
            name=name,
        )
        G2.cpu().eval()
        with torch.no_grad():
            outputs[name] = G2(held_maps)
    toy_m = {
        f"{k}_{what}": fn(v) if what != "l1_error" else float(l1(v, held.images))
        for k, v in (*outputs.items(), ("real", held.images))
        for what, fn in (("saturation", saturation), ("sharpness", sharpness), ("l1_error", None))
    }
    shown = min(8, len(held))
    ctx.save_figure(
        translation_figure(
            [
                (f"input: label map\n(1/{cfg.coarse} resolution)", held_maps[:shown, 1:]),
                ("L1 only", outputs["l1"][:shown]),
                (f"pix2pix\n(GAN + {cfg.l1_weight:g} L1)", outputs["pix2pix"][:shown]),
                ("target", held.images[:shown]),
            ],
            shown,
            f"label map -> image on held-out maps (red square, green circle, blue triangle); colour saturation: "
            f"L1 {toy_m['l1_saturation']:.3f}, pix2pix {toy_m['pix2pix_saturation']:.3f}, "
            f"real {toy_m['real_saturation']:.3f}",
        ),
        "translation",
    )

    line = (
        f"cGAN: judge reads the requested digit in {acc:.0%} of samples (untrained {untrained_acc:.0%}), "
        f"Fréchet {fd:.1f} vs untrained {untrained_fd:.1f}, real floor {floor_fd:.1f}; "
        f"translation: colour saturation pix2pix {toy_m['pix2pix_saturation']:.3f} vs L1-only "
        f"{toy_m['l1_saturation']:.3f} (real {toy_m['real_saturation']:.3f}), L1 error "
        f"{toy_m['pix2pix_l1_error']:.3f} vs {toy_m['l1_l1_error']:.3f}"
    )
    return Result(
        line,
        metrics={
            "epochs": len(history),
            "toy_epochs": cfg.toy_epochs,
            "cond_accuracy": acc,
            "untrained_cond_accuracy": untrained_acc,
            "frechet": fd,
            "untrained_frechet": untrained_fd,
            "real_frechet": floor_fd,
            "per_digit_accuracy": [
                float((judge.classify(samples[requested == k]) == k).double().mean()) for k in range(10)
            ],
            "judge_samples": cfg.judge_samples,
            "judge_trained_now": judge.trained_now,
            "judge_test_accuracy": judge.test_accuracy,
            "d_loss": history[-1]["train_d_loss"] if history else None,
            "g_loss": history[-1]["train_g_loss"] if history else None,
            **toy_m,
        },
    )


def check(result: Result) -> list:
    """The lecture's point, measured against the untrained generator and the L1-only baseline."""
    m = result.metrics
    if m["epochs"] == 0:
        out = [verdict("untrained generator: requested digit read near chance (10%)", m["cond_accuracy"], "<", 0.25)]
    else:
        out = [
            verdict("requested digit recognised in most samples", m["cond_accuracy"], ">", 0.5),
            verdict("... over 3 x as often as untrained", m["cond_accuracy"], ">", 3 * m["untrained_cond_accuracy"]),
            verdict("Fréchet distance under half the untrained's", m["frechet"], "<", 0.5 * m["untrained_frechet"]),
        ]
    if m["toy_epochs"] > 0:
        out += [
            verdict("pix2pix over 2 x as colourful as L1-only", m["pix2pix_saturation"], ">", 2 * m["l1_saturation"]),
            verdict(
                "pix2pix's saturation nearer the real images' than L1-only's",
                abs(m["pix2pix_saturation"] - m["real_saturation"]),
                "<",
                abs(m["l1_saturation"] - m["real_saturation"]),
            ),
            verdict("L1-only has the lower L1 error", m["l1_l1_error"], "<", m["pix2pix_l1_error"]),
        ]
    return out


# -- exercises (`dlc exercise cgan`, then `dlc check cgan`) ------------------------------------


def _digits(g: torch.Generator) -> list[tuple]:
    """Images in [0, 1] and digits, float32 (the steps train float32 models)."""
    return [(torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)) for n in (4, 3)]


def _trained_on(step, batch) -> dict:
    """The losses of one step and both players' weights after it."""
    losses = step(batch)
    weights = {name: [p.detach().clone() for p in net.parameters()] for name, net in (("G", step.G), ("D", step.D))}
    return {**losses, **weights}


def _players(G, D):
    adam = {"lr": 1e-3, "betas": (0.5, 0.999)}
    return G, D, torch.optim.Adam(G.parameters(), **adam), torch.optim.Adam(D.parameters(), **adam)


def _projection(cls):
    d = cls(2)
    nn.init.normal_(d.embed.weight, std=0.1)  # not the zero start: the projection must count
    return d


TASKS = [
    Task(
        "CondGenerator",
        hint="concatenate z with the one-hot code of y (F.one_hot(y, self.classes), in z's dtype) along the "
        "features and pass it through self.fc",
        cases=lambda g: [
            (torch.randn(3, 4, generator=g, dtype=torch.float64), torch.tensor([0, 7, 7])),
            (torch.randn(2, 4, generator=g, dtype=torch.float64), torch.tensor([9, 2])),
        ],
        build=lambda cls: cls(z_dim=4, channels=2),
        grad=True,
    ),
    Task(
        "ProjectionDiscriminator",
        hint="the logit is self.linear(h) (flattened to N) plus, per pair, the sum over features of self.embed(y) * h",
        cases=lambda g: [(x.double(), y) for x, y in _digits(g)],
        build=_projection,
        grad=True,
    ),
    Task(
        "CGANStep",
        hint="draw z, fake = G(z, y); D's loss: real pairs as real plus detached fake pairs as fake, zero_grad, "
        "backward, step; G's loss: the fake pairs as real to D, zero_grad, backward, step",
        cases=lambda g: [((x, y),) for x, y in _digits(g)],
        build=lambda cls: cls(*_players(CondGenerator(4, 2), ProjectionDiscriminator(2))),
        call=_trained_on,
        rtol=1e-4,
        atol=1e-6,
    ),
    Task(
        "Pix2PixStep",
        hint="fake = G(m); D's loss: (m, real) as real plus (m, fake detached) as fake, then its step; G's loss: "
        "(m, fake) as real to D, plus l1_weight times the L1 distance of fake to real, then its step",
        cases=lambda g: [((torch.rand(n, 4, 8, 8, generator=g), torch.rand(n, 3, 8, 8, generator=g)),) for n in (3, 2)],
        build=lambda cls: cls(*_players(UNet(4, 2), PatchDiscriminator(7, 2)), 10.0),
        call=_trained_on,
        rtol=1e-4,
        atol=1e-6,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
