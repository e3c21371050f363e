"""CIFAR-10 in both official releases: the binary batches and the python-pickle batches.

Binary (``cifar-10-batches-bin/``): each batch is 10,000 records of 1 label byte and
3,072 pixel bytes (1,024 red, 1,024 green, 1,024 blue, each a row-major 32x32 plane).

Python (``cifar-10-batches-py/``, what torchvision downloads): each batch is a pickled
dict with ``data`` (10000 x 3072 uint8, the same plane order) and ``labels`` (a list).
Unpickling runs code named by the file, so a file that came from outside is read with
``SafeUnpickler``, which admits only the few globals these files need.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from dlc.errors import DataError

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
BATCH = 10_000
RECORD = 1 + 3 * 32 * 32
TRAIN_BIN = [f"data_batch_{i}.bin" for i in range(1, 6)]
TEST_BIN = ["test_batch.bin"]
TRAIN_PY = [f"data_batch_{i}" for i in range(1, 6)]
TEST_PY = ["test_batch"]


def read_bin_batch(path: Path, count: int | None = BATCH, num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """One binary batch -> (uint8 N x 3 x 32 x 32, uint8 N), validated; ``count``: the N required."""
    path = Path(path)
    data = path.read_bytes()
    if len(data) % RECORD:
        raise DataError(
            f"{path}: {len(data)} bytes is not a whole number of {RECORD}-byte records "
            "(1 label + 3072 pixels): the file is truncated or not a CIFAR-10 binary batch"
        )
    if count is not None and len(data) // RECORD != count:
        raise DataError(f"{path}: {len(data) // RECORD} records, expected {count}: wrong or incomplete batch")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD)
    labels = records[:, 0]
    _check_labels(labels, path, num_classes)
    return records[:, 1:].reshape(-1, 3, 32, 32), labels


class SafeUnpickler(pickle.Unpickler):
    """Unpickles CIFAR batches and nothing else: only numpy's array-rebuilding pieces are importable.

    A pickle names the callables it wants run (``GLOBAL module name``); an ordinary
    ``pickle.load`` imports and calls whatever that is (``os.system`` included). The
    CIFAR-10 files need only numpy's array reconstruction (and, for pickles written by
    Python 3 at protocol 2, ``_codecs.encode`` to rebuild bytes).
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def __init__(self, file, source: str = "<pickle>"):
        # latin1 turns Python 2 byte strings (the official files) into str, which numpy's
        # array unpickling expects; it is also what torchvision uses.
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise DataError(
                f"{self.source}: refused to unpickle: the file asks to import "
                f"{module}.{name}, which a CIFAR-10 batch never holds (it may be malicious "
                "or not a CIFAR-10 file); delete it and fetch the data again"
            )
        return super().find_class(module, name)


def safe_load_pickle(path: Path):
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return SafeUnpickler(f, str(path)).load()
    except DataError:
        raise
    except Exception as e:  # any unpickling failure: truncated, garbage, wrong structure
        raise DataError(
            f"{path}: cannot unpickle ({type(e).__name__}: {e}); the file is corrupt "
            "or truncated: delete it and fetch it again"
        ) from e


def _get(d: dict, key: str):
    for k in (key, key.encode()):
        if k in d:
            return d[k]
    return None


def read_py_batch(path: Path, count: int | None = BATCH, num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """One python-pickle batch -> (uint8 N x 3 x 32 x 32, uint8 N), validated; ``count``: the N required."""
    path = Path(path)
    d = safe_load_pickle(path)
    data = _get(d, "data") if isinstance(d, dict) else None
    labels = _get(d, "labels") if isinstance(d, dict) else None
    if data is None or labels is None:
        raise DataError(f"{path}: not a CIFAR-10 batch (expected a dict with 'data' and 'labels')")
    data = np.asarray(data)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{path}: 'data' is {data.dtype} {data.shape}, expected uint8 N x 3072")
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError) as e:
        raise DataError(f"{path}: 'labels' is not a list of integers") from e
    if labels.ndim != 1 or len(labels) != len(data):
        raise DataError(f"{path}: {len(data)} images but {labels.size} labels")
    if count is not None and len(data) != count:
        raise DataError(f"{path}: {len(data)} images, expected {count}: wrong or incomplete batch")
    _check_labels(labels, path, num_classes)
    return data.reshape(-1, 3, 32, 32), labels.astype(np.uint8)


def _check_labels(labels: np.ndarray, path: Path, num_classes: int) -> None:
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(
            f"{path}: label {int(labels[i])} of record {i} is out of range 0..{num_classes - 1}: the file is corrupt"
        )


def read_batches(paths: list[Path], binary: bool) -> tuple[np.ndarray, np.ndarray]:
    read = read_bin_batch if binary else read_py_batch
    parts = [read(p) for p in paths]
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


def read_class_names(folder: Path) -> tuple[str, ...]:
    """The class names from ``batches.meta.txt`` or ``batches.meta``, else the official list."""
    folder = Path(folder)
    txt = folder / "batches.meta.txt"
    if txt.is_file():
        names = tuple(n.strip() for n in txt.read_text().splitlines() if n.strip())
        if len(names) == 10:
            return names
    meta = folder / "batches.meta"
    if meta.is_file():
        d = safe_load_pickle(meta)
        names = _get(d, "label_names") if isinstance(d, dict) else None
        if names and len(names) == 10:
            return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    return CLASSES
