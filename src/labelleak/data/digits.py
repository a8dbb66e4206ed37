"""scikit-learn's bundled 8x8 digits: the embedded default that needs no download."""

from __future__ import annotations

import numpy as np

from labelleak.data.base import ImageDataset

#: fraction of each class kept as the test split
TEST_FRACTION = 0.25
#: the split is fixed, not a user seed, so every model trained on digits sees the same data
SPLIT_SEED = 0


def load_digits_dataset() -> ImageDataset:
    import torch
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.as_tensor(bunch.target, dtype=torch.int64)
    rng = np.random.default_rng(SPLIT_SEED)
    test_idx: list[int] = []
    for c in range(10):
        idx = np.flatnonzero(bunch.target == c)
        test_idx.extend(rng.choice(idx, size=round(len(idx) * TEST_FRACTION), replace=False))
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[test_idx] = True
    train, test = torch.as_tensor(~is_test), torch.as_tensor(is_test)
    return ImageDataset(
        name="digits",
        x_train=images[train],
        y_train=labels[train],
        x_test=images[test],
        y_test=labels[test],
        class_names=tuple(str(i) for i in range(10)),
        source="sklearn.datasets.load_digits (bundled)",
    )
