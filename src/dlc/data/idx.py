"""The IDX format of MNIST and Fashion-MNIST, parsed from the bytes with numpy.

An IDX file is a big-endian header -- two zero bytes, a type code (0x08 = unsigned
byte), the number of dimensions d -- then d 32-bit sizes, then the values. So the
magic number is 0x0801 (2049) for a label file and 0x0803 (2051) for an image file.
Files may be gzip-compressed (``.gz``), as they are distributed.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from dlc.errors import DataError

LABELS_MAGIC = 0x0801
IMAGES_MAGIC = 0x0803


# deflate compresses at most ~1032:1, so a gzip file of n bytes cannot hold more than this
_GZIP_MAX_RATIO = 1032


def _cannot_read(path: Path, e: BaseException) -> DataError:
    # gzip raises BadGzipFile (an OSError) or EOFError on a cut file, zlib.error on a damaged one
    return DataError(f"{path}: cannot read the file ({e}); it is corrupt or truncated: delete it and fetch it again")


def read_bytes(path: Path) -> bytes:
    """The file's content, decompressed if it ends in ``.gz``."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        raise _cannot_read(path, e) from e


def _header(head: bytes, path) -> int:
    """The number of dimensions, from the first 4 bytes (checked: two zeros, type 0x08, 1 or 3 dims)."""
    if len(head) < 4:
        raise DataError(f"{path}: only {len(head)} bytes: not an IDX file (truncated?); delete it and fetch it again")
    zero, dtype_code, ndim = int.from_bytes(head[:2], "big"), head[2], head[3]
    if zero != 0 or dtype_code != 0x08 or ndim not in (1, 3):
        magic = int.from_bytes(head[:4], "big")
        raise DataError(
            f"{path}: wrong magic number 0x{magic:08x} (expected 0x{LABELS_MAGIC:08x} "
            f"for labels or 0x{IMAGES_MAGIC:08x} for images): not an MNIST-style IDX file"
        )
    return ndim


def _shape(dims: bytes, ndim: int, path) -> tuple[int, ...]:
    if len(dims) < 4 * ndim:
        raise DataError(f"{path}: truncated header ({4 + len(dims)} bytes); delete it and fetch it again")
    return struct.unpack(f">{ndim}I", dims[: 4 * ndim])


def _size_error(path, shape: tuple[int, ...], expected: int, holds: str) -> DataError:
    # sizes are Python ints: a header of 3 sizes near 2**32 gives ~2**96 bytes, reported as such
    return DataError(
        f"{path}: header says {shape[0]} items of shape {shape[1:]} ({expected:,} bytes) but {holds}; "
        "delete it and fetch it again"
    )


def parse_idx(data: bytes, path: Path | str = "<bytes>") -> np.ndarray:
    """An IDX file's array (uint8, shape from the header), checked against its length."""
    ndim = _header(data[:4], path)
    shape = _shape(data[4 : 4 + 4 * ndim], ndim, path)
    header = 4 + 4 * ndim
    expected = header + math.prod(shape)
    if len(data) != expected:
        what = "it is truncated" if len(data) < expected else "it has trailing bytes"
        raise _size_error(path, shape, expected, f"the file holds {len(data):,} bytes: {what}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _read_up_to(f, n: int) -> bytes:
    """Up to ``n`` bytes, in chunks (a header may announce far more than the file holds)."""
    parts, left = [], n
    while left > 0:
        chunk = f.read(min(left, 1 << 26))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (or ``.gz``) as a uint8 array, its header checked before the values are read.

    The sizes in the header must fit the file: exactly, for a raw file; within what a
    gzip file of its size can decompress to, for a ``.gz`` (then the values are read and
    counted). Any mismatch, or a damaged compressed stream, is a ``DataError`` naming the file.
    """
    path = Path(path)
    gz = path.suffix == ".gz"
    try:
        size = path.stat().st_size
        with gzip.open(path, "rb") if gz else open(path, "rb") as f:
            ndim = _header(f.read(4), path)
            shape = _shape(f.read(4 * ndim), ndim, path)
            header = 4 + 4 * ndim
            payload = math.prod(shape)
            expected = header + payload
            if not gz and size != expected:
                what = "it is truncated" if size < expected else "it has trailing bytes"
                raise _size_error(path, shape, expected, f"the file holds {size:,} bytes: {what}")
            if gz and expected > _GZIP_MAX_RATIO * size + 1024:
                raise _size_error(
                    path, shape, expected, f"a {size:,}-byte gzip file cannot hold that much: the header is corrupt"
                )
            body = _read_up_to(f, payload)
            extra = f.read(1) if len(body) == payload else b""  # at the end: gzip checks its CRC here
    except (OSError, EOFError, zlib.error) as e:
        raise _cannot_read(path, e) from e
    if len(body) < payload:
        raise _size_error(path, shape, expected, f"the file holds {header + len(body):,} bytes: it is truncated")
    if extra:
        raise _size_error(path, shape, expected, "the file holds more: it has trailing bytes")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


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
