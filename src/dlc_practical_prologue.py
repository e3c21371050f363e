"""EE-559's practical prologue, as the course's own code imports it.

    import dlc_practical_prologue as prologue
    train_input, train_target, test_input, test_target = prologue.load_data()

On import it reads the command line (``--full``, ``--tiny``, ``--force_cpu``, ``--seed``,
``--cifar``, ``--data_dir``; anything else, such as Jupyter's ``-f FILE`` or the host script's
own options, is left alone), keeps the result in ``args``, seeds torch unless ``--seed`` is
negative, and, when CUDA is there and ``--force_cpu`` is not given, makes CUDA the default
device as the original made ``torch.cuda.FloatTensor`` the default tensor type.

The work is done by :mod:`dlc.prologue`; this module adds the command line and the prints.
"""

from __future__ import annotations

import argparse
import inspect

import torch

from dlc import prologue as _prologue
from dlc.prologue import convert_to_one_hot_labels, mnist_to_pairs  # noqa: F401 (original API)

parser = _prologue.make_parser()
args, _ = parser.parse_known_args()

_prologue.seed(args.seed)


def _device(options: argparse.Namespace) -> torch.device:
    if torch.cuda.is_available() and not getattr(options, "force_cpu", False):
        return torch.device("cuda")
    return torch.device("cpu")


if _device(args).type == "cuda":
    torch.set_default_device("cuda")


def _original_parameters(cifar=None, one_hot_labels=False, normalize=False, flatten=True):
    return cifar, one_hot_labels, normalize, flatten


def load_data(*positional, **keywords):
    """The course's data: ``(train_input, train_target, test_input, test_target)``.

    ``load_data(cifar=None, one_hot_labels=False, normalize=False, flatten=True)``: CIFAR-10
    when ``cifar`` is true, MNIST when false, ``--cifar`` decides when None. Sizes follow
    ``--tiny`` / ``--full``; see :func:`dlc.prologue.load` for the details.

    The 2018 call style ``load_data(args, cifar=..., ...)`` works too: the options are then
    read from that namespace (anything it lacks from this module's ``args``).
    """
    options = args
    if positional and isinstance(positional[0], argparse.Namespace):
        options, positional = positional[0], positional[1:]
    cifar, one_hot_labels, normalize, flatten = _original_parameters(*positional, **keywords)

    def option(name):
        return getattr(options, name, getattr(args, name))

    size = _prologue.size_of(argparse.Namespace(full=option("full"), tiny=option("tiny")))
    print("data_dir", _prologue.data_dir_of(option("data_dir")))
    with torch.device("cpu"):  # read on the CPU whatever the default device, then move
        return _prologue.load(
            cifar=option("cifar") if cifar is None else bool(cifar),
            size=size,
            one_hot_labels=one_hot_labels,
            normalize=normalize,
            flatten=flatten,
            data_dir=option("data_dir"),
            device=_device(options),
            verbose=True,
        )


load_data.__signature__ = inspect.signature(_original_parameters)


def generate_pair_sets(nb):
    """Mini-project 1: ``nb`` training and ``nb`` test pairs of 14 x 14 MNIST digits.

    Returns ``train_input, train_target, train_classes, test_input, test_target,
    test_classes``; a target is 1 when the first digit is smaller than or equal to the second.
    """
    with torch.device("cpu"):
        return _prologue.generate_pair_sets(nb, data_dir=args.data_dir, device=_device(args))
