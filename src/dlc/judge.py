"""A judge of generated digits: an MNIST classifier that dlc trains itself, and the
sample-quality numbers the generative labs report with it.

The "Fréchet Inception Distance" of the literature compares generated and real images
in the feature space of an ImageNet network; none can be downloaded here, and digits are
better judged by a digit classifier anyway. :func:`mnist_judge` trains the first
lecture's convnet on MNIST once (:data:`RECIPE`: 20,000 training images, 2 epochs of
Adam; about 98% test accuracy, half a minute on a laptop CPU) and keeps the weights in
the user's cache (:mod:`dlc.pretrained`), keyed by the recipe and a checksum of the
training images, so any change of either trains a new judge.

With it, for images of N x 1 x 28 x 28 with pixel values in [0, 1]:

- :meth:`Judge.frechet` — the Fréchet distance between the Gaussians fitted to two sets'
  features (the 200 units of the convnet's last hidden layer): the "FID" of digits;
- :meth:`Judge.digit_score` — how digit-like the samples are: the mean confidence of the
  classifier, the number of the 10 classes that get at least ``min_share`` of the samples
  (mode collapse shows as few covered digits), and the classifier-based "inception
  score" exp(E[KL(p(y|x) || p(y))]) (10 for confident, evenly spread digits, 1 for
  samples that all look alike).

A lab reports each for its samples, for the untrained generator (the ceiling) and for
held-out real digits (the floor).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dlc import pretrained
from dlc.errors import InvalidArgument
from dlc.models.convnets import LectureConvNet
from dlc.quality import frechet_distance

RECIPE = {"net": "LectureConvNet", "train_images": 20_000, "epochs": 2, "batch_size": 100, "lr": 1e-3, "seed": 0}


@dataclass
class Judge:
    net: LectureConvNet
    mean: float
    std: float
    test_accuracy: float
    trained_now: bool
    seconds: float

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() == 3:
            images = images.unsqueeze(1)
        if images.shape[1:] != (1, 28, 28):
            raise InvalidArgument(f"the judge reads N x 1 x 28 x 28 images, got {tuple(images.shape)}")
        if not torch.isfinite(images).all():
            raise InvalidArgument("the images hold NaN or infinite values")
        return (images.float().cpu() - self.mean) / self.std

    @torch.no_grad()
    def _run(self, images: torch.Tensor, batch: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
        """(features N x 200, class probabilities N x 10)."""
        self.net.eval()
        feats, probs = [], []
        x = self._prepare(images)
        for i in range(0, len(x), batch):
            h = F.relu(F.max_pool2d(self.net.conv1(x[i : i + batch]), 3))
            h = F.relu(F.max_pool2d(self.net.conv2(h), 2)).flatten(1)
            h = F.relu(self.net.fc1(h))
            feats.append(h)
            probs.append(F.softmax(self.net.fc2(h), 1))
        return torch.cat(feats), torch.cat(probs)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self._run(images)[0]

    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """The predicted digit of each image."""
        return self._run(images)[1].argmax(1)

    def frechet(self, a: torch.Tensor, b: torch.Tensor) -> float:
        """Fréchet distance between two image sets in the judge's feature space."""
        return frechet_distance(self.features(a), self.features(b))

    def digit_score(self, images: torch.Tensor, min_share: float = 0.05) -> dict:
        """confidence (mean top probability), digits_covered (classes predicted for at
        least ``min_share`` of the images: half of a fair share of 10%, so that the judge's
        own errors do not count as a digit), inception_score, class_shares (10 values)."""
        _, p = self._run(images)
        shares = torch.bincount(p.argmax(1), minlength=10).double() / len(p)
        marginal = p.double().mean(0, keepdim=True)
        kl = (p.double() * (p.double().clamp_min(1e-12).log() - marginal.clamp_min(1e-12).log())).sum(1)
        return {
            "confidence": float(p.max(1).values.mean()),
            "digits_covered": int((shares >= min_share).sum()),
            "inception_score": float(kl.mean().exp()),
            "class_shares": shares.tolist(),
        }


def _train(data_dir) -> tuple[dict, dict]:
    from dlc.engine import Supervised, evaluate, fit

    x, y, xt, yt = _mnist(data_dir)
    mean, std = float(x.mean()), float(x.std())
    with torch.random.fork_rng():  # the caller's random state is left as it was
        torch.manual_seed(RECIPE["seed"])
        net = LectureConvNet()
        step = Supervised(net, torch.optim.Adam(net.parameters(), lr=RECIPE["lr"]), metric="accuracy")
        train = ((x - mean) / std, y)
        fit(step, train, None, epochs=RECIPE["epochs"], batch_size=RECIPE["batch_size"], callbacks=[])
    accuracy = evaluate(step, ((xt - mean) / std, yt), None)["accuracy"]
    return net.state_dict(), {"mean": mean, "std": std, "test_accuracy": accuracy}


def _mnist(data_dir):
    from dlc import data

    x, y = data.load("mnist", train=True, data_dir=data_dir)
    xt, yt = data.load("mnist", train=False, data_dir=data_dir)
    n = RECIPE["train_images"]
    return x[:n, None].float() / 255, y[:n], xt[:, None].float() / 255, yt


def mnist_judge(data_dir=None, use_cache: bool = True) -> Judge:
    """The judge, from the cache or trained now (about half a minute)."""
    x, y, _, _ = _mnist(data_dir)
    recipe = {**RECIPE, "data": pretrained.tensor_digest(x, y)}
    net = LectureConvNet()
    weights = pretrained.load_or_train(
        "mnist-judge", recipe, lambda: _train(data_dir), use_cache=use_cache, accept=net.load_state_dict
    )
    net.load_state_dict(weights.state)
    m = weights.meta
    return Judge(net.eval(), m["mean"], m["std"], m["test_accuracy"], weights.trained_now, weights.seconds)
