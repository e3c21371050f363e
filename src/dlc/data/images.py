"""Folders of photos (cats vs dogs) and their decoding to tensors with Pillow.

Layout, as in the well-known ``cats_and_dogs_filtered`` set:
``<root>/cats-vs-dogs/{train,validation}/{cats,dogs}/*.jpg``. ``load`` returns the
list of (path, label) of a split -- decoding is separate (``decode``), because a
transfer-learning lab picks its own image size. Pillow is an optional dependency.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from dlc.data import locate
from dlc.errors import DataError, DlcError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG"


def _pil():
    try:
        from PIL import Image
    except ImportError as e:
        raise DlcError(
            "decoding photos needs Pillow, an optional dependency: pip install pillow   (or: pip install 'dlc[images]')"
        ) from e
    return Image


def decode(path: Path | str, size: int | tuple[int, int] | None = 64, crop: bool = True):
    """One image file -> uint8 tensor 3 x H x W (RGB).

    With ``size``, the image is resized to size x size (or the (H, W) given): with
    ``crop`` the central square is kept first, so the photo is not squashed.
    """
    import numpy as np
    import torch

    Image = _pil()
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if size is not None:
                h, w = (size, size) if isinstance(size, int) else size
                if crop:
                    side = min(im.size)
                    left, top = (im.width - side) // 2, (im.height - side) // 2
                    im = im.crop((left, top, left + side, top + side))
                im = im.resize((w, h), Image.BILINEAR)
            array = np.asarray(im, dtype=np.uint8)
    except Image.DecompressionBombError as e:  # a header announcing billions of pixels
        raise DataError(f"{path}: refused to decode the image ({e}): corrupt or not a photo of the data set") from e
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error) as e:
        # PIL.UnidentifiedImageError and "image file is truncated" are OSErrors; some of
        # Pillow's decoders report a damaged file with SyntaxError, EOFError or struct.error
        raise DataError(f"{path}: cannot decode the image ({e}): corrupt or not an image") from e
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def decode_all(items: list[tuple[Path, int]], size: int | tuple[int, int] = 64, crop: bool = True):
    """[(path, label), ...] -> (uint8 N x 3 x H x W, int64 N)."""
    import torch

    if not items:
        raise DataError("no images to decode")
    images = torch.stack([decode(p, size, crop) for p, _ in items])
    labels = torch.tensor([int(y) for _, y in items], dtype=torch.int64)
    return images, labels


@dataclass
class ImageFolders:
    """A photo set split into ``splits`` folders, each with one sub-folder per class."""

    name: str
    title: str
    subdirs: tuple[str, ...]
    splits: tuple[str, str]  # (train split, held-out split) folder names
    class_dirs: tuple[str, ...]  # label k = class_dirs[k]
    classes: tuple[str, ...]
    kind: str = "photos"
    can_download: bool = False

    def split_name(self, train) -> str:
        if isinstance(train, str):
            aliases = {"test": self.splits[1], "val": self.splits[1]}
            train = aliases.get(train, train)
            if train not in self.splits:
                raise DataError(f"unknown split {train!r} for {self.name}: use {' or '.join(self.splits)}")
            return train
        return self.splits[0] if train else self.splits[1]

    def find(self, split: str, data_dir=None) -> tuple[Path | None, list[Path]]:
        searched = []
        for root in locate.roots(data_dir):
            for sub in self.subdirs:
                folder = root / sub / split
                searched.append(folder)
                if all((folder / c).is_dir() for c in self.class_dirs):
                    return folder, searched
        return None, searched

    def missing_error(self, split: str, searched: list[Path], data_dir=None) -> DataError:
        where = "\n".join(f"    {p}" for p in searched)
        return DataError(
            f"{self.title} ({split} split) not found: need {'/, '.join(self.class_dirs)}/ folders of photos.\n"
            f"  searched:\n{where}\n"
            "  to get it: copy the folders by hand (there is no checksummed download), then point dlc at "
            "their data folder with --data_dir DIR (Python: data_dir=DIR) or PYTORCH_DATA_DIR=DIR"
        )

    def load(self, train=True, data_dir=None, download: bool = False, quiet: bool = True):
        """[(path, label), ...] of one split, sorted by class then file name; label k is ``classes[k]``."""
        split = self.split_name(train)
        folder, searched = self.find(split, data_dir)
        if folder is None:
            raise self.missing_error(split, searched, data_dir)
        items = []
        for label, c in enumerate(self.class_dirs):
            files = sorted(p for p in (folder / c).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise DataError(f"{folder / c}: no images ({', '.join(IMAGE_SUFFIXES)}) in this class folder")
            items += [(p, label) for p in files]
        return items

    def verify(self, items: list[tuple[Path, int]]) -> None:
        """Check every file starts like a JPEG or PNG (cheap: the first bytes only)."""
        for p, _ in items:
            try:
                with open(p, "rb") as f:
                    head = f.read(4)
            except OSError as e:
                raise DataError(f"{p}: cannot read the file ({e.strerror or e})") from e
            if not (head.startswith(JPEG_MAGIC) or head.startswith(PNG_MAGIC)):
                raise DataError(f"{p}: not a JPEG or PNG file (starts with {head!r})")


CATS_VS_DOGS = ImageFolders(
    name="cats-vs-dogs",
    title="Cats vs dogs",
    subdirs=("cats-vs-dogs", "cats_and_dogs_filtered"),
    splits=("train", "validation"),
    class_dirs=("cats", "dogs"),
    classes=("cat", "dog"),
)
