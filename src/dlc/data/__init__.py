"""Named data sets (``load``, ``dataset``), toy sets (``dlc.data.toy``) and the ``dlc data`` command.

>>> images, labels = load("mnist")                # uint8 60000 x 28 x 28, int64 60000
>>> images, labels = load("cifar10", train=False) # uint8 10000 x 3 x 32 x 32, int64 10000
>>> text = load("tinyshakespeare")                # str
>>> pairs = load("eng-fra")                       # [(english, french), ...]; full=True: all
>>> items = load("cats-vs-dogs", train=False)     # [(path, label), ...]; images.decode_all(items, 64)

Files are searched in ``data_dir``, then $PYTORCH_DATA_DIR, then ./data (see
``dlc.data.locate``); ``download=True`` fetches what is missing, checksummed.
"""

from __future__ import annotations

from dlc.data.images import CATS_VS_DOGS
from dlc.data.report import cli_fetch, cli_report
from dlc.data.tensors import CIFAR10, FASHION_MNIST, MNIST
from dlc.data.text import ENG_FRA, TINYSHAKESPEARE
from dlc.errors import DataError

REGISTRY = {s.name: s for s in (MNIST, FASHION_MNIST, CIFAR10, TINYSHAKESPEARE, ENG_FRA, CATS_VS_DOGS)}
_ALIASES = {
    "fashionmnist": "fashion-mnist",
    "cifar-10": "cifar10",
    "cifar": "cifar10",
    "shakespeare": "tinyshakespeare",
    "cats-and-dogs": "cats-vs-dogs",
    "eng-fra-5k": "eng-fra",
}

__all__ = ["DataError", "REGISTRY", "names", "get", "load", "dataset", "classes", "cli_report", "cli_fetch"]


def names() -> list[str]:
    return list(REGISTRY)


def get(name: str):
    """The registered data set called ``name`` (case and _/- insensitive)."""
    key = name.lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in REGISTRY:
        raise DataError(f"unknown data set {name!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[key]


def load(name: str, train=True, data_dir=None, download: bool = False, **options):
    """Load a data set by name.

    "mnist", "fashion-mnist": (uint8 N x 28 x 28, int64 N); "cifar10": (uint8 N x 3 x 32 x 32,
    int64 N); "tinyshakespeare": str; "eng-fra": list of (english, french) (``full=True``
    for all pairs); "cats-vs-dogs": list of (path, label) of the split (train=False:
    'validation'). ``train`` may also be a split name.
    """
    return get(name).load(train=train, data_dir=data_dir, download=download, **options)


def classes(name: str) -> tuple[str, ...]:
    """The class names of a classification set, label k = classes[k]."""
    s = get(name)
    if not hasattr(s, "classes"):
        raise DataError(f"{name} is not a classification set")
    return tuple(s.classes)


def dataset(
    name: str,
    train=True,
    data_dir=None,
    download: bool = False,
    transform=None,
    target_transform=None,
    size: int = 64,
    **options,
):
    """A ``torch.utils.data.Dataset`` view: (input, target) samples with optional transforms.

    Image sets give (uint8 image, int64 label); "cats-vs-dogs" decodes each photo at
    ``size`` x ``size`` on access; "eng-fra" gives (english, french) pairs.
    """
    from dlc.data import views

    s = get(name)
    if s.kind == "images":
        x, y = s.load(train=train, data_dir=data_dir, download=download)
        return views.TensorPairs(x, y, transform, target_transform, s.classes)
    if s.kind == "photos":
        return views.ImageFiles(s.load(train=train, data_dir=data_dir), size, transform, target_transform, s.classes)
    if s is ENG_FRA:
        return views.Items(s.load(train=train, data_dir=data_dir, **options), transform)
    raise DataError(
        f"{s.name} is one text, not a set of samples: use dlc.data.load({s.name!r}) and cut it into samples yourself"
    )
