"""Looking at activations (EE-559 8.2): the feature maps of a trained convnet, and 2-D
maps (PCA and t-SNE) of its last hidden layer.

The first lecture's convnet is trained on MNIST for a few epochs. Forward hooks record
what each layer computes for a few test digits: the first layer's 24 x 24 maps still
look like the digit (strokes of some orientation light up), the second layer's 4 x 4 maps
no longer do. The last hidden layer (``fc1`` after its ReLU, 200 values) is where the
classes must be nearly linearly separable; its 2-D maps by PCA (linear, from
:func:`dlc.stats.pca`) and t-SNE (non-linear, keeps neighbours: :func:`dlc.tsne.tsne`)
show the digits as groups.

The measured comparison: a 1-nearest-neighbour classifier, with the same points as
references and as queries each time (``embed_size`` test images: the first half are the
references, the second half the queries), on raw pixels, on the last hidden layer, and on
its 2-D PCA and t-SNE maps (t-SNE sees no label; it maps references and queries together).

Check: the network learns (test error below half the untrained one's); the 1-NN error in
the last hidden layer and in its 2-D t-SNE map are both below the 1-NN error on raw pixels,
same points, same split. ``--epochs 0`` keeps the random network: the check then only
says that its test error is near chance (the maps are still drawn: random features).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict
from dlc.models.trained import train_mnist_convnet
from dlc.stats import pca
from dlc.tsne import tsne


@dataclass
class Config:
    epochs: int = 5  # epochs of SGD on MNIST (0: the random network is looked at)
    lr: float = 0.1  # SGD step size (the lecture's 0.1)
    batch_size: int = 20  # images per SGD step
    embed_size: int = 500  # test images mapped to 2-D and used by the 1-NN comparison (at least 20)
    perplexity: float = 30.0  # t-SNE's perplexity: its smooth number of neighbours (van der Maaten's 30)
    tsne_iterations: int = 500  # t-SNE's gradient steps (the first 250 with early exaggeration 12)
    train_size: int | None = 1000  # MNIST training images (--tiny 500, --full all 60,000)
    test_size: int | None = 1000  # MNIST test images (--tiny 100, --full all 10,000)
    TINY = {"embed_size": 100, "perplexity": 15.0, "tsne_iterations": 400}
    THREADS = 1

    def __post_init__(self):
        if self.embed_size < 20:
            raise UsageError(f"--embed_size must be at least 20, got {self.embed_size}")
        if not 2 <= self.perplexity < self.embed_size / 3:
            raise UsageError(
                f"--perplexity must be at least 2 and below a third of --embed_size ({self.embed_size}), "
                f"got {self.perplexity}"
            )


def record_activations(model: torch.nn.Module, x: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
    """The outputs of the named sub-modules of ``model`` (its attributes ``layers``) for inputs
    ``x``, recorded by forward hooks during one forward pass in eval mode without gradients:
    a dict name -> that layer's output (detached). The hooks are removed afterwards."""
    seen: dict[str, torch.Tensor] = {}
    ### BEGIN SOLUTION
    handles = [
        getattr(model, name).register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, o.detach()))
        for name in layers
    ]
    try:
        with torch.no_grad():
            model.eval()
            model(x)
    finally:
        for h in handles:
            h.remove()
    ### END SOLUTION
    return seen


def nn_error(points: torch.Tensor, labels: torch.Tensor) -> float:
    """1-NN error (a float in [0, 1]) with the first half of the points (N x D) as references
    and the second half as queries: the fraction of queries whose nearest reference (in
    Euclidean distance) has another label (``labels``, N). With an odd N the queries are
    one more than the references."""
    half = len(points) // 2
    ref, query = points[:half].float(), points[half:].float()
    ### BEGIN SOLUTION
    nearest = torch.cdist(query, ref).argmin(1)
    return float((labels[:half][nearest] != labels[half:]).float().mean())
    ### END SOLUTION


def maps_figure(images: torch.Tensor, acts: dict[str, torch.Tensor], channels: int = 6):
    import matplotlib.pyplot as plt

    from dlc import viz  # noqa: F401  (the Agg backend)

    rows = len(images)
    fig, axes = plt.subplots(rows, 1 + 2 * channels, figsize=(1.1 * (1 + 2 * channels), 1.25 * rows + 0.6))
    for r in range(rows):
        axes[r, 0].imshow(images[r, 0].cpu(), cmap="gray")
        for c in range(channels):
            axes[r, 1 + c].imshow(acts["conv1"][r, c].relu().cpu(), cmap="magma")
            axes[r, 1 + channels + c].imshow(acts["conv2"][r, c].relu().cpu(), cmap="magma")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_title("input", fontsize=8)
    for c in range(channels):
        axes[0, 1 + c].set_title(f"conv1 #{c}\n24x24", fontsize=8)
        axes[0, 1 + channels + c].set_title(f"conv2 #{c}\n4x4", fontsize=8)
    fig.suptitle("activation maps (after ReLU; bright = strong response) of the trained convnet")
    return fig


def embedding_figure(maps: dict[str, torch.Tensor], labels: torch.Tensor, errors: dict[str, float]):
    import matplotlib.pyplot as plt

    from dlc import viz  # noqa: F401

    fig, axes = plt.subplots(1, len(maps), figsize=(5.2 * len(maps), 5))
    for ax, (name, y) in zip(axes, maps.items()):
        y = y.cpu().numpy()
        for d in range(10):
            pts = y[(labels == d).numpy()]
            ax.scatter(pts[:, 0], pts[:, 1], s=7, color=plt.cm.tab10(d), label=str(d))
        ax.set_title(f"{name}\n1-NN error in this map: {errors[name]:.1%}")
        ax.set_xlabel("coordinate 1")
        ax.set_ylabel("coordinate 2")
    axes[-1].legend(title="digit", loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=2)
    fig.suptitle("the last hidden layer (fc1, 200 units) of the trained convnet, mapped to 2-D", y=1.02)
    return fig


@lab(
    "activations",
    source="EE-559 8.2",
    summary="activation maps of the MNIST convnet; PCA and t-SNE of its last hidden layer; 1-NN there vs on pixels",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    net = train_mnist_convnet(
        ctx, train_size=cfg.train_size, test_size=cfg.test_size, epochs=cfg.epochs, lr=cfg.lr,
        batch_size=cfg.batch_size,
    )  # fmt: skip
    if len(net.test_input) < cfg.embed_size:
        raise UsageError(f"--embed_size {cfg.embed_size} is more than the {len(net.test_input)} test images kept")
    model = net.model
    x, labels = net.test_input[: cfg.embed_size], net.test_target[: cfg.embed_size].cpu()

    acts = record_activations(model, x, ["conv1", "conv2", "fc1"])
    show = torch.cat([(labels == d).nonzero()[:1, 0] for d in (0, 1, 3, 7)])
    ctx.save_figure(maps_figure(x[show], {k: v[show] for k, v in acts.items()}), "activation_maps")

    hidden = acts["fc1"].relu().cpu().double()  # the last hidden layer, as the network uses it
    mean, directions = pca(hidden)
    maps = {
        "PCA (2 principal components)": ((hidden - mean) @ directions[:2].T).float(),
        f"t-SNE (perplexity {cfg.perplexity:g})": tsne(
            hidden, perplexity=cfg.perplexity, iterations=cfg.tsne_iterations, seed=max(ctx.seed, 0)
        ),
    }
    errors = {
        "raw pixels (784)": nn_error(x.reshape(len(x), -1).cpu(), labels),
        "last hidden layer (200)": nn_error(hidden, labels),
    }
    errors.update({name: nn_error(y, labels) for name, y in maps.items()})
    ctx.save_figure(embedding_figure(maps, labels, errors), "embeddings")

    pix, hid = errors["raw pixels (784)"], errors["last hidden layer (200)"]
    pca_err, tsne_err = list(errors.values())[2:]
    line = (
        f"1-NN error on {len(x) - len(x) // 2} test digits: raw pixels {pix:.1%}, last hidden layer {hid:.1%}, "
        f"its t-SNE map {tsne_err:.1%}, its PCA map {pca_err:.1%}; the net's test error {net.test_error:.1%}"
    )
    return Result(
        line,
        metrics={
            "epochs": cfg.epochs,
            "nn_error_pixels": pix,
            "nn_error_hidden": hid,
            "nn_error_tsne": tsne_err,
            "nn_error_pca": pca_err,
            "test_error": net.test_error,
            "untrained_test_error": net.untrained_test_error,
            "n_queries": len(x) - len(x) // 2,
        },
    )


def check(result: Result) -> list:
    m = result.metrics
    if m["epochs"] == 0:
        return [verdict("untrained network's test error, near chance (90%)", m["test_error"], ">", 0.45)]
    return [
        verdict("test error below half the untrained net's", m["test_error"], "<", 0.5 * m["untrained_test_error"]),
        verdict("1-NN error: last hidden layer below raw pixels", m["nn_error_hidden"], "<", m["nn_error_pixels"]),
        verdict("1-NN error: t-SNE map of the hidden layer below raw pixels", m["nn_error_tsne"], "<",
                m["nn_error_pixels"]),
    ]  # fmt: skip


# -- exercises (`dlc exercise activations`, then `dlc check activations`) ----------------------


def _recorded(f, x: torch.Tensor):
    """What the student's function records on dlc's untrained convnet (float64), and how
    many hooks are left on the layers afterwards (none should be)."""
    from dlc.models.convnets import LectureConvNet

    model = LectureConvNet().double()
    seen = f(model, x, ["conv1", "conv2", "fc1"])
    left = sum(len(getattr(model, n)._forward_hooks) for n in ("conv1", "conv2", "fc1"))
    return {"recorded": seen, "hooks left on the layers": left}


def _clusters(g: torch.Generator) -> list[tuple]:
    """Points around class centres, with labels; N even and odd."""
    out = []
    for n, d in ((40, 5), (17, 2)):
        labels = torch.randint(0, 3, (n,), generator=g)
        centres = torch.randn(3, d, generator=g, dtype=torch.float64) * 2
        out.append((centres[labels] + torch.randn(n, d, generator=g, dtype=torch.float64), labels))
    return out


TASKS = [
    Task(
        "record_activations",
        hint="register a forward hook on each named layer (getattr(model, name)) that stores its output, detached, "
        "in seen; run the model once (eval mode, no_grad); remove the hooks, even if the forward fails",
        cases=lambda g: [(torch.randn(n, 1, 28, 28, generator=g, dtype=torch.float64),) for n in (2, 1)],
        call=_recorded,
    ),
    Task(
        "nn_error",
        hint="the distances of every query to every reference (torch.cdist), the nearest reference's label per "
        "query, and the fraction of queries where it differs from the query's own",
        cases=_clusters,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
