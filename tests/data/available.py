"""Which real data sets this machine has, asked of dlc.data itself, and skip marks that say why not.

A test that reads a real data set is skipped when the set is not found where ``dlc.data``
looks (``$PYTORCH_DATA_DIR``, then ``./data``; tests/conftest.py sets PYTORCH_DATA_DIR to
a sibling ``../shared/data`` when that exists), with a reason naming the files and folders
looked for. An empty ``MNIST/raw/`` folder, as an offline first run used to leave, is not
"having MNIST".
"""

from __future__ import annotations

import os

import pytest

from dlc.data import CATS_VS_DOGS, CIFAR10, ENG_FRA, FASHION_MNIST, MNIST, TINYSHAKESPEARE


def _where() -> str:
    env = os.environ.get("PYTORCH_DATA_DIR")
    return f"PYTORCH_DATA_DIR={env}" if env else "PYTORCH_DATA_DIR unset"


def found(s) -> bool:
    """Whether every split of data set ``s`` is found (its files exist; not parsed)."""
    if s.kind == "images":
        return all(s.find(split)[0] is not None for split in ("train", "test"))
    if s.kind == "photos":
        return all(s.find(split)[0] is not None for split in s.splits)
    return s.find()[0] is not None


def _needs(s, what: str):
    return pytest.mark.skipif(
        not found(s),
        reason=f"{s.title} not found ({_where()}; searched as `dlc data` does): needs {what}; "
        "set PYTORCH_DATA_DIR to a data folder that holds it",
    )


requires_mnist = _needs(MNIST, "MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]")
requires_fashion_mnist = _needs(FASHION_MNIST, "FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]")
requires_cifar = _needs(CIFAR10, "cifar-10-batches-bin/ or cifar-10-batches-py/ with all batches")
requires_text = pytest.mark.skipif(
    not (found(TINYSHAKESPEARE) and found(ENG_FRA) and ENG_FRA.full.find()[0] is not None),
    reason=f"text corpora not found ({_where()}): need text/tinyshakespeare.txt, text/eng-fra-5k.txt "
    "and text/eng-fra-tatoeba-2017.txt.gz; set PYTORCH_DATA_DIR to a data folder that holds them",
)
requires_cats_vs_dogs = _needs(CATS_VS_DOGS, "cats-vs-dogs/{train,validation}/{cats,dogs}/*.jpg")
