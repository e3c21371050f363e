"""The probabilistic linear classifier, its limits, and feature design (EE-559 3.2-3.3).

3.2: if the two classes are Gaussians with the same covariance S, the posterior is a
sigmoid of a linear function of x,

    P(Y = 1 | X = x) = sigmoid(w.x + b),  w = S^-1 (mu1 - mu0),
    b = (mu0' S^-1 mu0 - mu1' S^-1 mu1) / 2 + log(P(Y = 1) / P(Y = 0)).

Plugging estimated means and covariance in gives the linear discriminant (LDA); fitting w
and b directly by maximum likelihood (minimising sum_n log(1 + exp(-y_n (w.x_n + b))), by
gradient descent) gives logistic regression. Both land near the Bayes boundary.

3.3: a linear classifier cannot separate XOR, whatever its training. A designed feature
map phi(x) = (x1, x2, x1 x2) makes XOR linearly separable in feature space, and the same
logistic regression, on phi(x), fits it; (x1^2, x2^2) does the same for a disc.

The Gaussian parameters, data sizes and gradient-descent settings are chosen here (the
lecture gives none); the feature maps are the lecture's examples.

Check (``check``): on XOR, logistic regression on the raw features keeps a training error
>= 25%, and on the designed features reaches 0%; on the Gaussian classes, the test errors
of LDA and logistic regression are within 5 points of the Bayes classifier's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from dlc import viz
from dlc.data import toy
from dlc.errors import DlcError, UsageError
from dlc.exercise import Task
from dlc.labs import Result, Verdict, lab, verdict
from dlc.stats import standardize

BAYES_GAP = 0.05  # the check: LDA and logistic regression within this of the Bayes error


@dataclass
class Config:
    n: int = 1000  # points per data set (training; the Gaussian set has as many test points)
    lr: float = 1.0  # gradient step of logistic regression, on the mean loss (chosen here)
    steps: int = 2000  # full-batch gradient steps of logistic regression (chosen here)
    xor_std: float = 0.25  # std of the four XOR clusters around (+-1, +-1)
    TINY = {"n": 200, "steps": 500}

    def __post_init__(self):
        if self.n < 8:
            raise UsageError(f"--n must be at least 8 (points of both classes), got {self.n}")
        if self.steps < 1:
            raise UsageError(f"--steps must be at least 1 (a fit of 0 steps learns nothing), got {self.steps}")
        if not self.lr > 0 or not self.xor_std > 0:
            raise UsageError(f"--lr and --xor_std must be positive, got {self.lr} and {self.xor_std}")


# -- the Gaussian model and LDA ----------------------------------------------------


def gaussian_classes(n: int, generator: torch.Generator):
    """Two Gaussian classes with one shared covariance, equal priors; x, y in {0, 1}, truth."""
    mu = torch.tensor([[-1.0, 0.0], [1.0, 0.5]], dtype=torch.float64)
    cov = torch.tensor([[1.0, 0.6], [0.6, 0.8]], dtype=torch.float64)
    y = (torch.rand(n, generator=generator) < 0.5).long()
    chol = torch.linalg.cholesky(cov)
    x = mu[y] + torch.randn(n, 2, generator=generator, dtype=torch.float64) @ chol.T
    return x, y, {"mu": mu, "cov": cov, "prior1": 0.5}


def linear_posterior(mu0, mu1, cov, prior1) -> tuple[torch.Tensor, torch.Tensor]:
    """(w, b) such that P(Y = 1 | x) = sigmoid(w.x + b) under the shared-covariance model.

    ``mu0``, ``mu1``: the class means (D), ``cov``: the shared covariance S (D x D),
    ``prior1``: P(Y = 1), a number. Returns w = S^-1 (mu1 - mu0), a D vector, and
    b = (mu0' S^-1 mu0 - mu1' S^-1 mu1) / 2 + log(P(Y = 1) / P(Y = 0)), a 0-d tensor.
    """
    ### BEGIN SOLUTION
    inv = torch.linalg.inv(cov)
    w = inv @ (mu1 - mu0)
    b = 0.5 * (mu0 @ inv @ mu0 - mu1 @ inv @ mu1) + math.log(prior1 / (1 - prior1))
    ### END SOLUTION
    return w, b


def fit_lda(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The same formula with the class means, pooled covariance and class frequency of (x, y)."""
    if y.min() == y.max():
        raise DlcError("LDA needs samples of both classes")
    x0, x1 = x[y == 0], x[y == 1]
    mu0, mu1 = x0.mean(0), x1.mean(0)
    centred = torch.cat([x0 - mu0, x1 - mu1])
    cov = centred.T @ centred / (len(x) - 2)
    return linear_posterior(mu0, mu1, cov, float(y.double().mean()))


# -- logistic regression -------------------------------------------------------------


def logistic_loss(features, y, w, b):
    """Mean negative log-likelihood L = mean_n softplus(-s_n (w.phi_n + b)), s_n = 2 y_n - 1,
    and its gradient, written out: dL/dw = -mean_n s_n sigmoid(-s_n (w.phi_n + b)) phi_n,
    and the same without phi_n for b.

    ``features`` is N x D, ``y`` the N labels in {0, 1}, ``w`` a D vector, ``b`` a 0-d
    tensor. Returns (L, dL/dw, dL/db): a 0-d tensor, a D vector, a 0-d tensor. softplus(a)
    = log(1 + exp(a)) is ``torch.nn.functional.softplus``, which does not overflow.
    """
    sign = 2.0 * y.to(features.dtype) - 1  # s_n in {-1, +1}
    ### BEGIN SOLUTION
    margin = sign * (features @ w + b)
    weight = -sign * torch.sigmoid(-margin) / len(sign)  # dL / d(w.phi_n + b)
    loss = torch.nn.functional.softplus(-margin).mean()
    grad_w, grad_b = features.T @ weight, weight.sum()
    ### END SOLUTION
    return loss, grad_w, grad_b


def fit_logistic(features: torch.Tensor, y: torch.Tensor, lr: float, steps: int):
    """Maximum likelihood of P(Y = 1 | phi) = sigmoid(w.phi + b) by full-batch gradient
    descent from zero. Returns w, b and the loss before every step."""
    w = torch.zeros(features.size(1), dtype=features.dtype)
    b = torch.zeros((), dtype=features.dtype)
    losses = []
    for _ in range(steps):
        loss, grad_w, grad_b = logistic_loss(features, y, w, b)
        losses.append(float(loss))
        w, b = w - lr * grad_w, b - lr * grad_b
    return w, b, losses


def classify(w, b, features) -> torch.Tensor:
    return (features @ w + b > 0).long()


def error_rate(w, b, features, y) -> float:
    return float((classify(w, b, features) != y).double().mean())


# -- feature design --------------------------------------------------------------------


def raw(x: torch.Tensor) -> torch.Tensor:
    return x


def xor_features(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2, x1 x2): the product is what tells the XOR classes apart."""
    return torch.cat([x, (x[:, 0] * x[:, 1]).unsqueeze(1)], 1)


def quadratic_features(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2, x1^2, x2^2): a circle becomes a line in this space."""
    return torch.cat([x, x**2], 1)


def xor_set(n: int, std: float, seed: int):
    """Four clusters at (+-1, +-1); class 1 where the centre has x1 x2 > 0 (XOR of the signs)."""
    centres = [[1.0, 1.0], [-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0]]
    x, cluster = toy.blobs(n, centers=centres, std=std, seed=seed)
    return x.double(), (cluster < 2).long()


def fit_with(phi: Callable, x, y, cfg: Config):
    """Standardise the designed features (from the training set), then logistic regression.

    Returns a predict function on raw points, the training error and the loss curve.
    """
    f = phi(x)
    w, b, losses = fit_logistic(standardize(f, per_feature=True), y, cfg.lr, cfg.steps)

    def predict(points: torch.Tensor) -> torch.Tensor:
        # new points are scaled with the training features' statistics
        return classify(w, b, standardize(f, phi(points.double()), per_feature=True)[1])

    return predict, float((predict(x) != y).double().mean()), losses


# -- figures -------------------------------------------------------------------------


CMAP = "coolwarm_r"  # class 0 red, class 1 blue, in the points and the regions alike


def _class_handles(names, cmap: str = CMAP) -> list:
    """Legend entries for the point colours of ``viz.decision_regions`` (class k of K at
    k / (K - 1) along ``cmap``)."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    colour = plt.get_cmap(cmap)
    return [
        Line2D([], [], ls="", marker="o", color=colour(k / max(len(names) - 1, 1)), label=name)
        for k, name in enumerate(names)
    ]


def _features_figure(panels):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(panels) // 2, figsize=(4.2 * len(panels) // 2, 9.2))
    for ax, (predict, x, y, title) in zip(axes.T.flat, panels):
        viz.decision_regions(predict, x, y, cmap=CMAP, ax=ax)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")
    fig.suptitle("logistic regression on raw and designed features phi(x); shading: the predicted class")
    fig.legend(handles=_class_handles(["class 0", "class 1"]), loc="upper center", ncol=2, bbox_to_anchor=(0.5, 0.965))
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return fig


def _gaussian_figure(x, y, lines):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 5))
    (w, b) = next(iter(lines.values()))
    lo, hi = x.min(0).values, x.max(0).values
    gx, gy = torch.meshgrid(
        torch.linspace(float(lo[0]), float(hi[0]), 150, dtype=torch.float64),
        torch.linspace(float(lo[1]), float(hi[1]), 150, dtype=torch.float64),
        indexing="xy",
    )
    posterior = torch.sigmoid(w[0] * gx + w[1] * gy + b)
    shade = ax.contourf(gx.numpy(), gy.numpy(), posterior.numpy(), levels=10, cmap=CMAP, alpha=0.25)
    fig.colorbar(shade, ax=ax, label="P(Y = 1 | x), true model")
    ax.scatter(x[:, 0].numpy(), x[:, 1].numpy(), c=y.numpy(), cmap=CMAP, s=5, edgecolors="none")
    xs = torch.linspace(float(x[:, 0].min()), float(x[:, 0].max()), 2, dtype=torch.float64)
    for (label, (w, b)), style in zip(lines.items(), ["k-", "g--", "m:"]):
        ax.plot(xs.numpy(), (-(w[0] * xs + b) / w[1]).numpy(), style, lw=2, label=f"boundary: {label}")
    ax.set_ylim(float(x[:, 1].min()), float(x[:, 1].max()))
    handles = ax.get_legend_handles_labels()[0] + _class_handles(["training point, Y = 0", "training point, Y = 1"])
    ax.legend(handles=handles, fontsize=8, loc="upper left")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_title("two Gaussians, shared covariance: linear boundaries", fontsize=10)
    return fig


@lab(
    "linear-classifier",
    source="EE-559 3.2-3.3",
    summary="Gaussian model, LDA and logistic regression; designed features make XOR separable",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    seed = max(ctx.seed, 0)
    gen = torch.Generator().manual_seed(seed)

    # 3.2: the posterior of the shared-covariance Gaussian model is linear.
    x, y, truth = gaussian_classes(cfg.n, gen)
    x_test, y_test, _ = gaussian_classes(cfg.n, gen)
    bayes = linear_posterior(truth["mu"][0], truth["mu"][1], truth["cov"], truth["prior1"])
    lda = fit_lda(x, y)
    w, b, gauss_losses = fit_logistic(x, y, cfg.lr, cfg.steps)
    gauss = {
        name: error_rate(*wb, x_test, y_test) for name, wb in (("bayes", bayes), ("lda", lda), ("logistic", (w, b)))
    }
    ctx.save_figure(
        _gaussian_figure(x, y, {"Bayes (true parameters)": bayes, "LDA": lda, "logistic regression": (w, b)}),
        "gaussian",
    )
    ctx.print("Gaussian classes, test error: " + ", ".join(f"{k} {v:.2%}" for k, v in gauss.items()))

    # 3.3: XOR and the disc, with raw and designed features.
    xor_x, xor_y = xor_set(cfg.n, cfg.xor_std, seed)
    disc_x, disc_y = toy.disc_outside(cfg.n, seed=seed)
    disc_x = disc_x.double()
    fits = {}
    panels = []
    for name, (px, py) in {"xor": (xor_x, xor_y), "disc": (disc_x, disc_y)}.items():
        designed = xor_features if name == "xor" else quadratic_features
        for kind, phi in (("raw", raw), ("designed", designed)):
            predict, err, losses = fit_with(phi, px, py, cfg)
            fits[f"{name}_{kind}"] = err
            for step in range(0, cfg.steps, max(1, cfg.steps // 100)):
                ctx.log(set=name, features=kind, step=step, loss=losses[step])
            label = {"raw": "(x1, x2)", "designed": "(x1, x2, x1 x2)" if name == "xor" else "(x1, x2, x1^2, x2^2)"}[
                kind
            ]
            panels.append((predict, px, py, f"{name}, phi = {label}: train error {err:.1%}"))
            ctx.print(f"{name} with {kind} features {label}: training error {err:.2%}")
    ctx.save_figure(_features_figure(panels), "features")

    line = (
        f"XOR training error {fits['xor_raw']:.1%} with (x1, x2), {fits['xor_designed']:.1%} "
        f"with (x1, x2, x1 x2); disc {fits['disc_raw']:.1%} -> {fits['disc_designed']:.1%} with "
        f"squares; Gaussians: LDA {gauss['lda']:.1%}, logistic {gauss['logistic']:.1%}, "
        f"Bayes {gauss['bayes']:.1%} test error"
    )
    return Result(
        line,
        metrics={
            "xor_raw_error": fits["xor_raw"],
            "xor_designed_error": fits["xor_designed"],
            "disc_raw_error": fits["disc_raw"],
            "disc_designed_error": fits["disc_designed"],
            "gauss_bayes_error": gauss["bayes"],
            "gauss_lda_error": gauss["lda"],
            "gauss_logistic_error": gauss["logistic"],
            "gauss_logistic_final_loss": gauss_losses[-1],
            "gauss_logistic_first_loss": gauss_losses[0],
        },
    )


def check(result: Result) -> list[Verdict]:
    """Lecture 3.3's XOR point and 3.2's: the fitted linear posteriors land near Bayes."""
    m = result.metrics
    return [
        verdict("XOR training error with raw features (x1, x2)", m["xor_raw_error"], ">=", 0.25),
        verdict("XOR training error with designed features (x1, x2, x1 x2)", m["xor_designed_error"], "==", 0),
        verdict(
            f"Gaussian test error of LDA, vs Bayes + {BAYES_GAP:.0%}",
            m["gauss_lda_error"],
            "<=",
            m["gauss_bayes_error"] + BAYES_GAP,
        ),
        verdict(
            f"Gaussian test error of logistic regression, vs Bayes + {BAYES_GAP:.0%}",
            m["gauss_logistic_error"],
            "<=",
            m["gauss_bayes_error"] + BAYES_GAP,
        ),
    ]


# -- exercises (`dlc exercise linear-classifier`, then `dlc check linear-classifier`) --------


def _gaussian_model(g: torch.Generator, d: int, prior1: float) -> tuple:
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    cov = a @ a.T + 0.5 * torch.eye(d, dtype=torch.float64)  # symmetric positive definite
    mu = torch.randn(2, d, generator=g, dtype=torch.float64)
    return mu[0], mu[1], cov, prior1


def _logistic_cases(g: torch.Generator) -> list[tuple]:
    out = []
    for n, d, scale in ((30, 2, 1.0), (12, 3, 1.0), (8, 2, 200.0)):  # the last: margins in the hundreds
        features = torch.randn(n, d, generator=g, dtype=torch.float64)
        y = torch.randint(0, 2, (n,), generator=g)
        w = scale * torch.randn(d, generator=g, dtype=torch.float64)
        out.append((features, y, w, torch.tensor(0.3, dtype=torch.float64)))
    return out


def _autograd_logistic(features, y, w, b):
    """dL/dw and dL/db by torch.autograd, from PyTorch's own binary cross-entropy on logits."""
    w, b = w.detach().requires_grad_(True), b.detach().requires_grad_(True)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(features @ w + b, y.to(features.dtype))
    return torch.autograd.grad(loss, (w, b))


TASKS = [
    Task(
        "linear_posterior",
        hint="the weights w = S^-1 (mu1 - mu0) and the bias b = (mu0' S^-1 mu0 - mu1' S^-1 mu1) / 2 + "
        "log(prior1 / (1 - prior1))",
        cases=lambda g: [_gaussian_model(g, 2, 0.5), _gaussian_model(g, 3, 0.2), _gaussian_model(g, 1, 0.9)],
    ),
    Task(
        "logistic_loss",
        hint="with the margins m_n = s_n (w.phi_n + b): L = mean softplus(-m_n); dL/d(w.phi_n + b) = "
        "-s_n sigmoid(-m_n) / N, summed against phi_n for dL/dw and alone for dL/db",
        cases=_logistic_cases,
        call=lambda f, *args: f(*args)[0],
        grad=lambda f, *args: f(*args)[1:],
        autograd=_autograd_logistic,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
