"""The digit judge: a trained MNIST classifier (cached), whose Fréchet distance and digit
score tell real digits from noise, and varied digits from collapsed ones."""

import pytest
import torch

from dlc import data
from dlc.errors import InvalidArgument
from dlc.judge import mnist_judge
from tests.data.available import requires_mnist


@pytest.fixture(scope="module")
def judge_and_digits():
    judge = mnist_judge()
    x, y = data.load("mnist", train=False)
    return judge, x[:, None].float() / 255, y


@requires_mnist
def test_the_judge_classifies_digits(judge_and_digits):
    judge, x, y = judge_and_digits
    assert judge.test_accuracy > 0.97
    # classify gives the accuracy the judge recorded on the whole test set (the first 2,000
    # digits alone are harder: 97.0-97.2% against 97.95% overall, too near a 0.97 bar)
    assert (judge.classify(x) == y).double().mean().item() == pytest.approx(judge.test_accuracy, abs=1e-4)
    again = mnist_judge()  # the second time from the cache
    assert not again.trained_now and torch.equal(again.net.fc2.weight, judge.net.fc2.weight)


@requires_mnist
def test_frechet_distance_tells_real_from_noise(judge_and_digits):
    judge, x, _ = judge_and_digits
    real_a, real_b = x[:1000], x[1000:2000]
    noise = torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    blurred = torch.nn.functional.avg_pool2d(real_b, 3, stride=1, padding=1)
    floor, blur, far = judge.frechet(real_a, real_b), judge.frechet(real_a, blurred), judge.frechet(real_a, noise)
    assert floor < blur < far and floor < 0.1 * far


@requires_mnist
def test_digit_score_shows_mode_collapse(judge_and_digits):
    judge, x, y = judge_and_digits
    varied = judge.digit_score(x[:1000])
    assert varied["digits_covered"] == 10 and varied["inception_score"] > 8 and varied["confidence"] > 0.95
    sevens = judge.digit_score(x[y == 7][:500])
    assert sevens["digits_covered"] == 1 and sevens["inception_score"] < 1.5
    assert sum(sevens["class_shares"]) == pytest.approx(1.0)


@requires_mnist
def test_bad_images_are_refused(judge_and_digits):
    judge, _, _ = judge_and_digits
    with pytest.raises(InvalidArgument, match="28 x 28"):
        judge.features(torch.zeros(3, 1, 32, 32))
    with pytest.raises(InvalidArgument, match="NaN"):
        judge.classify(torch.full((2, 1, 28, 28), float("nan")))
