from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest
import torch

from labelleak.data import DataError, load_dataset, locate_dataset
from labelleak.data.cifar import safe_unpickle
from labelleak.data.idx import read_idx

from .fixtures import idx_bytes, write_cifar_batches, write_malicious_batch, write_mnist_idx, write_svhn_mat


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip_in_torchvision_layout(tmp_path, gz):
    write_mnist_idx(tmp_path / "MNIST" / "raw", gz=gz)
    ds = load_dataset("mnist", root=tmp_path)
    assert ds.x_train.shape == (20, 1, 28, 28) and ds.x_test.shape == (10, 1, 28, 28)
    assert ds.x_train.dtype == torch.float32 and 0 <= ds.x_train.min() and ds.x_train.max() <= 1
    assert ds.y_train.tolist() == [i % 10 for i in range(20)]


def test_fashion_mnist_layout(tmp_path):
    write_mnist_idx(tmp_path / "FashionMNIST" / "raw")
    ds = load_dataset("fashion-mnist", root=tmp_path)
    assert ds.class_names[0] == "T-shirt/top" and len(ds.y_test) == 10


def test_truncated_idx_is_rejected(tmp_path):
    x = np.zeros((5, 28, 28), dtype=np.uint8)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(x)[:-100]))
    with pytest.raises(DataError, match=r"truncated or corrupt"):
        read_idx(path)


def test_corrupt_gzip_and_bad_magic_are_rejected(tmp_path):
    bad_gz = tmp_path / "a.gz"
    bad_gz.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DataError, match=r"cannot read IDX"):
        read_idx(bad_gz)
    bad_magic = tmp_path / "b"
    bad_magic.write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x01\x00")
    with pytest.raises(DataError, match=r"bad magic"):
        read_idx(bad_magic)


def test_cifar_batches_round_trip(tmp_path):
    write_cifar_batches(tmp_path / "cifar-10-batches-py")
    ds = load_dataset("cifar10", root=tmp_path)
    assert ds.x_train.shape == (50, 3, 32, 32) and ds.x_test.shape == (10, 3, 32, 32)
    assert ds.class_names[3] == "cat"


def test_cifar_pickle_with_foreign_global_is_refused_without_running_it(tmp_path):
    directory = tmp_path / "cifar-10-batches-py"
    write_cifar_batches(directory)
    marker = tmp_path / "pwned"
    write_malicious_batch(directory / "data_batch_3", marker)
    with pytest.raises(DataError, match=r"refusing global posix.system|refusing global os.system"):
        load_dataset("cifar10", root=tmp_path)
    assert not marker.exists()


def test_safe_unpickle_refuses_arbitrary_classes(tmp_path):
    path = tmp_path / "obj"
    path.write_bytes(pickle.dumps({"x": pytest.raises}))
    with pytest.raises(DataError, match=r"refusing global"):
        safe_unpickle(path)


def test_svhn_mat_round_trip_maps_label_10_to_0(tmp_path):
    write_svhn_mat(tmp_path / "svhn")
    ds = load_dataset("svhn", root=tmp_path)
    assert ds.x_train.shape == (12, 3, 32, 32)
    assert ds.y_train.tolist()[:10] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]


def test_svhn_corrupt_file(tmp_path):
    (tmp_path / "train_32x32.mat").write_bytes(b"garbage")
    (tmp_path / "test_32x32.mat").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"cannot read SVHN"):
        load_dataset("svhn", root=tmp_path)


def test_npz_in_each_layout(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(20, 32, 32, 3), dtype=np.uint8)  # NHWC, as shared/data/cifar10.npz
    y = (np.arange(20) % 10).astype(np.uint8)
    np.savez(tmp_path / "cifar10.npz", x_train=x, y_train=y, x_test=x[:10], y_test=y[:10])
    ds = load_dataset("cifar10", root=tmp_path)
    assert ds.x_train.shape == (20, 3, 32, 32)
    assert torch.allclose(ds.x_train[0, 2], torch.from_numpy(x[0, :, :, 2]).float() / 255)


def test_npz_missing_array(tmp_path):
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataError, match=r"lacks array"):
        load_dataset("mnist", root=tmp_path)


def test_labels_out_of_range_are_rejected(tmp_path):
    x = np.zeros((10, 28, 28), np.uint8)
    y = np.arange(10, dtype=np.uint8)
    y[3] = 12
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=y, x_test=x, y_test=np.arange(10, dtype=np.uint8))
    with pytest.raises(DataError, match=r"labels must lie in \[0, 9\]"):
        load_dataset("mnist", root=tmp_path)


def test_wrong_image_size_is_rejected(tmp_path):
    x = np.zeros((10, 30, 30), np.uint8)
    y = np.arange(10, dtype=np.uint8)
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=y, x_test=x, y_test=y)
    with pytest.raises(DataError, match=r"must be \(1, 28, 28\)"):
        load_dataset("mnist", root=tmp_path)


def test_missing_dataset_names_searched_paths(tmp_path):
    with pytest.raises(DataError) as info:
        load_dataset("mnist", root=tmp_path / "nowhere")
    message = str(info.value)
    assert "not found" in message and str(tmp_path / "nowhere" / "MNIST" / "raw") in message
    assert "\n" not in message
    assert locate_dataset("mnist", tmp_path / "nowhere") is None


def test_download_checks_md5_and_writes_atomically(tmp_path, monkeypatch):
    import io

    from labelleak.data import discovery

    monkeypatch.setitem(discovery.DOWNLOADS, "svhn", [("http://example.invalid/f.mat", "f.mat", "0" * 32)])
    fake = lambda url: io.BytesIO(b"not the real file")  # noqa: E731
    with pytest.raises(DataError, match=r"md5"):
        discovery.download("svhn", tmp_path, fetch=fake)
    assert not (tmp_path / "svhn").exists()  # neither the partial file nor the directory made for it
