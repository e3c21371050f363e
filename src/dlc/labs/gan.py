"""Generative adversarial networks (EE-559 10.1): a generator learns to turn noise into
samples that a discriminator, trained at the same time, cannot tell from real ones.

Two games, each trained through :func:`dlc.engine.fit` with :class:`dlc.models.gans.GANStep`
(one discriminator update, then one generator update, on every batch; the generator uses the
"non-saturating" loss ``-log D(G(z))`` of the lecture):

- **2-D toy**: a ring of 8 Gaussians, two small MLPs (noise of dimension 8, as the
  lecture's toy). The classic place to *see* mode collapse: every mode is easy, covering
  all of them at once is not. Measured: the sliced Wasserstein distance to held-out real
  points (:func:`dlc.quality.sliced_wasserstein`) and the number of modes that hold at
  least 2% of the samples (:func:`dlc.models.gans.mode_coverage`).
- **MNIST**: a small DCGAN (:class:`dlc.models.gans.DCGenerator`,
  :class:`~dlc.models.gans.DCDiscriminator`). Measured with dlc's own digit judge
  (:mod:`dlc.judge`): the Fréchet distance to held-out test digits and how many of the 10
  digits the samples cover (each judged as at least 5% of them).

Each measure is taken for the trained generator, the same generator untrained (the
ceiling) and real data (the floor: the training set against the held-out set).

Check: in each game the trained generator's distance is well below the untrained one's
(under a third on the ring, under half on MNIST), and it covers more modes / digits than
the untrained generator. ``--epochs 0 --epochs_2d 0`` trains nothing: the check then
states that the untrained generators are far from the data (over 5 times the floor).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dlc import prologue
from dlc.engine import Callback, fit, standard_callbacks
from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict
from dlc.models.gans import (
    DCDiscriminator,
    DCGenerator,
    GANStep,
    mlp_critic,
    mlp_generator,
    mode_coverage,
    ring,
    ring_centers,
)
from dlc.quality import sliced_wasserstein


@dataclass
class Config:
    lr: float = 1e-3  # Adam's learning rate, for both players of both games (the lecture's toy: 1e-3)
    epochs_2d: int = 20  # passes over the ring's training points (0: the untrained generator only)
    batch_size_2d: int = 50  # ring points per step
    n_points: int = 2000  # training points of the ring (as many again are held out to measure)
    modes: int = 8  # Gaussians on the ring
    ring_std: float = 0.1  # standard deviation of each Gaussian (the ring's radius is 2)
    z_dim_2d: int = 8  # noise dimension of the 2-D generator (the lecture's toy: 8)
    epochs: int = 15  # passes over the MNIST training images (0: the untrained generator only)
    batch_size: int = 32  # MNIST images per step
    z_dim: int = 32  # noise dimension of the DCGAN's generator
    channels: int = 16  # channels of the DCGAN's first (discriminator) / last (generator) convolution
    snapshots: int = 5  # moments of training shown in the figures (the untrained one included)
    train_size: int | None = 1000  # MNIST training images (--tiny 500, --full all 60,000)
    test_size: int | None = 1000  # held-out MNIST test images, and generated samples measured (--tiny 100)
    TINY = {"epochs_2d": 12, "epochs": 6}
    FULL = {"epochs": 5}

    def __post_init__(self):
        for name in ("epochs_2d", "epochs"):
            if getattr(self, name) < 0:
                raise UsageError(f"--{name} must be 0 or more, got {getattr(self, name)}")
        for name in ("batch_size_2d", "batch_size", "z_dim_2d", "z_dim", "channels", "modes"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if self.n_points < 2:
            raise UsageError(f"--n_points must be at least 2, got {self.n_points}")
        if self.snapshots < 2:
            raise UsageError(f"--snapshots must be at least 2 (before and after training), got {self.snapshots}")
        if not self.lr > 0:
            raise UsageError(f"--lr must be positive, got {self.lr}")
        if not self.ring_std > 0:
            raise UsageError(f"--ring_std must be positive, got {self.ring_std}")
        if self.test_size is not None and self.test_size < 2:
            raise UsageError(
                f"--test_size must be at least 2 (a Fréchet distance fits a covariance), got {self.test_size}"
            )


class Snapshots(Callback):
    """Samples of the generator from fixed noise at chosen epochs (the generator in eval mode)."""

    def __init__(self, G, z, epochs: set[int]):
        self.G, self.z, self.epochs, self.samples = G, z, epochs, {}

    def take(self, epoch: int) -> torch.Tensor:
        self.G.eval()
        with torch.no_grad():
            s = torch.cat([self.G(z) for z in self.z.split(1000)]).cpu()
        self.G.train()
        self.samples[epoch] = s
        return s

    def on_epoch_end(self, loop, record) -> None:
        if record["epoch"] in self.epochs:
            self.take(record["epoch"])


class LectureGANStep(GANStep):
    """The lecture's two losses; the alternation around them (a discriminator step, then a
    generator step, on each batch) is the library's ``GANStep``."""

    def discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """D (``self.D``, which gives logits) learns to say 1 on ``real`` and 0 on ``fake``
        samples: the sum of the two mean binary cross-entropies, a 0-d tensor."""
        ### BEGIN SOLUTION
        on_real, on_fake = self.D(real), self.D(fake)
        says_real = F.binary_cross_entropy_with_logits(on_real, torch.ones_like(on_real))
        return says_real + F.binary_cross_entropy_with_logits(on_fake, torch.zeros_like(on_fake))
        ### END SOLUTION

    def generator_loss(self, fake: torch.Tensor) -> torch.Tensor:
        """G learns to make D say 1 on its samples: the "non-saturating" -log D(G(z)), a
        mean binary cross-entropy (rather than log(1 - D(G(z))), whose gradient vanishes
        when D wins), a 0-d tensor."""
        ### BEGIN SOLUTION
        on_fake = self.D(fake)
        return F.binary_cross_entropy_with_logits(on_fake, torch.ones_like(on_fake))
        ### END SOLUTION


def snapshot_epochs(epochs: int, n: int) -> list[int]:
    """``n`` epochs from 0 (untrained) to ``epochs``, evenly spread (fewer if epochs is small)."""
    return sorted({round(i * epochs / (n - 1)) for i in range(n)})


def train_game(ctx, name, G, D, data, cfg_lr, z_dim, epochs, batch_size, snapshots, n_samples):
    """Train G against D on ``data`` (a 1-tuple) for ``epochs``; the snapshots of G's
    samples (``n_samples`` of them, from fixed noise) at evenly spread epochs, and the history."""
    adam = dict(lr=cfg_lr, betas=(0.5, 0.999))
    step = LectureGANStep(
        G, D, torch.optim.Adam(G.parameters(), **adam), torch.optim.Adam(D.parameters(), **adam), z_dim
    )
    z = torch.randn(n_samples, z_dim, device=ctx.device)
    snaps = Snapshots(G.to(ctx.device), z, set(snapshot_epochs(epochs, snapshots)))
    snaps.take(0)
    history = []
    if epochs:
        callbacks = standard_callbacks(ctx, name, epoch_lines=False, checkpoints=False, curves=False) + [snaps]
        history = fit(step, data, ctx, epochs=epochs, batch_size=batch_size, callbacks=callbacks, name=name)
    return snaps.samples, history


# -- figures ------------------------------------------------------------------------------


def ring_figure(real, samples: dict, scores: dict, centers, std):
    import matplotlib.pyplot as plt

    epochs = sorted(samples)
    fig, axes = plt.subplots(1, len(epochs), figsize=(3.2 * len(epochs), 3.6), squeeze=False)
    r = real[:1000].numpy()
    for ax, e in zip(axes[0], epochs):
        s = samples[e][:1000].numpy()
        ax.scatter(r[:, 0], r[:, 1], s=3, c="0.6", label="real (held out)")
        ax.scatter(s[:, 0], s[:, 1], s=3, c="tab:red", alpha=0.6, label="generated")
        for c in centers:
            ax.add_patch(plt.Circle(c.tolist(), 3 * std, fill=False, lw=0.8, color="k"))
        sw, modes = scores[e]
        ax.set_title(f"epoch {e}: SW {sw:.2f}\n{modes}/{len(centers)} modes covered", fontsize=10)
        ax.set_xlim(-3, 3)
        ax.set_ylim(-3, 3)
        ax.set_aspect("equal")
        ax.set_xlabel("x1")
    axes[0][0].set_ylabel("x2")
    axes[0][0].legend(loc="center", fontsize=7, markerscale=3)
    fig.suptitle("GAN on a ring of Gaussians: generated (red) vs real (grey) samples over training")
    fig.tight_layout()
    return fig


def digits_figure(samples: dict, scores: dict, per_row: int = 12):
    """One row of samples per snapshot, drawn as one mosaic (one image: quick to render)."""
    import matplotlib.pyplot as plt

    epochs = sorted(samples)
    rows = [torch.cat([samples[e][i, 0] for i in range(min(per_row, len(samples[e])))], 1) for e in epochs]
    mosaic = torch.cat([torch.nn.functional.pad(r, (0, 0, 1, 1), value=1.0) for r in rows], 0)
    fig, ax = plt.subplots(figsize=(per_row * 0.75 + 2.6, len(epochs) * 0.8 + 0.6))
    ax.imshow(mosaic.numpy(), cmap="gray", vmin=0, vmax=1)
    centres = [30 * i + 15 for i in range(len(epochs))]
    ax.set_yticks(centres, [f"epoch {e}" for e in epochs])
    ax.set_xticks([])
    right = ax.secondary_yaxis("right")
    right.set_yticks(centres, [f"FD {scores[e][0]:.0f}, {scores[e][1]}/10 digits" for e in epochs])
    right.tick_params(length=0)
    ax.tick_params(length=0)
    ax.set_title(
        "DCGAN samples over training (same noise in each row)\nFD: Fréchet distance to test digits", fontsize=10
    )
    return fig


def shares_figure(real_shares, gen_shares, untrained_shares):
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 3.5))
    k = np.arange(10)
    ax.bar(k - 0.27, real_shares, 0.27, label="real test digits", color="0.6")
    ax.bar(k, gen_shares, 0.27, label="trained generator", color="tab:red")
    ax.bar(k + 0.27, untrained_shares, 0.27, label="untrained generator", color="tab:blue")
    ax.axhline(0.05, color="k", ls="--", lw=0.8, label="5%: counted as covered")
    ax.set_xticks(k)
    ax.set_xlabel("digit, as the judge classifies the sample")
    ax.set_ylabel("share of samples")
    ax.set_title("Which digits the samples are: mode collapse shows as missing bars")
    ax.legend(fontsize=8)
    return fig


# -- the lab ------------------------------------------------------------------------------


@lab(
    "gan",
    source="EE-559 10.1",
    summary="a GAN on a 2-D ring of Gaussians and a small DCGAN on MNIST; sample distance and mode coverage",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    from dlc.judge import mnist_judge

    m: dict = {"epochs_2d": cfg.epochs_2d, "epochs": cfg.epochs}

    # -- 2-D: a ring of Gaussians --------------------------------------------------------
    centers = ring_centers(cfg.modes)
    train_2d, _ = ring(cfg.n_points, cfg.modes, std=cfg.ring_std, seed=2 * max(ctx.seed, 0))
    held_2d, _ = ring(2000, cfg.modes, std=cfg.ring_std, seed=2 * max(ctx.seed, 0) + 1)
    G2, D2 = mlp_generator(cfg.z_dim_2d), mlp_critic()
    samples_2d, hist_2d = train_game(
        ctx, "ring", G2, D2, (train_2d,), cfg.lr, cfg.z_dim_2d, cfg.epochs_2d, cfg.batch_size_2d, cfg.snapshots, 2000
    )
    scores_2d = {}
    for e, s in samples_2d.items():
        scores_2d[e] = (sliced_wasserstein(s, held_2d), mode_coverage(s, centers, cfg.ring_std)["modes_covered"])
    last = max(samples_2d)
    final = mode_coverage(samples_2d[last], centers, cfg.ring_std)
    m.update(
        ring_sw=scores_2d[last][0],
        ring_sw_untrained=scores_2d[0][0],
        ring_sw_floor=sliced_wasserstein(train_2d, held_2d),
        ring_modes_covered=final["modes_covered"],
        ring_modes_covered_untrained=scores_2d[0][1],
        ring_modes_covered_real=mode_coverage(held_2d, centers, cfg.ring_std)["modes_covered"],
        ring_near=final["near"],
        ring_modes=cfg.modes,
        ring_sw_over_training={int(e): v[0] for e, v in scores_2d.items()},
    )
    ctx.save_figure(ring_figure(held_2d, samples_2d, scores_2d, centers, cfg.ring_std), "ring_over_training")

    # -- MNIST: a small DCGAN, judged by dlc's digit classifier ----------------------------
    x, _, xt, _ = prologue.load(
        train_size=cfg.train_size, test_size=cfg.test_size, flatten=False, data_dir=ctx.data_dir
    )
    x, xt = x / 255, xt / 255  # pixels in [0, 1], the generator's sigmoid range
    judge = mnist_judge(data_dir=ctx.data_dir)
    G, D = DCGenerator(cfg.z_dim, cfg.channels), DCDiscriminator(cfg.channels)
    samples, hist = train_game(
        ctx, "mnist", G, D, (x.to(ctx.device),), cfg.lr, cfg.z_dim, cfg.epochs, cfg.batch_size, cfg.snapshots, len(xt)
    )
    scores = {e: (judge.frechet(xt, s), judge.digit_score(s)["digits_covered"]) for e, s in samples.items()}
    last = max(samples)
    trained, untrained = judge.digit_score(samples[last]), judge.digit_score(samples[0])
    n = min(len(x), len(xt))
    m.update(
        frechet=scores[last][0],
        frechet_untrained=scores[0][0],
        frechet_floor=judge.frechet(xt[:n], x[:n]),
        digits_covered=trained["digits_covered"],
        digits_covered_untrained=untrained["digits_covered"],
        digits_covered_real=judge.digit_score(xt)["digits_covered"],
        inception_score=trained["inception_score"],
        confidence=trained["confidence"],
        digit_shares=trained["class_shares"],
        frechet_over_training={int(e): v[0] for e, v in scores.items()},
        train_images=len(x),
        samples_measured=len(xt),
        judge_test_accuracy=judge.test_accuracy,
    )
    ctx.save_figure(digits_figure(samples, scores), "digits_over_training")
    ctx.save_figure(
        shares_figure(judge.digit_score(xt)["class_shares"], trained["class_shares"], untrained["class_shares"]),
        "digit_shares",
    )
    m["d_loss"] = hist[-1]["train_d_loss"] if hist else None
    m["g_loss"] = hist[-1]["train_g_loss"] if hist else None

    line = (
        f"ring: sliced W {m['ring_sw']:.3f} vs {m['ring_sw_untrained']:.3f} untrained (real {m['ring_sw_floor']:.3f}), "
        f"{m['ring_modes_covered']}/{cfg.modes} modes; MNIST: Fréchet {m['frechet']:.0f} vs "
        f"{m['frechet_untrained']:.0f} untrained (real {m['frechet_floor']:.0f}), {m['digits_covered']}/10 digits"
    )
    if not (cfg.epochs or cfg.epochs_2d):
        line = "no training (--epochs 0 --epochs_2d 0): " + line
    return Result(line, metrics=m)


def check(result: Result) -> list:
    """The lecture's point: the trained generators' samples are far closer to real data than
    the untrained ones', and cover more modes / digits."""
    m = result.metrics
    out = []
    if m["epochs_2d"]:
        out += [
            verdict(
                "ring: sliced W of the trained G below 1/3 of the untrained G's",
                m["ring_sw"],
                "<",
                m["ring_sw_untrained"] / 3,
            ),
            verdict(
                "ring: modes covered, more than the untrained G's",
                m["ring_modes_covered"],
                ">",
                m["ring_modes_covered_untrained"],
            ),
        ]
    else:
        out.append(
            verdict(
                "ring: untrained G's sliced W, over 5 x the real floor",
                m["ring_sw_untrained"],
                ">",
                5 * m["ring_sw_floor"],
            )
        )
    if m["epochs"]:
        out += [
            verdict(
                "MNIST: Fréchet distance of the trained G below half the untrained G's",
                m["frechet"],
                "<",
                m["frechet_untrained"] / 2,
            ),
            verdict(
                "MNIST: digits covered, more than the untrained G's",
                m["digits_covered"],
                ">",
                m["digits_covered_untrained"],
            ),
        ]
    else:
        out.append(
            verdict(
                "MNIST: untrained G's Fréchet distance, over 5 x the real floor",
                m["frechet_untrained"],
                ">",
                5 * m["frechet_floor"],
            )
        )
    return out


# -- exercises (`dlc exercise gan`, then `dlc check gan`) ---------------------------------


def _players(cls):
    """A small generator and discriminator in float64, and their step."""
    G, D = mlp_generator(4, hidden=16).double(), mlp_critic(hidden=16).double()
    opts = torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters())
    return cls(G, D, *opts, z_dim=4)


def _samples(g: torch.Generator) -> list[tuple]:
    return [
        (torch.randn(n, 2, generator=g, dtype=torch.float64), 3 * torch.randn(m, 2, generator=g, dtype=torch.float64))
        for n, m in ((16, 16), (5, 9))
    ]


TASKS = [
    Task(
        "LectureGANStep",
        hint="discriminator_loss: BCE-with-logits of D(real) against 1 plus of D(fake) against 0; generator_loss: "
        "BCE-with-logits of D(fake) against 1 (the non-saturating loss)",
        cases=_samples,
        build=_players,
        call=lambda step, real, fake: (step.discriminator_loss(real, fake), step.generator_loss(fake)),
        grad=True,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
