import torch

from labelleak.data import load_dataset


def test_digits_is_bundled_split_and_normalised():
    ds = load_dataset("digits")
    assert ds.input_shape == (1, 8, 8) and ds.num_classes == 10
    assert len(ds.y_train) + len(ds.y_test) == 1797
    assert 0 <= float(ds.x_train.min()) and float(ds.x_train.max()) <= 1
    for k in range(10):  # stratified: every class in both splits
        assert (ds.y_test == k).sum() > 30 and (ds.y_train == k).sum() > 100


def test_digits_split_is_fixed():
    from labelleak.data.digits import load_digits_dataset

    a, b = load_digits_dataset(), load_digits_dataset()
    assert torch.equal(a.y_test, b.y_test) and torch.equal(a.x_test, b.x_test)
