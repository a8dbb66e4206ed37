"""CIFAR-10 python batches (``cifar-10-batches-py/``), read without trusting pickle.

The batches are pickles. They are read with an unpickler that admits only the globals a genuine
batch needs to rebuild numpy arrays; any other global (``os.system``, a class) is refused.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

from labelleak.data.base import DataError

TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing global {module}.{name}")
        return super().find_class(module, name)


def safe_unpickle(path: Path) -> object:
    """Unpickle ``path`` admitting only numpy arrays and plain containers."""
    try:
        with open(path, "rb") as fh:
            return _ArrayOnlyUnpickler(io.BytesIO(fh.read()), encoding="bytes").load()
    except pickle.UnpicklingError as err:
        raise DataError(f"unsafe or corrupt pickle {path}: {err}") from None
    except (OSError, EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise DataError(f"cannot read CIFAR batch {path}: {err}") from None


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    batch = safe_unpickle(path)
    if not isinstance(batch, dict):
        raise DataError(f"{path}: a CIFAR batch must be a dict, got {type(batch).__name__}")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if not isinstance(data, np.ndarray) or labels is None:
        raise DataError(f"{path}: a CIFAR batch needs 'data' (array) and 'labels'")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise DataError(f"{path}: 'data' must be uint8 (N, 3072) with N labels, got {data.dtype} {data.shape}")
    return data.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


def read_cifar_directory(directory: Path) -> dict[str, np.ndarray] | None:
    """Arrays (NCHW uint8) from a ``cifar-10-batches-py`` directory, or None when absent."""
    if not (directory / TEST_BATCH).is_file():
        return None
    missing = [b for b in TRAIN_BATCHES if not (directory / b).is_file()]
    if missing:
        raise DataError(f"{directory} lacks CIFAR-10 batch(es) {', '.join(missing)}")
    xs, ys = zip(*(_read_batch(directory / b) for b in TRAIN_BATCHES))
    x_test, y_test = _read_batch(directory / TEST_BATCH)
    return {"x_train": np.concatenate(xs), "y_train": np.concatenate(ys), "x_test": x_test, "y_test": y_test}
