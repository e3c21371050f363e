"""Writers of the real on-disk formats, written independently of dlc.data's readers.

IDX: big-endian header (0, 0, type 0x08, number of dims, then each dim as u32), then
bytes. CIFAR-10 binary: records of 1 label byte + 3072 pixel bytes. CIFAR-10 python:
a pickled dict with 'data' (N x 3072 uint8) and 'labels' (list).
"""

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np


def idx_bytes(array: np.ndarray, dims=None, magic_type: int = 0x08) -> bytes:
    array = np.asarray(array, dtype=np.uint8)
    dims = array.shape if dims is None else dims
    header = struct.pack(">BBBB", 0, 0, magic_type, len(dims)) + struct.pack(f">{len(dims)}I", *dims)
    return header + array.tobytes()


def write(path: Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, compresslevel=1) if path.suffix == ".gz" else data)
    return path


def mnist_like(n: int, seed: int = 0):
    """n distinct images and labels 0..9 (not real digits: format tests only).

    Each image row is one random grey level, so the files gzip quickly.
    """
    rng = np.random.default_rng(seed)
    images = np.repeat(rng.integers(0, 256, size=(n, 28, 1), dtype=np.uint8), 28, axis=2)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    return images, labels


def write_mnist_split(folder: Path, images, labels, train: bool = False, gz: bool = False):
    prefix = "train" if train else "t10k"
    ext = ".gz" if gz else ""
    ip = write(Path(folder) / f"{prefix}-images-idx3-ubyte{ext}", idx_bytes(images))
    lp = write(Path(folder) / f"{prefix}-labels-idx1-ubyte{ext}", idx_bytes(labels))
    return ip, lp


def cifar_bin_bytes(images: np.ndarray, labels: np.ndarray) -> bytes:
    records = np.concatenate(
        [np.asarray(labels, np.uint8)[:, None], np.asarray(images, np.uint8).reshape(len(labels), -1)], axis=1
    )
    return records.tobytes()


def cifar_pickle_bytes(images: np.ndarray, labels, protocol: int = 2, bytes_keys: bool = True) -> bytes:
    k = (lambda s: s.encode()) if bytes_keys else (lambda s: s)
    batch = {
        k("batch_label"): k("testing batch 1 of 1"),
        k("labels"): [int(v) for v in labels],
        k("data"): np.asarray(images, np.uint8).reshape(len(labels), -1),
        k("filenames"): [k(f"img_{i}.png") for i in range(len(labels))],
    }
    return pickle.dumps(batch, protocol=protocol)


def cifar_py2_pickle_bytes(images: np.ndarray, labels) -> bytes:
    """A batch as Python 2's cPickle (protocol 2) wrote the official files, opcode by opcode.

    Python 2 strings are SHORT_BINSTRING/BINSTRING opcodes and the array is rebuilt by
    ``numpy.core.multiarray._reconstruct`` -- the old module name that numpy 2 renamed.
    (Python 3 cannot write this form itself.)
    """
    raw = np.asarray(images, np.uint8).reshape(len(labels), -1).tobytes()
    n = len(labels)
    dtype = (
        b"cnumpy\ndtype\n"
        b"U\x02u1"
        b"K\x00"
        b"K\x01"
        b"\x87"
        b"R"  # dtype('u1', 0, 1)
        b"(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t"
        b"b"
    )  # its state, BUILD
    array = (
        b"cnumpy.core.multiarray\n_reconstruct\n"
        b"cnumpy\nndarray\n"
        b"K\x00\x85"
        b"U\x01b"
        b"\x87"
        b"R"  # _reconstruct(ndarray, (0,), 'b')
        b"(K\x01"
        b"M"
        + struct.pack("<H", n)
        + b"M\x00\x0c\x86"  # state: 1, (n, 3072),
        + dtype
        + b"\x89"
        b"T" + struct.pack("<I", len(raw)) + raw + b"t"
        b"b"
    )  # dtype, False, bytes
    labs = b"](" + b"".join(b"K" + bytes([int(v)]) for v in labels) + b"e"
    return b"\x80\x02}(U\x04data" + array + b"U\x06labels" + labs + b"u."
