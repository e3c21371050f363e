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
    """One binary batch -> (uint8 N x 3 x 32 x 32, uint8 N), validated; ``count``: the N required.

    The size is checked before the file is read, so a wrong file is refused without reading it.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise DataError(f"{path}: cannot read the file ({e.strerror or e}); check it or fetch it again") from e
    if size % RECORD:
        raise DataError(
            f"{path}: {size} bytes is not a whole number of {RECORD}-byte records "
            "(1 label + 3072 pixels): the file is truncated or not a CIFAR-10 binary batch"
        )
    if count is not None and size // RECORD != count:
        raise DataError(f"{path}: {size // RECORD} records, expected {count}: wrong or incomplete batch")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read the file ({e.strerror or e}); check it or fetch it again") from e
    if len(data) != size:
        raise DataError(f"{path}: the file changed while it was read; try again")
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
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        what = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{path}: 'data' is {what}, expected a uint8 N x 3072 array: not a CIFAR-10 batch")
    labels = _labels(labels, path, num_classes)
    if len(labels) != len(data):
        raise DataError(f"{path}: {len(data)} images but {len(labels)} labels: the batch is corrupt")
    if count is not None and len(data) != count:
        raise DataError(f"{path}: {len(data)} images, expected {count}: wrong or incomplete batch")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.uint8)


def _labels(labels, path: Path, num_classes: int) -> np.ndarray:
    """A batch's labels as int64, each checked to be an integer in 0..num_classes-1.

    Checked as Python integers before any conversion, so a label like 2**64 is reported
    as itself (a conversion to int64 would overflow or wrap it into range).
    """
    if isinstance(labels, np.ndarray):
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise DataError(f"{path}: 'labels' is a {labels.dtype} array of shape {labels.shape}, expected N integers")
        values = labels.tolist()
    elif isinstance(labels, (list, tuple)):
        values = list(labels)
    else:
        raise DataError(f"{path}: 'labels' is {type(labels).__name__}, expected a list of integers")
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise DataError(
                f"{path}: label {_short(v)} of record {i} is not an integer: "
                "the file is corrupt or not a CIFAR-10 batch"
            )
        if not 0 <= v < num_classes:
            raise DataError(
                f"{path}: label {_short(v)} of record {i} is out of range 0..{num_classes - 1}: the file is corrupt"
            )
    return np.array(values, dtype=np.int64)


def _short(v) -> str:
    r = repr(v)
    return r if len(r) <= 40 else r[:37] + "..."


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
        try:
            text = txt.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise DataError(f"{txt}: cannot read the class names ({e}); delete the file or fetch the data again") from e
        names = tuple(n.strip() for n in text.splitlines() if n.strip())
        if len(names) == 10:
            return names
    meta = folder / "batches.meta"
    if meta.is_file():
        d = safe_load_pickle(meta)
        names = _get(d, "label_names") if isinstance(d, dict) else None
        if isinstance(names, (list, tuple)) and len(names) == 10 and all(isinstance(n, (str, bytes)) for n in names):
            try:
                return tuple(n.decode() if isinstance(n, bytes) else n for n in names)
            except UnicodeDecodeError as e:
                raise DataError(f"{meta}: class names are not UTF-8 text ({e}): the file is corrupt") from e
    return CLASSES
