"""The IDX format of MNIST and Fashion-MNIST, parsed from the bytes with numpy.

An IDX file is a big-endian header -- two zero bytes, a type code (0x08 = unsigned
byte), the number of dimensions d -- then d 32-bit sizes, then the values. So the
magic number is 0x0801 (2049) for a label file and 0x0803 (2051) for an image file.
Files may be gzip-compressed (``.gz``), as they are distributed.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from dlc.errors import DataError

LABELS_MAGIC = 0x0801
IMAGES_MAGIC = 0x0803


def read_bytes(path: Path) -> bytes:
    """The file's content, decompressed if it ends in ``.gz``."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        # gzip raises BadGzipFile (an OSError) or EOFError on a cut file
        raise DataError(
            f"{path}: cannot read the file ({e}); it is corrupt or truncated: delete it and fetch it again"
        ) from e


def parse_idx(data: bytes, path: Path | str = "<bytes>") -> np.ndarray:
    """An IDX file's array (uint8, shape from the header), checked against its length."""
    if len(data) < 4:
        raise DataError(f"{path}: only {len(data)} bytes: not an IDX file (truncated?)")
    zero, dtype_code, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    magic = int.from_bytes(data[:4], "big")
    if zero != 0 or dtype_code != 0x08 or ndim not in (1, 3):
        raise DataError(
            f"{path}: wrong magic number 0x{magic:08x} (expected 0x{LABELS_MAGIC:08x} "
            f"for labels or 0x{IMAGES_MAGIC:08x} for images): not an MNIST-style IDX file"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated header ({len(data)} bytes)")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise DataError(
            f"{path}: header says {shape[0]} items of shape {shape[1:]} "
            f"({expected} bytes) but the file holds {len(data)} bytes: it {what}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def read_idx(path: Path) -> np.ndarray:
    return parse_idx(read_bytes(path), path)


def read_pair(
    images_path: Path, labels_path: Path, count: int | None, image_shape=(28, 28), num_classes: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of one split, validated: magic numbers, dimensions, counts, label range.

    ``count`` is the number of samples the split must hold (None: any, as long as images
    and labels agree).
    """
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3:
        raise DataError(
            f"{images_path}: expected an image file (magic 0x{IMAGES_MAGIC:08x}, 3 dimensions), "
            f"found {images.ndim} dimension(s): are the image and label files swapped?"
        )
    if labels.ndim != 1:
        raise DataError(
            f"{labels_path}: expected a label file (magic 0x{LABELS_MAGIC:08x}, 1 dimension), "
            f"found {labels.ndim} dimensions: are the image and label files swapped?"
        )
    if images.shape[1:] != tuple(image_shape):
        raise DataError(
            f"{images_path}: images are {images.shape[1]}x{images.shape[2]}, expected {image_shape[0]}x{image_shape[1]}"
        )
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds "
            f"{len(labels)} labels: the files do not belong together"
        )
    if count is not None and len(labels) != count:
        raise DataError(
            f"{labels_path}: {len(labels)} samples, expected {count} for this split: wrong or incomplete file"
        )
    if len(labels) and labels.max() >= num_classes:
        bad = int(np.argmax(labels >= num_classes))
        raise DataError(
            f"{labels_path}: label {labels[bad]} at index {bad} is out of range "
            f"0..{num_classes - 1}: the file is corrupt or not a label file"
        )
    return images, labels
