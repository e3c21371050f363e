"""Denoising and variational auto-encoders (EE-559 9.3).

Part 1, denoising: an auto-encoder (:class:`dlc.models.autoencoders.AutoEncoder`) gets
a corrupted digit at its input (Gaussian noise, clipped to [0, 1], or masking noise: a
fraction of the pixels set to 0; new noise at every step) and the clean digit as its
target. It learns what digits look like, so it removes what is not a digit. Measured on
test digits with fixed noise: the PSNR (peak signal-to-noise ratio, 10 log10(1 / MSE),
in dB, per image, averaged) of its output against the clean digit, compared with the
PSNR of the noisy input itself and of a 3 x 3 mean filter of it (a classic denoiser).

Part 2, variational: a VAE (:class:`dlc.models.autoencoders.VAE`) with a Gaussian
encoder q(z|x), the prior N(0, I) and a Bernoulli decoder on the grey levels (the
cross-entropy of the pixels, the usual practice on MNIST's grey digits), trained by
maximising the ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z)) with the reparameterisation
trick. Its ELBO (nats per image, test digits) is followed over training. Images decoded
from z ~ N(0, I) are its samples; they are judged by a digit classifier dlc trains itself
(:func:`dlc.judge.mnist_judge`): the Fréchet distance between the samples' and real
test digits' features, for the trained VAE, for the same VAE untrained (the ceiling),
and between two halves of real held-out digits (the floor); and the classifier's
"is it a digit" scores.

Check: the denoiser's PSNR is 3 dB above the noisy inputs' and above the mean filter's;
the VAE's test ELBO rose over training (above its untrained value and above its first
epoch's); its samples' Fréchet distance is below half the untrained decoder's and above
the real-data floor.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dlc import prologue, viz
from dlc.engine import Step, evaluate, fit
from dlc.engine.callbacks import standard_callbacks
from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict
from dlc.models.autoencoders import ARCHS, VAE, AutoEncoder, psnr

NOISES = ("gaussian", "mask")
PSNR_GAIN_DB = 3.0  # the check: the denoiser at least this far above the noisy input


@dataclass
class Config:
    noise: str = "gaussian"  # corruption of the denoiser's input: "gaussian" (added, clipped
    # to [0, 1]) or "mask" (pixels set to 0)
    noise_level: float = 0.5  # the Gaussian noise's standard deviation, or the fraction of
    # pixels masked (0 to 1)
    dae_latent: int = 32  # code size of the denoising auto-encoder
    vae_latent: int = 16  # latent dimension of the VAE
    epochs: int = 5  # training epochs of the denoiser (at least 1)
    vae_epochs: int = 15  # training epochs of the VAE (at least 1)
    batch_size: int = 32  # digits per Adam step (both models)
    lr: float = 2e-3  # Adam's learning rate (both models; chosen here)
    width: int = 16  # channels of the first convolution (both models)
    arch: str = "small"  # encoder/decoder of both models: "small" or "lecture" (see
    # dlc.models.autoencoders)
    judge_samples: int = 500  # VAE samples judged, and real test digits in each half of the floor
    train_size: int | None = 1000  # MNIST training digits (--tiny 500, --full all 60,000)
    test_size: int | None = 1000  # MNIST test digits (--tiny 100, --full all 10,000)
    TINY = {"epochs": 3, "vae_epochs": 16, "batch_size": 16, "lr": 3e-3, "vae_latent": 8, "judge_samples": 200}
    FULL = {"epochs": 10, "vae_epochs": 20, "judge_samples": 5000}
    THREADS = 1

    def __post_init__(self):
        if self.noise not in NOISES:
            raise UsageError(f"--noise must be one of {', '.join(NOISES)}, got {self.noise!r}")
        if not 0 < self.noise_level <= (1 if self.noise == "mask" else 10):
            raise UsageError(
                f"--noise_level must be in (0, 1] for masking (a fraction of pixels) or in (0, 10] for "
                f"Gaussian noise (a standard deviation), got {self.noise_level}"
            )
        for name in ("dae_latent", "vae_latent", "epochs", "vae_epochs", "batch_size", "width"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise UsageError(f"--lr must be positive, got {self.lr}")
        if self.arch not in ARCHS:
            raise UsageError(f"--arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        if not 2 <= self.judge_samples <= 5000:
            raise UsageError(
                f"--judge_samples must be between 2 and 5,000 (two halves of MNIST's 10,000 test "
                f"digits), got {self.judge_samples}"
            )


def corrupt(x: torch.Tensor, noise: str, level: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """The noisy version of images ``x`` in [0, 1] (the shape and dtype of x): for
    ``noise="gaussian"``, x plus ``level`` times standard Gaussian noise (one
    ``torch.randn(x.shape, generator=generator)``), clipped back to [0, 1]; for ``"mask"``,
    each pixel set to 0 where a uniform draw (one ``torch.rand(x.shape, generator=generator)``)
    is below ``level``. Draw on the CPU, then move the noise to x's device."""
    ### BEGIN SOLUTION
    if noise == "gaussian":
        eps = torch.randn(x.shape, generator=generator).to(x.device)
        return (x + level * eps).clamp(0, 1)
    keep = (torch.rand(x.shape, generator=generator) >= level).to(x.device)
    return x * keep
    ### END SOLUTION


def mean_filter(x: torch.Tensor) -> torch.Tensor:
    """3 x 3 mean filter of N x 1 x H x W images (edges: the mean of the pixels inside)."""
    ones = torch.ones(1, 1, 3, 3, dtype=x.dtype, device=x.device)
    return F.conv2d(x, ones, padding=1) / F.conv2d(torch.ones_like(x), ones, padding=1)


class DenoisingStep(Step):
    """Training batch ``(clean,)``: new noise at every step, the loss is the MSE per pixel
    of the reconstruction against the *clean* digit. Evaluation batch ``(noisy, clean)``:
    fixed noise, and the ``psnr`` of the output (clipped to [0, 1]) too."""

    def __init__(self, model: AutoEncoder, optimizer: torch.optim.Optimizer, noise: str, level: float):
        self.model, self.optimizer, self.noise, self.level = model, optimizer, noise, level

    def __call__(self, batch):
        clean = batch[0]
        loss = F.mse_loss(self.model(corrupt(clean, self.noise, self.level)), clean)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.detach()}

    def evaluate(self, batch):
        noisy, clean = batch
        out = self.model(noisy)
        return {"loss": F.mse_loss(out, clean), "psnr": psnr(out.clamp(0, 1), clean).mean()}


def reparameterise(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """One z ~ q(z|x) = N(mu, diag(exp(logvar))) per row (N x d, like mu), drawn so that the
    gradient flows to mu and logvar: the noise is drawn apart (``torch.randn_like(mu)``)
    and moved by the mean and scaled by the standard deviation."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # SOLUTION


def elbo(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor):
    """Per image, in nats: ``(elbo, rec, kl)``, each of shape N. ``rec = log p(x|z)``, the
    Bernoulli log-likelihood of the grey levels x (N x 1 x 28 x 28, in [0, 1]) under the
    decoder's log-odds ``logits`` (same shape), summed over pixels; ``kl = KL(q(z|x) ||
    N(0, I))`` for q = N(mu, diag(exp(logvar))) (mu, logvar: N x d), in closed form;
    ``elbo = rec - kl``."""
    ### BEGIN SOLUTION
    rec = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
    return rec - kl, rec, kl
    ### END SOLUTION


class VAEStep(Step):
    """Batch ``(images,)``; the ``loss`` is minus the ELBO, in nats per image, with its
    two terms: ``rec`` (E_q log p(x|z), one z per image) and ``kl``."""

    def __init__(self, model: VAE, optimizer: torch.optim.Optimizer):
        self.model, self.optimizer = model, optimizer

    def _scores(self, x):
        mu, logvar = self.model.encode(x)
        logits = self.model.decoder(reparameterise(mu, logvar))  # the decoder's log-odds
        value, rec, kl = elbo(logits, x, mu, logvar)
        return -value.mean(), {"rec": rec.mean().detach(), "kl": kl.mean().detach()}

    def __call__(self, batch):
        loss, scores = self._scores(batch[0])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.detach(), **scores}

    def evaluate(self, batch):
        loss, scores = self._scores(batch[0])
        return {"loss": loss, **scores}


@lab(
    "denoising-vae",
    source="EE-559 9.3",
    summary="denoising auto-encoder (PSNR vs the noisy input) and a VAE (ELBO, samples judged by a digit classifier)",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    from dlc.judge import mnist_judge

    n_real = 2 * cfg.judge_samples
    train, _, test_all, _ = prologue.load(
        train_size=cfg.train_size,
        test_size=max(cfg.test_size or 10_000, n_real),
        flatten=False,
        data_dir=ctx.data_dir,
    )
    train, test_all = train / 255, test_all / 255  # the prologue gives grey levels 0..255
    test = test_all[: cfg.test_size] if cfg.test_size else test_all
    real_a, real_b = test_all[: cfg.judge_samples], test_all[cfg.judge_samples : n_real]

    # -- part 1: the denoiser ---------------------------------------------------------------
    g = torch.Generator().manual_seed(1234)  # the test set's noise: fixed, the same for every method
    noisy = corrupt(test, cfg.noise, cfg.noise_level, g)
    dae = AutoEncoder(cfg.dae_latent, cfg.width, cfg.arch)
    dstep = DenoisingStep(dae, torch.optim.Adam(dae.parameters(), lr=cfg.lr), cfg.noise, cfg.noise_level)
    dae_untrained = evaluate(dstep, (noisy, test), ctx)["psnr"]
    dae_history = fit(
        dstep,
        (train,),
        ctx,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        val=(noisy, test),
        val_name="test",
        callbacks=standard_callbacks(ctx, "denoiser", curves=False),
        name="denoiser",
    )
    dae.cpu().eval()
    with torch.no_grad():
        denoised = torch.cat([dae(noisy[i : i + 1000]) for i in range(0, len(noisy), 1000)]).clamp(0, 1)
    psnr_dae = float(psnr(denoised, test).mean())
    psnr_noisy = float(psnr(noisy, test).mean())
    psnr_blur = float(psnr(mean_filter(noisy), test).mean())

    # -- part 2: the VAE --------------------------------------------------------------------
    vae = VAE(cfg.vae_latent, cfg.width, cfg.arch)
    vstep = VAEStep(vae, torch.optim.Adam(vae.parameters(), lr=cfg.lr))
    sample_g = torch.Generator().manual_seed(4321)
    untrained_samples = vae.sample(cfg.judge_samples, torch.Generator().manual_seed(4321)).cpu()
    elbo_untrained = -evaluate(vstep, (test,), ctx)["loss"]
    vae_history = fit(
        vstep,
        (train,),
        ctx,
        epochs=cfg.vae_epochs,
        batch_size=cfg.batch_size,
        val=(test,),
        val_name="test",
        callbacks=standard_callbacks(ctx, "vae", curves=False),
        name="vae",
    )
    vae.cpu().eval()
    elbo_test = -evaluate(vstep, (test,), ctx)["loss"]
    samples = vae.sample(cfg.judge_samples, sample_g).cpu()

    # -- the judge: a digit classifier dlc trains once and caches ------------------------------
    judge = mnist_judge(data_dir=ctx.data_dir)
    fd = {
        "vae": judge.frechet(real_a, samples),
        "untrained": judge.frechet(real_a, untrained_samples),
        "floor": judge.frechet(real_a, real_b),
    }
    scores = {
        k: judge.digit_score(v) for k, v in (("vae", samples), ("untrained", untrained_samples), ("real", real_b))
    }

    # -- figures -------------------------------------------------------------------------------
    shown = torch.arange(min(10, len(test)))
    ctx.save_figure(
        _denoising_figure(
            test[shown],
            noisy[shown],
            mean_filter(noisy[shown]),
            denoised[shown],
            (psnr_noisy, psnr_blur, psnr_dae),
            cfg,
        ),
        "denoising",
    )
    ctx.save_figure(_elbo_figure(vae_history, elbo_untrained), "elbo")
    ctx.save_figure(_psnr_figure(dae_history, psnr_noisy, psnr_blur, dae_untrained), "denoiser_psnr")
    ctx.save_figure(_samples_figure(real_b, samples, untrained_samples, fd, scores), "vae_samples")

    judge_note = f"judge trained now ({judge.seconds:.0f} s)" if judge.trained_now else "judge from cache"
    line = (
        f"denoiser PSNR {psnr_dae:.1f} dB vs noisy {psnr_noisy:.1f} dB (mean filter {psnr_blur:.1f}); "
        f"VAE test ELBO {elbo_test:.1f} nats/image (untrained {elbo_untrained:.0f}); "
        f"Fréchet distance of samples {fd['vae']:.1f} vs untrained {fd['untrained']:.1f}, "
        f"real floor {fd['floor']:.1f} ({judge_note})"
    )
    return Result(
        line,
        metrics={
            "psnr_denoised": psnr_dae,
            "psnr_noisy": psnr_noisy,
            "psnr_mean_filter": psnr_blur,
            "psnr_untrained_denoiser": dae_untrained,
            "elbo_test": elbo_test,
            "elbo_untrained": elbo_untrained,
            "elbo_first_epoch": -vae_history[0]["test_loss"],
            "elbo_curve": [-r["test_loss"] for r in vae_history],
            "kl_test": vae_history[-1]["test_kl"],
            "frechet_vae": fd["vae"],
            "frechet_untrained": fd["untrained"],
            "frechet_floor": fd["floor"],
            "confidence_vae": scores["vae"]["confidence"],
            "confidence_untrained": scores["untrained"]["confidence"],
            "confidence_real": scores["real"]["confidence"],
            "digits_covered_vae": scores["vae"]["digits_covered"],
            "judge_trained_now": judge.trained_now,
            "judge_test_accuracy": judge.test_accuracy,
            "judge_samples": cfg.judge_samples,
            "epochs": len(dae_history),
            "vae_epochs": len(vae_history),
            "train_samples": len(train),
            "test_samples": len(test),
        },
    )


def check(result: Result) -> list:
    m = result.metrics
    return [
        verdict(
            f"denoiser PSNR above the noisy input's + {PSNR_GAIN_DB:g} dB",
            m["psnr_denoised"],
            ">",
            m["psnr_noisy"] + PSNR_GAIN_DB,
        ),
        verdict("denoiser PSNR above the 3x3 mean filter's", m["psnr_denoised"], ">", m["psnr_mean_filter"]),
        verdict("VAE test ELBO above the untrained VAE's", m["elbo_test"], ">", m["elbo_untrained"]),
        verdict("VAE test ELBO above its first epoch's", m["elbo_test"], ">", m["elbo_first_epoch"]),
        verdict(
            "Fréchet distance of VAE samples below half the untrained decoder's",
            m["frechet_vae"],
            "<",
            0.5 * m["frechet_untrained"],
        ),
        verdict("Fréchet distance of VAE samples above the real-data floor", m["frechet_vae"], ">", m["frechet_floor"]),
    ]


# -- pictures -------------------------------------------------------------------------------


def _denoising_figure(clean, noisy, blurred, denoised, values, cfg):
    p_noisy, p_blur, p_dae = values
    what = f"Gaussian noise, std {cfg.noise_level:g}" if cfg.noise == "gaussian" else f"{cfg.noise_level:.0%} masked"
    rows = [
        ("clean test digits", clean),
        (f"noisy input\n{p_noisy:.1f} dB", noisy),
        (f"3x3 mean filter\n{p_blur:.1f} dB", blurred),
        (f"denoising AE\n{p_dae:.1f} dB", denoised),
    ]
    return viz.image_rows(rows, f"denoising ({what}); PSNR against the clean digits, test mean", left=0.2)


def _elbo_figure(history, untrained):
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    a1.plot(epochs, [-r["train_loss"] for r in history], "o-", ms=3, label="train")
    a1.plot(epochs, [-r["test_loss"] for r in history], "o-", ms=3, label="test")
    lo = min(-r["test_loss"] for r in history)
    hi = max(max(-r["train_loss"], -r["test_loss"]) for r in history)
    a1.set_ylim(lo - 0.3 * (hi - lo) - 1, hi + 0.15 * (hi - lo) + 1)  # the first training epoch starts far below
    a1.set_xlabel("epoch")
    a1.set_ylabel("ELBO (nats per image)")
    a1.set_title(f"ELBO rises (higher is better; untrained: {untrained:.0f})")
    a1.legend(fontsize=8, loc="lower right")
    a1.grid(alpha=0.3)
    a2.plot(epochs, [-r["test_rec"] for r in history], "o-", ms=3, color="C2", label="-E_q log p(x|z) (reconstruction)")
    a2.plot(epochs, [r["test_kl"] for r in history], "o-", ms=3, color="C3", label="KL(q(z|x) || p(z))")
    a2.set_xlabel("epoch")
    a2.set_ylabel("nats per image (test)")
    a2.set_title("the two terms of -ELBO")
    a2.legend(fontsize=8)
    a2.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _psnr_figure(history, p_noisy, p_blur, p_untrained):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = [r["epoch"] for r in history]
    ax.plot([0, *epochs], [p_untrained] + [r["test_psnr"] for r in history], "o-", ms=3, label="denoising AE")
    ax.axhline(p_noisy, color="C3", ls="--", label="noisy input")
    ax.axhline(p_blur, color="C2", ls=":", label="3x3 mean filter")
    ax.set_xlabel("epoch (0: untrained)")
    ax.set_ylabel("test PSNR against the clean digits (dB)")
    ax.set_title("denoiser: PSNR over training")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def _samples_figure(real, samples, untrained, fd, scores, n: int = 36):
    import matplotlib.pyplot as plt

    k = int(n**0.5)
    panels = [
        ("real test digits", real, f"floor: FD {fd['floor']:.1f} (half vs half)", scores["real"]),
        ("VAE samples, z ~ N(0, I)", samples, f"FD {fd['vae']:.1f}", scores["vae"]),
        ("untrained decoder", untrained, f"FD {fd['untrained']:.1f}", scores["untrained"]),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.6))
    for ax, (name, imgs, fd_text, sc) in zip(axes, panels):
        grid = imgs[: k * k].reshape(k, k, 28, 28).permute(0, 2, 1, 3).reshape(28 * k, 28 * k)
        ax.imshow(grid.clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(
            f"{fd_text}\njudge confidence {sc['confidence']:.2f}, {sc['digits_covered']} digits covered", fontsize=9
        )
    fig.suptitle("samples judged by dlc's digit classifier: Fréchet distance (FD) to real test digits")
    fig.tight_layout()
    return fig


# -- exercises (`dlc exercise denoising-vae`, then `dlc check denoising-vae`) ------------------


def _codes(g: torch.Generator) -> list[tuple]:
    """(mu, logvar) pairs, float64."""
    return [(torch.randn(n, d, generator=g, dtype=torch.float64), torch.randn(n, d, generator=g, dtype=torch.float64))
            for n, d in ((4, 3), (1, 8), (2, 1))]  # fmt: skip


def _elbo_cases(g: torch.Generator) -> list[tuple]:
    out = []
    for mu, logvar in _codes(g):
        n = len(mu)
        x = torch.rand(n, 1, 28, 28, generator=g, dtype=torch.float64) * (torch.rand(n, 1, 28, 28, generator=g) > 0.6)
        out.append((torch.randn(n, 1, 28, 28, generator=g, dtype=torch.float64) * 3, x, mu, logvar))
    return out


TASKS = [
    Task(
        "corrupt",
        hint="gaussian: add level x the noise and clamp to [0, 1]; mask: keep a pixel where its uniform draw is at "
        "least level, zero it elsewhere",
        cases=lambda g: [
            (torch.rand(3, 1, 6, 6, generator=g, dtype=torch.float64), "gaussian", 0.5),
            (torch.rand(2, 1, 5, 5, generator=g, dtype=torch.float64), "mask", 0.3),
            (torch.rand(1, 1, 4, 4, generator=g, dtype=torch.float64), "gaussian", 2.0),
        ],
    ),
    Task(
        "reparameterise",
        hint="z = mu + exp(logvar / 2) * eps with eps = torch.randn_like(mu): the randomness is an input, so "
        "z is differentiable in mu and logvar",
        cases=_codes,
        grad=True,
    ),
    Task(
        "elbo",
        hint="rec: minus binary_cross_entropy_with_logits(logits, x) summed over each image's pixels; kl: "
        "1/2 sum(mu^2 + exp(logvar) - 1 - logvar) over the latent dimensions; elbo = rec - kl",
        cases=_elbo_cases,
        grad=True,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
