"""``.npz`` archives holding x_train, y_train, x_test and y_test (no pickled objects)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from labelleak.data.base import DataError

KEYS = ("x_train", "y_train", "x_test", "y_test")


def read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in KEYS if k not in archive.files]
            if missing:
                raise DataError(f"{path} lacks array(s) {', '.join(missing)}; expected {', '.join(KEYS)}")
            return {k: archive[k] for k in KEYS}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise DataError(f"cannot read {path}: {err}") from None
