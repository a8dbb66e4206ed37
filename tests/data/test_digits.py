import torch

from labelleak.data import load_dataset, train_subset


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


def test_train_subset_keeps_per_class_images_of_each_class_and_the_test_split():
    digits = load_dataset("digits")
    subset = train_subset(digits, per_class=20, seed=3)
    assert torch.equal(torch.bincount(subset.y_train), torch.full((10,), 20))
    assert subset.x_test is digits.x_test and subset.y_test is digits.y_test
    # every kept image is one of the training split's, with its label
    rows = {tuple(x.flatten().tolist()): int(y) for x, y in zip(digits.x_train, digits.y_train)}
    assert all(rows[tuple(x.flatten().tolist())] == int(y) for x, y in zip(subset.x_train, subset.y_train))
    assert torch.equal(train_subset(digits, per_class=20, seed=3).y_train, subset.y_train)
    assert not torch.equal(train_subset(digits, per_class=20, seed=4).x_train, subset.x_train)
    # a class with fewer images keeps them all
    assert len(train_subset(digits, per_class=10_000, seed=3).y_train) == len(digits.y_train)
