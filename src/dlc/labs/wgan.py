"""Wasserstein GANs (EE-559 10.2): a critic whose loss estimates a distance that falls as
the samples improve, where a plain GAN's discriminator loss says little about them.

The WGAN critic ``C`` maximises ``E[C(real)] - E[C(fake)]`` over 1-Lipschitz functions:
by the Kantorovich-Rubinstein duality the maximum is the Wasserstein-1 distance between
the real and generated distributions, and the generator minimises it. The Lipschitz
constraint is enforced two ways:

- **weight clipping** (Arjovsky et al., 2017), the paper's recipe: every critic weight
  clamped to [-0.01, 0.01] after each step, RMSProp (lr 5e-5);
- **gradient penalty** (WGAN-GP, Gulrajani et al., 2017): ``lambda E[(|grad C| - 1)^2]``
  on points between real and fake samples (:func:`dlc.models.gans.gradient_penalty`),
  Adam with betas (0, 0.9). Here lambda = 1 and lr 1e-3: the paper's lambda = 10 and
  lr 1e-4 are for images; on this toy, in this budget, they train slowly and the game
  oscillates (the authors' own toy script lowers lambda to 0.1). The penalty is soft: the
  critic's estimate is about ``W + W^2 / (2 lambda)`` rather than ``W`` (the notebook
  checks it on two Gaussians), larger but still growing with the distance;

both with 5 critic steps per generator step. They are compared with the plain GAN of the
``gan`` lab (:class:`dlc.models.gans.GANStep`: BCE, the non-saturating generator loss,
Adam 1e-3) on the same data (the ring of 8 Gaussians, 2000 training points, batches of
50), the same networks from the same initial weights, and the same budget: the same
number of generator updates (the WGANs' critics see ``n_critic`` times more batches). Every
critic (and the GAN's discriminator) is first warmed up alone against the untrained
generator for ``warmup`` passes, as the WGAN authors' code does (it gives the critic 100
steps per generator step for the first 25), so that its first estimate means something.

Every ``measure_every`` generator updates the lab measures, on 1000 held-out real points
and 1000 samples from fixed noise, each critic's estimate (WGAN: ``mean C(real) - mean
C(fake)``; GAN: the Jensen-Shannon bound ``ln 2 - D loss / 2``,
:func:`dlc.models.gans.js_estimate`) and the sample quality: the sliced Wasserstein
distance to the held-out points (:func:`dlc.quality.sliced_wasserstein`; also the MMD
at the end, on 500 of each), for the trained generators, the untrained one and real data
(the floor: the first 1000 training points against the held-out ones).

Check: over training, the WGAN-GP critic's estimate correlates with the sample distance
(Pearson r above 0.5, and above the plain GAN's r), and the WGAN-GP generator ends much
closer to the data than it started (sliced W below half the untrained generator's). The
clipped WGAN's correlation, every r without the first quarter of training (``*_corr_late``)
and every method's final distances are measured and reported, not asserted.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch

from dlc.engine import Callback, Step, fit, standard_callbacks
from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict
from dlc.models.gans import (
    GANStep,
    gradient_penalty,
    js_estimate,
    mlp_critic,
    mlp_generator,
    mode_coverage,
    ring,
    ring_centers,
)
from dlc.quality import mmd, sliced_wasserstein

METHODS = ("gan", "wgan_clip", "wgan_gp")
NAMES = {"gan": "GAN", "wgan_clip": "WGAN (clipping)", "wgan_gp": "WGAN-GP"}
COLORS = {"gan": "tab:blue", "wgan_clip": "tab:orange", "wgan_gp": "tab:green"}
Z_DIM = 8  # the noise dimension of the lecture's 2-D toy (as the gan lab)


@dataclass
class Config:
    epochs: int = 20  # generator passes over the ring: one G update per batch, for all three (the gan lab's 20)
    n_critic: int = 5  # WGANs: critic steps per generator step (the papers' 5)
    warmup: int = 2  # passes training the critic / discriminator alone before the first G update (0: none)
    clip: float = 0.01  # WGAN: critic weights clamped to [-clip, clip] (the paper's 0.01)
    lr_clip: float = 5e-5  # WGAN: RMSProp's learning rate, critic and generator (the paper's 5e-5)
    gp_lambda: float = 1.0  # WGAN-GP: weight of the gradient penalty (the paper: 10; its toy script: 0.1)
    lr_gp: float = 1e-3  # WGAN-GP: Adam's learning rate, betas (0, 0.9) (the paper: 1e-4)
    lr_gan: float = 1e-3  # plain GAN: Adam's learning rate, betas (0.5, 0.999) (as the gan lab)
    hidden: int = 128  # hidden units in each of the 2 layers of every generator and critic (as the gan lab)
    batch_size: int = 50  # ring points per step (as the gan lab)
    n_points: int = 2000  # training points of the ring (1000 more are held out to measure)
    ring_std: float = 0.1  # standard deviation of each of the 8 Gaussians (the ring's radius is 2)
    measure_every: int = 20  # generator updates between two measures of the estimate and the distance
    TINY = {"epochs": 3, "measure_every": 10}
    FULL = {"epochs": 100, "measure_every": 50}

    def __post_init__(self):
        for name in ("epochs", "n_critic", "batch_size", "hidden", "measure_every"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if self.warmup < 0:
            raise UsageError(f"--warmup must be 0 or more, got {self.warmup}")
        if self.n_points < 2:
            raise UsageError(f"--n_points must be at least 2, got {self.n_points}")
        for name in ("clip", "lr_clip", "lr_gp", "lr_gan", "ring_std"):
            if not (getattr(self, name) > 0 and math.isfinite(getattr(self, name))):
                raise UsageError(f"--{name} must be positive, got {getattr(self, name)}")
        if not (self.gp_lambda >= 0 and math.isfinite(self.gp_lambda)):
            raise UsageError(f"--gp_lambda must be 0 or more, got {self.gp_lambda}")


class WGANStep(Step):
    """A critic step on every batch; a generator step every ``n_critic`` batches, once the
    ``warmup`` batches (the critic alone) are done. The Lipschitz constraint: weight
    clipping (``clip``) or a gradient penalty (``gp_lambda``)."""

    def __init__(
        self, G, C, opt_g, opt_c, n_critic: int, clip: float | None = None, gp_lambda: float = 0.0, warmup: int = 0
    ):
        self.G, self.C, self.opt_g, self.opt_c = G, C, opt_g, opt_c
        self.n_critic, self.clip, self.gp_lambda, self.warmup = n_critic, clip, gp_lambda, warmup
        self.batches, self.g_updates = 0, 0

    def __call__(self, batch):
        (real,) = batch
        fake = self.G(torch.randn(len(real), Z_DIM, device=real.device)).detach()
        ### BEGIN SOLUTION
        # the critic ascends E[C(real)] - E[C(fake)], its estimate of the Wasserstein-1 distance
        w_estimate = self.C(real).mean() - self.C(fake).mean()
        c_loss = -w_estimate
        if self.gp_lambda:
            c_loss = c_loss + self.gp_lambda * gradient_penalty(self.C, real, fake)
        self.opt_c.zero_grad(set_to_none=True)
        c_loss.backward()
        self.opt_c.step()
        if self.clip is not None:
            with torch.no_grad():
                for p in self.C.parameters():
                    p.clamp_(-self.clip, self.clip)
        self.batches += 1
        # the generator descends the estimate: it raises the critic's score of its samples
        if self.batches > self.warmup and (self.batches - self.warmup) % self.n_critic == 0:
            g_loss = -self.C(self.G(torch.randn(len(real), Z_DIM, device=real.device))).mean()
            self.opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            self.opt_g.step()
            self.g_updates += 1
        ### END SOLUTION
        return {"c_loss": c_loss.detach(), "w_estimate": w_estimate.detach()}


@torch.no_grad()
def critic_estimate(method: str, critic, real, fake) -> float:
    """What the critic says about the distance: the WGANs' ``mean C(real) - mean C(fake)``,
    the GAN's Jensen-Shannon bound ``ln 2 - D loss / 2``."""
    if method == "gan":
        return js_estimate(critic, real, fake)
    return float(critic(real).mean() - critic(fake).mean())


class Track(Callback):
    """Every ``every`` generator updates from the end of the warm-up (the first measure:
    the untrained generator against the warmed-up critic): the critic's estimate and the
    sliced Wasserstein distance, on held-out real points and samples from fixed noise."""

    def __init__(self, method: str, step, held, z, every: int):
        self.method, self.step, self.held, self.z, self.every = method, step, held, z, every
        self.rows: list[dict] = []

    def measure(self) -> None:
        G, critic = self.step.G, self.step.D if self.method == "gan" else self.step.C
        with torch.no_grad():
            fake = G(self.z)
        estimate = critic_estimate(self.method, critic, self.held, fake)
        self.rows.append({"g": self.step.g_updates, "estimate": estimate, "sw": sliced_wasserstein(fake, self.held)})
        self.last = fake.cpu()

    def on_batch_end(self, loop, step: int) -> None:
        g = self.step.g_updates
        due = self.step.batches >= self.step.warmup and g % self.every == 0
        if due and (not self.rows or self.rows[-1]["g"] != g):
            self.measure()


def pearson(a, b) -> float:
    """Pearson's correlation of two equally long sequences (NaN if one is constant)."""
    a, b = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    a, b = a - a.mean(), b - b.mean()
    den = (a.norm() * b.norm()).item()
    return float((a * b).sum() / den) if den > 0 else float("nan")


def make_step(method: str, cfg: Config, G, C, warmup_batches: int):
    """The method's step on (copies of) the shared initial networks, with its paper's optimiser."""
    G, C = copy.deepcopy(G), copy.deepcopy(C)
    if method == "gan":
        adam = dict(lr=cfg.lr_gan, betas=(0.5, 0.999), fused=True)
        opts = torch.optim.Adam(G.parameters(), **adam), torch.optim.Adam(C.parameters(), **adam)
        return GANStep(G, C, *opts, z_dim=Z_DIM, warmup=warmup_batches)
    if method == "wgan_clip":
        opts = torch.optim.RMSprop(G.parameters(), lr=cfg.lr_clip), torch.optim.RMSprop(C.parameters(), lr=cfg.lr_clip)
        return WGANStep(G, C, *opts, n_critic=cfg.n_critic, clip=cfg.clip, warmup=warmup_batches)
    adam = dict(lr=cfg.lr_gp, betas=(0.0, 0.9), fused=True)
    opts = torch.optim.Adam(G.parameters(), **adam), torch.optim.Adam(C.parameters(), **adam)
    return WGANStep(G, C, *opts, n_critic=cfg.n_critic, gp_lambda=cfg.gp_lambda, warmup=warmup_batches)


# -- figures ------------------------------------------------------------------------------


def tracking_figure(tracks: dict, corr: dict, floor: float, untrained: float):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 6.5), sharex=True)
    for j, method in enumerate(METHODS):
        rows = tracks[method]
        g = [r["g"] for r in rows]
        top, bottom = axes[0][j], axes[1][j]
        top.plot(g, [r["estimate"] for r in rows], color=COLORS[method], label="critic's estimate")
        top.set_title(f"{NAMES[method]}: r = {corr[method]:.2f}")
        top.set_ylabel("JS bound: ln 2 - D loss / 2" if method == "gan" else "W estimate: E C(real) - E C(fake)")
        if method == "gan":
            top.axhline(math.log(2), color="0.5", ls=":", lw=1, label="ln 2 (its maximum)")
            top.legend(fontsize=8)
        bottom.plot(g, [r["sw"] for r in rows], color="tab:red", label="generated vs held out")
        bottom.axhline(untrained, color="0.5", ls="--", lw=1, label="untrained G")
        bottom.axhline(floor, color="k", ls=":", lw=1, label="real vs real (floor)")
        bottom.set_ylim(bottom=0)
        bottom.set_ylabel("sliced W to held-out data")
        bottom.set_xlabel("generator updates")
    axes[1][0].legend(fontsize=8)
    fig.suptitle(
        "Does the critic's estimate follow sample quality? Top: what each critic says; bottom: the measured distance\n"
        "(r: correlation of the two over training)"
    )
    fig.tight_layout()
    return fig


def samples_figure(held, untrained, samples: dict, scores: dict, centers, std, g_steps: int):
    import matplotlib.pyplot as plt

    panels = [("untrained G", untrained, scores["untrained"])]
    panels += [(NAMES[m], samples[m], scores[m]) for m in METHODS]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 3.8))
    r = held[:1000].numpy()
    for ax, (name, s, (sw, modes)) in zip(axes, panels):
        s = s[:1000].numpy()
        ax.scatter(r[:, 0], r[:, 1], s=3, c="0.6", label="real (held out)")
        ax.scatter(s[:, 0], s[:, 1], s=3, c="tab:red", alpha=0.5, label="generated")
        for c in centers:
            ax.add_patch(plt.Circle(c.tolist(), 3 * std, fill=False, lw=0.8, color="k"))
        ax.set_title(f"{name}\nSW {sw:.3f}, {modes}/{len(centers)} modes", fontsize=10)
        ax.set_xlim(-3, 3)
        ax.set_ylim(-3, 3)
        ax.set_aspect("equal")
        ax.set_xlabel("x1")
    axes[0].set_ylabel("x2")
    axes[0].legend(fontsize=7, markerscale=3, loc="upper left")
    fig.suptitle(f"Samples after {g_steps} generator updates each (same data, networks and starting weights)")
    fig.tight_layout()
    return fig


# -- the lab ------------------------------------------------------------------------------


@lab(
    "wgan",
    source="EE-559 10.2",
    summary="WGAN (weight clipping, gradient penalty) vs a plain GAN on a 2-D ring: the critic tracks quality",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    seed = max(ctx.seed, 0)
    train, _ = ring(cfg.n_points, std=cfg.ring_std, seed=2 * seed)
    held, _ = ring(1000, std=cfg.ring_std, seed=2 * seed + 1)
    centers = ring_centers(8)
    z = torch.randn(1000, Z_DIM)
    G0, C0 = mlp_generator(Z_DIM, cfg.hidden), mlp_critic(cfg.hidden)  # every method starts from these
    per_epoch = math.ceil(cfg.n_points / cfg.batch_size)
    g_steps, warmup_batches = cfg.epochs * per_epoch, cfg.warmup * per_epoch
    with torch.no_grad():
        untrained = G0(z)

    m: dict = {"g_steps": g_steps, "warmup_batches": warmup_batches}
    tracks, samples, corr = {}, {}, {}
    for method in METHODS:
        step = make_step(method, cfg, G0, C0, warmup_batches).to(ctx.device)
        per_g = 1 if method == "gan" else cfg.n_critic
        track = Track(method, step, held.to(ctx.device), z.to(ctx.device), cfg.measure_every)
        if not warmup_batches:
            track.measure()
        callbacks = standard_callbacks(ctx, method, epoch_lines=False, checkpoints=False, curves=False) + [track]
        epochs = cfg.warmup + cfg.epochs * per_g
        fit(
            step,
            (train.to(ctx.device),),
            ctx,
            epochs=epochs,
            batch_size=cfg.batch_size,
            callbacks=callbacks,
            name=method,
        )
        rows = tracks[method] = track.rows
        samples[method] = track.last
        corr[method] = pearson([r["estimate"] for r in rows], [r["sw"] for r in rows])
        late = [r for r in rows if r["g"] >= g_steps / 4]  # without the first fall: does it still follow?
        corr_late = pearson([r["estimate"] for r in late], [r["sw"] for r in late]) if len(late) > 2 else math.nan
        m.update(
            {
                f"{method}_corr": corr[method],
                f"{method}_corr_late": corr_late,
                f"{method}_sw": rows[-1]["sw"],
                f"{method}_mmd": mmd(track.last[:500], held[:500]),
                f"{method}_modes": mode_coverage(track.last, centers, cfg.ring_std)["modes_covered"],
                f"{method}_g_updates": step.g_updates,
                f"{method}_batches": step.batches,
                f"{method}_estimate_start": rows[0]["estimate"],
                f"{method}_estimate_end": rows[-1]["estimate"],
                f"{method}_measures": len(rows),
                f"{method}_over_training": [[r["g"], r["estimate"], r["sw"]] for r in rows],
            }
        )
    m.update(
        sw_untrained=sliced_wasserstein(untrained, held),
        mmd_untrained=mmd(untrained[:500], held[:500]),
        modes_untrained=mode_coverage(untrained, centers, cfg.ring_std)["modes_covered"],
        sw_floor=sliced_wasserstein(train[:1000], held),
        mmd_floor=mmd(train[:500], held[:500]),
    )
    scores = {k: (m[f"{k}_sw"], m[f"{k}_modes"]) for k in METHODS}
    scores["untrained"] = (m["sw_untrained"], m["modes_untrained"])
    ctx.save_figure(tracking_figure(tracks, corr, m["sw_floor"], m["sw_untrained"]), "critic_tracks_quality")
    ctx.save_figure(samples_figure(held, untrained, samples, scores, centers, cfg.ring_std, g_steps), "samples")
    line = (
        f"estimate-vs-distance correlation: WGAN-GP r {corr['wgan_gp']:.2f}, clipping {corr['wgan_clip']:.2f}, "
        f"GAN {corr['gan']:.2f}; sliced W after {g_steps} G updates: GP {m['wgan_gp_sw']:.3f}, "
        f"clip {m['wgan_clip_sw']:.3f}, GAN {m['gan_sw']:.3f} (untrained {m['sw_untrained']:.3f}, "
        f"real {m['sw_floor']:.3f})"
    )
    return Result(line, metrics=m)


def check(result: Result) -> list:
    """The lecture's point: the WGAN-GP critic's estimate follows the sample distance, and
    training against it brings the samples much closer to the data."""
    m = result.metrics
    return [
        verdict("WGAN-GP: correlation of the critic's estimate with the sample distance", m["wgan_gp_corr"], ">", 0.5),
        verdict("... above the plain GAN's (its Jensen-Shannon bound's)", m["wgan_gp_corr"], ">", m["gan_corr"]),
        verdict("WGAN-GP: sliced W below half the untrained G's", m["wgan_gp_sw"], "<", 0.5 * m["sw_untrained"]),
    ]


# -- exercises (`dlc exercise wgan`, then `dlc check wgan`) -------------------------------


def _two_steps(cls, real: torch.Tensor, method: str):
    """Two steps of a small WGAN (a generator step each, n_critic = 1; float32, as the step
    draws its noise): what the step returns, then both players' weights and the update count."""
    G, C = mlp_generator(Z_DIM, hidden=16), mlp_critic(hidden=16)
    opts = torch.optim.SGD(G.parameters(), lr=0.05), torch.optim.SGD(C.parameters(), lr=0.05)
    constraint = {"clip": 0.05} if method == "clip" else {"gp_lambda": 1.0}
    step = cls(G, C, *opts, n_critic=1, **constraint)
    returned = [step((real,)) for _ in range(2)]
    weights = [p.detach().clone() for p in (*C.parameters(), *G.parameters())]
    return returned, weights, step.g_updates


TASKS = [
    Task(
        "WGANStep",
        hint="critic: minimise -(mean C(real) - mean C(fake)) (+ gp_lambda * gradient_penalty), step, clip every "
        "critic weight to [-clip, clip] when clip is set; count the batch; every n_critic batches after the warm-up, "
        "the generator minimises -mean C(G(z)) on fresh noise (drawn after the critic's step)",
        cases=lambda g: [(torch.randn(16, 2, generator=g), m) for m in ("clip", "gp")],
        call=_two_steps,
        rtol=1e-4,
        atol=1e-6,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
