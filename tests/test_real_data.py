"""Slow end-to-end checks on real MNIST, run with ``python -m pytest -m slow``.

They train into a fresh artifact store (the three took 5 min 6 s on this 2-core machine beside
other jobs, 3 min 50 s of CPU) and skip when MNIST is not available.
"""

from __future__ import annotations

import pytest

from labelleak.cli import main
from labelleak.data import DataError, load_dataset
from labelleak.store import ArtifactStore
from labelleak.targets import train_original

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mnist():
    try:
        return load_dataset("mnist")
    except DataError as err:
        pytest.skip(str(err))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("store")


def test_mnist_lenet_reaches_its_documented_accuracy(mnist, cache):
    original = train_original(mnist, store=ArtifactStore(cache))
    assert original.metrics["test_accuracy"] >= 0.985


@pytest.mark.parametrize(
    "attack", [["--attack", "param-diff", "--decider", "kmeans"], ["--attack", "invert-wb", "--criterion", "threshold"]]
)
def test_a_class_unlearned_from_mnist_is_named_by_the_attack(mnist, cache, attack, capsys):
    code = main(
        [
            "attack",
            "--dataset",
            "mnist",
            "--method",
            "random_labels",
            "--forget",
            "3",
            *attack,
            "--cache",
            str(cache),
            "--threads",
            "2",
            "--quiet",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "Ĉ = [3], truth C = [3]: SUCCESS" in out
