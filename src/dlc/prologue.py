"""The EE-559 practical prologue: the course's small MNIST and CIFAR sets, and the digit pairs.

Every practical of the course starts with ``import dlc_practical_prologue as prologue`` and
``prologue.load_data()``: the first 1,000 training and 1,000 test images (``--tiny``: 500 and
100; ``--full``: all of them) as float tensors with values 0..255, their classes as int64.
With ``one_hot_labels`` the classes come as one-hot rows instead, in one of two styles
(:data:`ONE_HOT_STYLES`), because the course had two generations of the prologue:

- ``"zero_one"`` (the default): 0 everywhere and 1 at the class, as the prologue's code
  builds them from 2019 on (``input.new_zeros(...)`` then 1 at the class); the code the
  students actually ran, and what scripts of those years (a ReLU output trained with the
  MSE, for instance) need to learn anything.
- ``"minus_one"``: -1 everywhere and +1 at the class, as the course page describes them and
  the 2018 prologue built them (``.fill_(-1)``); a ``torch.equal`` comparison with a -1/+1
  winner-takes-all row, or a tanh output scaled by 0.9, needs these. The labs that follow
  the course page (``mlp-backprop``, ``gradient-descent``) ask for it explicitly.
Mini-project 1 adds ``generate_pair_sets(nb)``: pairs of 14 x 14 digits, and whether the
first digit is smaller than or equal to the second.

This module is that behaviour as functions with explicit arguments, for the labs:

    train_input, train_target, test_input, test_target = load(train_size=500, test_size=100)
    one_hot = load(size="tiny", one_hot_labels=True, one_hot_style="minus_one")
    pairs = generate_pair_sets(1000)

The top-level module ``dlc_practical_prologue`` wraps it with the original interface: it
reads the command line when imported, keeps the options in ``args`` and prints what it does
(its ``--one_hot_minus_one`` option and ``load_data(one_hot_style=...)`` choose the style).
The files themselves are read by :mod:`dlc.data`; a missing data set raises its ``DataError``.
"""

from __future__ import annotations

import argparse
import os

import torch
import torch.nn.functional as F

from dlc.errors import DlcError, InvalidArgument, UsageError
from dlc.sizes import SIZE_PRESETS

# (train, test) sample counts by size, from dlc's one table; None keeps every sample.
SIZES = {k: (v["train_size"], v["test_size"]) for k, v in SIZE_PRESETS.items()}

# One-hot target styles: the value everywhere but at the class (which is always 1).
#   "zero_one"  : 0 / 1, the prologue's code from 2019 on (new_zeros); the default.
#   "minus_one" : -1 / +1, the course page and the 2018 prologue (fill_(-1)).
ONE_HOT_STYLES = {"zero_one": 0.0, "minus_one": -1.0}
DEFAULT_ONE_HOT_STYLE = "zero_one"


# -- the command line ---------------------------------------------------------


def make_parser() -> argparse.ArgumentParser:
    """The prologue's options, with the original names, defaults and help texts."""
    parser = argparse.ArgumentParser(
        description="DLC prologue file for practical sessions.",
        # The host script may have options of its own that merely start like ours
        # (``--data`` is not ``--data_dir``): never take them for abbreviations.
        allow_abbrev=False,
    )
    parser.add_argument(
        "--full", action="store_true", default=False, help="Use the full set, can take ages (default False)"
    )
    parser.add_argument(
        "--tiny", action="store_true", default=False, help="Use a very small set for quick checks (default False)"
    )
    parser.add_argument(
        "--force_cpu",
        action="store_true",
        default=False,
        help="Keep tensors on the CPU, even if cuda is available (default False)",
    )
    parser.add_argument("--seed", type=int, default=0, help="Random seed (default 0, < 0 is no seeding)")
    parser.add_argument(
        "--cifar", action="store_true", default=False, help="Use the CIFAR data-set and not MNIST (default False)"
    )
    parser.add_argument(
        "--data_dir",
        type=str,
        default=None,
        help="Where are the PyTorch data located (default $PYTORCH_DATA_DIR or './data')",
    )
    # Not an option of the original prologue: it chooses between its two generations.
    parser.add_argument(
        "--one_hot_minus_one",
        action="store_true",
        default=False,
        help="One-hot targets of -1 with +1 at the class, as the course page and the 2018 prologue "
        "(default False: 0 with 1 at the class, as the prologue's code from 2019 on)",
    )
    # Jupyter starts its kernels with ``-f <connection file>``; accept it and say nothing.
    parser.add_argument("-f", "--file", nargs="?", help=argparse.SUPPRESS)
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the prologue's options from ``argv`` (default ``sys.argv[1:]``).

    Arguments the prologue does not know belong to the host script and are ignored.
    """
    known, _unknown = make_parser().parse_known_args(argv)
    return known


def size_of(options: argparse.Namespace) -> str:
    """'tiny', 'default' or 'full' from parsed options; ``--full`` with ``--tiny`` is an error."""
    full, tiny = getattr(options, "full", False), getattr(options, "tiny", False)
    if full and tiny:
        raise InvalidArgument(
            "Cannot have both --full and --tiny: use --full for every sample, "
            "--tiny for 500 train and 100 test samples, or neither for 1000 and 1000."
        )
    return "full" if full else "tiny" if tiny else "default"


def data_dir_of(data_dir: str | None = None) -> str:
    """The data folder the prologue names: ``data_dir``, else $PYTORCH_DATA_DIR, else './data'."""
    if data_dir is not None:
        return data_dir
    return os.environ.get("PYTORCH_DATA_DIR") or "./data"


def one_hot_style_of(options: argparse.Namespace) -> str:
    """The one-hot style the parsed options ask for: 'minus_one' with --one_hot_minus_one."""
    return "minus_one" if getattr(options, "one_hot_minus_one", False) else DEFAULT_ONE_HOT_STYLE


def check_one_hot_style(style: str) -> str:
    """``style`` if it is one of :data:`ONE_HOT_STYLES`, else an :class:`InvalidArgument`."""
    if not isinstance(style, str) or style not in ONE_HOT_STYLES:
        raise InvalidArgument(
            f"one_hot_style must be one of {', '.join(map(repr, ONE_HOT_STYLES))}, got {style!r}: "
            "'zero_one' for 0 with 1 at the class (the prologue's code from 2019 on), "
            "'minus_one' for -1 with +1 at the class (the course page, the 2018 prologue)"
        )
    return style


def seed(value: int) -> None:
    """Seed torch as the prologue does: a negative seed leaves the generators alone."""
    if value >= 0:
        torch.manual_seed(value)


# -- the data sets -------------------------------------------------------------


def convert_to_one_hot_labels(
    input: torch.Tensor, target: torch.Tensor, style: str = DEFAULT_ONE_HOT_STYLE
) -> torch.Tensor:
    """Targets as N x C rows with a single 1 at each sample's class.

    ``style`` says what the other entries are: ``"zero_one"`` (the default) 0, as the
    prologue's code from 2019 on; ``"minus_one"`` -1, as the course page and the 2018
    prologue. C is ``target.max() + 1``; the rows have ``input``'s dtype and device.
    """
    off = ONE_HOT_STYLES[check_one_hot_style(style)]
    one_hot = input.new_full((target.size(0), int(target.max()) + 1), off)
    one_hot.scatter_(1, target.view(-1, 1), 1.0)
    return one_hot


def _images(name: str, train: bool, data_dir: str | None, count: int | None):
    """The first ``count`` images of a set as float N x C x H x W, and their int64 classes."""
    from dlc import data  # imported here: the data layer is only needed once data is read

    # Like the original prologue: download what is missing (md5-checked), else a clear error.
    images, classes = data.load(name, train=train, data_dir=data_dir, download=True)
    if count is not None and count > len(images):
        raise DlcError(
            f"asked for {count:,} {'training' if train else 'test'} samples, but the "
            f"{name} {'training' if train else 'test'} set has {len(images):,}; ask for fewer "
            f"(or all of them: --full, or a size of 'all')"
        )
    if count is not None:
        images, classes = images[:count], classes[:count]
    if images.dim() == 3:  # MNIST comes as N x 28 x 28: give it its single channel
        images = images.unsqueeze(1)
    # .float() copies, so what is returned shares nothing with the data layer's cache.
    return images.float(), classes.to(torch.int64).clone()


def load(
    cifar: bool = False,
    train_size: int | None = 1000,
    test_size: int | None = 1000,
    one_hot_labels: bool = False,
    normalize: bool = False,
    flatten: bool = True,
    data_dir: str | None = None,
    device: str | torch.device = "cpu",
    verbose: bool = False,
    size: str | None = None,
    one_hot_style: str = DEFAULT_ONE_HOT_STYLE,
):
    """The prologue's data: ``(train_input, train_target, test_input, test_target)``.

    - ``cifar``: CIFAR-10 (N x 3 x 32 x 32) instead of MNIST (N x 1 x 28 x 28).
    - ``train_size``, ``test_size``: how many samples to keep (None: all), the first ones of
      each set in the files' order; or ``size``: a row of the size presets, 'tiny' (500
      train, 100 test), 'default' (1000, 1000) or 'full' (all).
    - ``one_hot_labels``: targets as N x C float rows with 1 at the class and, by
      ``one_hot_style``, 0 elsewhere (``"zero_one"``, the default: the prologue's code from
      2019 on) or -1 elsewhere (``"minus_one"``: the course page, the 2018 prologue).
    - ``normalize``: subtract the training inputs' mean and divide by their standard deviation
      (two scalars, computed on the training samples kept), for both sets.
    - ``flatten``: inputs as N x D instead of N x C x H x W.

    Inputs are float32 with values 0..255 (before normalisation), targets int64.
    ``verbose`` prints the original prologue's lines.
    """
    check_one_hot_style(one_hot_style)  # checked even without one_hot_labels: a typo is a typo
    if size is not None:
        if size not in SIZES:
            raise UsageError(f"size must be one of {', '.join(map(repr, SIZES))}, got {size!r}")
        train_size, test_size = SIZES[size]
    for what, n in (("train_size", train_size), ("test_size", test_size)):
        if n is not None and (not isinstance(n, int) or n < 1):
            raise UsageError(f"{what} must be a positive number of samples or None (all), got {n!r}")
    say = print if verbose else (lambda *a: None)
    name = "cifar10" if cifar else "mnist"
    say("* Using CIFAR" if cifar else "* Using MNIST")

    train_input, train_target = _images(name, True, data_dir, train_size)
    test_input, test_target = _images(name, False, data_dir, test_size)
    if (train_size, test_size) == SIZES["tiny"]:
        say("** Reduce the data-set to the tiny setup")
    elif train_size is not None or test_size is not None:
        say("** Reduce the data-set (use --full for the full thing)")
    say(f"** Use {train_input.size(0):d} train and {test_input.size(0):d} test samples")

    if flatten:
        train_input = train_input.reshape(train_input.size(0), -1)
        test_input = test_input.reshape(test_input.size(0), -1)

    device = torch.device(device)
    train_input, train_target = train_input.to(device), train_target.to(device)
    test_input, test_target = test_input.to(device), test_target.to(device)

    if one_hot_labels:
        train_target = convert_to_one_hot_labels(train_input, train_target, one_hot_style)
        test_target = convert_to_one_hot_labels(test_input, test_target, one_hot_style)

    if normalize:
        # The test set is scaled with the training statistics: it stands for unseen data.
        mu, std = train_input.mean(), train_input.std()
        train_input.sub_(mu).div_(std)
        test_input.sub_(mu).div_(std)

    return train_input, train_target, test_input, test_target


# -- mini-project 1: pairs of digits -------------------------------------------


def mnist_to_pairs(nb: int, input: torch.Tensor, target: torch.Tensor):
    """``nb`` random pairs of half-resolution digits from N x 1 x 28 x 28 images.

    The images (float, or uint8 grey levels read as float) are average-pooled 2 x 2 to
    14 x 14, the samples drawn in a random order (torch's generator: seed it for the same
    pairs) and taken two by two. Returns
    ``(input nb x 2 x 14 x 14, target nb int64, classes nb x 2 int64)`` where ``target`` is 1
    when the first digit is smaller than or equal to the second.
    """
    if nb < 1 or 2 * nb > input.size(0):
        raise UsageError(
            f"cannot make {nb} pairs from {input.size(0)} images: nb must be between 1 and {input.size(0) // 2}"
        )
    # Drawn on the CPU whatever the tensors' device, so a seed gives the same pairs everywhere.
    order = torch.randperm(input.size(0), device="cpu")[: 2 * nb].view(nb, 2).to(input.device)
    # Only the digits drawn are pooled (the same numbers as pooling them all, for less work).
    chosen = [input[order[:, k]] for k in (0, 1)]
    chosen = [x if x.is_floating_point() else x.float() for x in chosen]
    pairs = torch.cat([F.avg_pool2d(x, kernel_size=2) for x in chosen], dim=1)
    classes = target[order]
    return pairs, (classes[:, 0] <= classes[:, 1]).long(), classes


def generate_pair_sets(nb: int, data_dir: str | None = None, device: str | torch.device = "cpu"):
    """Mini-project 1's data: ``nb`` training pairs from MNIST's training set, ``nb`` test
    pairs from its test set.

    Returns six tensors: ``train_input`` (nb x 2 x 14 x 14 float), ``train_target`` (nb int64),
    ``train_classes`` (nb x 2 int64), then ``test_input``, ``test_target``, ``test_classes``.
    """
    from dlc import data

    sets = []
    for train in (True, False):
        images, classes = data.load("mnist", train=train, data_dir=data_dir, download=True)
        sets += mnist_to_pairs(nb, images.unsqueeze(1), classes)
    return tuple(t.to(device) for t in sets)
