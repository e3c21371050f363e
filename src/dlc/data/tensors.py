"""Image classification sets stored as arrays: MNIST, Fashion-MNIST, CIFAR-10.

Each set knows its layouts (sub-folder + file names + format), the sample count of
each split, and how to download itself. ``load`` finds the files (see ``locate``),
validates their structure, and serves later loads from the ``.npy`` cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dlc.data import cache, cifar, debris, download, idx, locate
from dlc.data.download import Resource
from dlc.errors import DataError

SPLITS = ("train", "test")


def split_name(train: bool | str) -> str:
    if isinstance(train, str):
        if train not in SPLITS:
            raise DataError(f"unknown split {train!r}: use train=True/False or 'train'/'test'")
        return train
    return "train" if train else "test"


@dataclass(frozen=True)
class Layout:
    """One way a data set sits on disk: a folder (relative to a root) and its files per split."""

    subdir: str
    files: dict[str, tuple[str, ...]]
    fmt: str  # "idx" | "cifar-bin" | "cifar-py"


@dataclass
class Found:
    folder: Path
    files: list[Path]
    layout: Layout


@dataclass
class TensorSet:
    name: str
    title: str
    layouts: list[Layout]
    counts: dict[str, int]
    image_shape: tuple[int, ...]
    classes: tuple[str, ...]
    extra_dirs: tuple[str, ...] = ()  # absolute folders, read with the first layout
    file_downloads: dict[str, list[Resource]] = field(default_factory=dict)  # per split, into download_subdir
    download_subdir: str = ""
    archives: list[Resource] = field(default_factory=list)  # alternatives, extracted into the root
    kind: str = "images"

    # -- finding -------------------------------------------------------------------------
    def candidates(self, data_dir=None) -> list[tuple[Path, Layout]]:
        out = [(root / lay.subdir, lay) for root in locate.roots(data_dir) for lay in self.layouts]
        out += [(Path(d), self.layouts[0]) for d in self.extra_dirs]
        return out

    def find(self, split: str, data_dir=None) -> tuple[Found | None, list[Path]]:
        """The first folder holding every file of ``split``, and every folder searched."""
        searched = []
        for folder, lay in self.candidates(data_dir):
            searched.append(folder)
            files = [locate.resolve_file(folder, n, compressed_ok=lay.fmt == "idx") for n in lay.files[split]]
            if all(f is not None for f in files):
                return Found(folder, files, lay), searched  # type: ignore[arg-type]
        return None, searched

    def missing_error(self, split: str, searched: list[Path], data_dir=None, why: str = "") -> DataError:
        needed = "; or ".join(
            f"{lay.subdir}/{{{', '.join(lay.files[split])}}}" + (" (each may be .gz)" if lay.fmt == "idx" else "")
            for lay in self.layouts
        )
        where = "\n".join(f"    {p}" for p in searched)
        fetch = (
            f"`dlc data fetch {self.name}` (downloads into {locate.download_root(data_dir)}), "
            f"or dlc.data.load({self.name!r}, download=True)"
            if self.can_download
            else "copy the files by hand (no download source is registered)"
        )
        return DataError(
            f"{self.title} ({split} split) not found{why}.\n"
            f"  needed under a data folder: {needed}\n"
            f"  searched:\n{where}\n"
            f"  to get it: {fetch}; or point dlc at a folder that holds it with --data_dir DIR "
            f"(Python: data_dir=DIR) or the environment variable PYTORCH_DATA_DIR=DIR"
        )

    # -- reading -------------------------------------------------------------------------
    def _read_raw(self, found: Found, split: str) -> tuple[np.ndarray, np.ndarray]:
        n = self.counts[split]
        if found.layout.fmt == "idx":
            images, labels = idx.read_pair(found.files[0], found.files[1], n, self.image_shape[-2:], len(self.classes))
        else:
            images, labels = cifar.read_batches(found.files, binary=found.layout.fmt == "cifar-bin")
            if len(labels) != n:
                raise DataError(f"{found.folder}: {len(labels)} samples in the {split} batches, expected {n}")
        return np.ascontiguousarray(images), labels.astype(np.int64)

    def _check(self, split: str):
        """What a cached pair must satisfy to be served (the raw files' own checks, the cheap ones)."""
        shape = (self.counts[split], *self.image_shape)
        num_classes = len(self.classes)

        def check(images: np.ndarray, labels: np.ndarray) -> None:
            if images.shape != shape or images.dtype != np.uint8:
                raise ValueError("cached images have the wrong shape or type")
            if labels.shape != shape[:1] or labels.dtype != np.int64:
                raise ValueError("cached labels have the wrong shape or type")
            if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
                raise ValueError(f"cached labels are out of range 0..{num_classes - 1}")

        return check

    def load_numpy(self, train=True, data_dir=None, download: bool = False, quiet: bool = True):
        """(images, labels, Found) as numpy arrays; the arrays may be read-only memory maps."""
        split = split_name(train)
        found, searched = self.find(split, data_dir)
        if found is None:
            if not download:
                raise self.missing_error(split, searched, data_dir)
            try:
                self.fetch(data_dir, splits=(split,), quiet=quiet)
            except DataError as e:  # no network, say: what was searched and how to provide it
                raise self.missing_error(split, searched, data_dir, f", and the download failed: {e}") from e
            found, searched = self.find(split, data_dir)
            if found is None:  # should not happen: the download landed in the first root
                raise self.missing_error(split, searched, data_dir, " even after the download")
        tag = f"{self.name}-{split}-{found.layout.fmt}"
        images, labels, _ = cache.cached(
            found.folder, found.files, tag, lambda: self._read_raw(found, split), self._check(split)
        )
        return images, labels, found

    def load(self, train=True, data_dir=None, download: bool = False, quiet: bool = True):
        """(uint8 images N x [C x] H x W, int64 labels N) as torch tensors that own their memory."""
        import torch

        images, labels, _ = self.load_numpy(train, data_dir, download, quiet)
        # copy out of the read-only memory map: tensors must be writable
        return torch.from_numpy(np.array(images)), torch.from_numpy(np.array(labels))

    # -- downloading ---------------------------------------------------------------------
    @property
    def can_download(self) -> bool:
        return bool(self.file_downloads or self.archives)

    def fetch(self, data_dir=None, splits=SPLITS, quiet: bool = False) -> Path:
        """Download what ``splits`` need into the first root; return the folder it is in."""
        root = locate.download_root(data_dir)
        if self.file_downloads:
            target = root / self.download_subdir
            with debris.new_folders_removed_on_error(target):  # an offline first run leaves no empty folders
                for split in splits:
                    for res in self.file_downloads[split]:
                        name = res.filename[:-3] if res.filename.endswith(".gz") else res.filename
                        if locate.resolve_file(target, name) is None:
                            download.download(res, target, quiet=quiet)
            return target
        if self.archives:
            failures = []
            with debris.new_folders_removed_on_error(root):
                for res in self.archives:  # alternatives: the first one that downloads is enough
                    try:
                        archive = download.download(res, root, quiet=quiet)
                    except DataError as e:
                        failures.append(str(e))
                        continue
                    try:
                        download.extract_tar(archive, root)
                    finally:
                        archive.unlink(missing_ok=True)
                    found, _ = self.find(splits[0], data_dir)
                    return found.folder if found else root
                raise DataError("\n".join(failures))
        raise DataError(f"{self.title} has no download source: copy its files by hand")


def _idx_files(split: str) -> tuple[str, str]:
    prefix = "train" if split == "train" else "t10k"
    return (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")


def _idx_resources(mirrors: tuple[str, ...], md5s: dict[str, str]) -> dict[str, list[Resource]]:
    return {
        split: [Resource(f + ".gz", md5s[f], tuple(m + f + ".gz" for m in mirrors)) for f in _idx_files(split)]
        for split in SPLITS
    }


MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
FASHION_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/"

MNIST = TensorSet(
    name="mnist",
    title="MNIST",
    layouts=[Layout(sub, {s: _idx_files(s) for s in SPLITS}, "idx") for sub in ("MNIST/raw", "mnist/MNIST/raw")],
    counts={"train": 60_000, "test": 10_000},
    image_shape=(28, 28),
    classes=tuple(str(i) for i in range(10)),
    download_subdir="MNIST/raw",
    file_downloads=_idx_resources(
        MNIST_MIRRORS,
        {
            "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    ),
)

FASHION_MNIST = TensorSet(
    name="fashion-mnist",
    title="Fashion-MNIST",
    layouts=[
        Layout(sub, {s: _idx_files(s) for s in SPLITS}, "idx")
        for sub in ("FashionMNIST/raw", "fashion-mnist/FashionMNIST/raw")
    ],
    counts={"train": 60_000, "test": 10_000},
    image_shape=(28, 28),
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    extra_dirs=("/usr/share/datasets/fashion-mnist",),  # Debian's dataset-fashion-mnist package
    download_subdir="FashionMNIST/raw",
    file_downloads=_idx_resources(
        FASHION_MIRRORS,
        {
            "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    ),
)

_BIN = {"train": tuple(cifar.TRAIN_BIN), "test": tuple(cifar.TEST_BIN)}
_PY = {"train": tuple(cifar.TRAIN_PY), "test": tuple(cifar.TEST_PY)}
CIFAR10 = TensorSet(
    name="cifar10",
    title="CIFAR-10",
    layouts=[
        Layout("cifar-10-batches-bin", _BIN, "cifar-bin"),
        Layout("cifar-10-batches-py", _PY, "cifar-py"),
        Layout("cifar10/cifar-10-batches-bin", _BIN, "cifar-bin"),  # the old prologue's root
        Layout("cifar10/cifar-10-batches-py", _PY, "cifar-py"),
    ],
    counts={"train": 50_000, "test": 10_000},
    image_shape=(3, 32, 32),
    classes=cifar.CLASSES,
    # the binary release first: it needs no unpickling at all
    archives=[
        Resource("cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530", (CIFAR_URL + "cifar-10-binary.tar.gz",)),
        Resource("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a", (CIFAR_URL + "cifar-10-python.tar.gz",)),
    ],
)
