"""EE-559's practical prologue, as the course's own code imports it.

    import dlc_practical_prologue as prologue
    train_input, train_target, test_input, test_target = prologue.load_data()

On import it reads the command line (``--full``, ``--tiny``, ``--force_cpu``, ``--seed``,
``--cifar``, ``--data_dir``, and ``--one_hot_minus_one``, below; anything else, such as
Jupyter's ``-f FILE`` or the host script's own options, is left alone), keeps the result in
``args``, seeds torch unless ``--seed`` is negative, and, when CUDA is there and
``--force_cpu`` is not given, makes CUDA the default device as the original made
``torch.cuda.FloatTensor`` the default tensor type.

One-hot targets (``load_data(one_hot_labels=True)``, ``convert_to_one_hot_labels``) come in
the two styles of the prologue's two generations:

- by default 0 everywhere and 1 at the class, as the prologue's code builds them from 2019
  on (``new_zeros``, then 1 at the class): the code students ran, and what their scripts
  expect (a ReLU output trained with the MSE cannot reach -1 and learns nothing otherwise);
- -1 everywhere and +1 at the class, as the course page describes them and the 2018
  prologue built them, with the command-line flag ``--one_hot_minus_one`` or, in the code,
  ``load_data(..., one_hot_style="minus_one")`` (``"zero_one"`` asks for the default
  whatever the flag). Scripts written for -1/+1, such as a winner-takes-all error count
  with ``torch.equal`` against a -1/+1 row, count every sample as an error without it.

The work is done by :mod:`dlc.prologue`; this module adds the command line and the prints.
"""

from __future__ import annotations

import argparse
import inspect

import torch

from dlc import prologue as _prologue
from dlc.prologue import mnist_to_pairs  # noqa: F401 (original API)

parser = _prologue.make_parser()
args, _ = parser.parse_known_args()

_prologue.seed(args.seed)


def _device(options: argparse.Namespace) -> torch.device:
    if torch.cuda.is_available() and not getattr(options, "force_cpu", False):
        return torch.device("cuda")
    return torch.device("cpu")


if _device(args).type == "cuda":
    torch.set_default_device("cuda")


def _original_parameters(cifar=None, one_hot_labels=False, normalize=False, flatten=True, *, one_hot_style=None):
    return cifar, one_hot_labels, normalize, flatten, one_hot_style


def _one_hot_style(style, options: argparse.Namespace) -> str:
    """An explicit ``one_hot_style``, else the one ``--one_hot_minus_one`` chooses."""
    if style is None:
        return _prologue.one_hot_style_of(options)
    return _prologue.check_one_hot_style(style)


def convert_to_one_hot_labels(input, target):
    """Targets as N x C rows of ``input``'s dtype and device, 1 at each sample's class and 0
    elsewhere (the prologue's code from 2019 on), or -1 elsewhere with ``--one_hot_minus_one``
    (the course page, the 2018 prologue)."""
    return _prologue.convert_to_one_hot_labels(input, target, _prologue.one_hot_style_of(args))


def load_data(*positional, **keywords):
    """The course's data: ``(train_input, train_target, test_input, test_target)``.

    ``load_data(cifar=None, one_hot_labels=False, normalize=False, flatten=True)``: CIFAR-10
    when ``cifar`` is true, MNIST when false, ``--cifar`` decides when None. Sizes follow
    ``--tiny`` / ``--full``; see :func:`dlc.prologue.load` for the details.

    With ``one_hot_labels`` the targets are N x C rows with 1 at the class and 0 elsewhere,
    as the prologue's code from 2019 on builds them; -1 elsewhere (the course page, the 2018
    prologue) with the flag ``--one_hot_minus_one`` or the keyword
    ``one_hot_style="minus_one"`` (``"zero_one"``: 0, whatever the flag; None: the flag decides).

    The 2018 call style ``load_data(args, cifar=..., ...)`` works too: the options are then
    read from that namespace (anything it lacks from this module's ``args``).
    """
    options = args
    if positional and isinstance(positional[0], argparse.Namespace):
        options, positional = positional[0], positional[1:]
    cifar, one_hot_labels, normalize, flatten, one_hot_style = _original_parameters(*positional, **keywords)

    def option(name):
        return getattr(options, name, getattr(args, name))

    size = _prologue.size_of(argparse.Namespace(full=option("full"), tiny=option("tiny")))
    style = _one_hot_style(one_hot_style, argparse.Namespace(one_hot_minus_one=option("one_hot_minus_one")))
    print("data_dir", _prologue.data_dir_of(option("data_dir")))
    with torch.device("cpu"):  # read on the CPU whatever the default device, then move
        return _prologue.load(
            cifar=option("cifar") if cifar is None else bool(cifar),
            size=size,
            one_hot_labels=one_hot_labels,
            one_hot_style=style,
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
