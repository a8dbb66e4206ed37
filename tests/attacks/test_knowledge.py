import pytest
import torch

from labelleak.attacks.knowledge import (
    convert_images,
    draw_aux_classes,
    draw_knowledge,
    duplicates_of_train,
    forgotten_in_aux,
    image_hashes,
    structured_noise,
)
from labelleak.data import ImageDataset
from labelleak.validation import ParameterError


def test_aux_comes_from_test_split_stratified(digits):
    draw = draw_knowledge(digits, aux_per_class=4, seed=0)
    k = draw.knowledge
    assert len(k.aux_y) == 40 and torch.bincount(k.aux_y, minlength=10).tolist() == [4] * 10
    assert torch.equal(k.aux_x, digits.x_test[draw.aux_indices])
    train = set(image_hashes(digits.x_train))
    assert not any(h in train for h in image_hashes(k.aux_x))
    # A and the shadow pool partition the usable test split
    assert not set(draw.aux_indices.tolist()) & set(draw.shadow_indices.tolist())
    assert len(draw.aux_indices) + len(draw.shadow_indices) + draw.dropped_duplicates == len(digits.y_test)
    assert "A: 40 test samples" in k.description and "N: 40 structured-noise" in k.description


def test_default_aux_size_is_one_percent_of_training_set(digits):
    draw = draw_knowledge(digits, seed=0)
    assert len(draw.knowledge.aux_y) == 10 * max(1, round(0.01 * len(digits.y_train) / 10))


def test_only_classes_and_an_empty_aux(digits):
    k = draw_knowledge(digits, aux_per_class=3, only_classes=[1, 2], unrelated=None, seed=0).knowledge
    assert sorted(set(k.aux_y.tolist())) == [1, 2] and k.unrelated_x is None
    assert "A: 6 test samples (3/class of 2 of 10 classes: 1 2)" in k.description
    with pytest.raises(ParameterError, match="aux_per_class"):
        draw_knowledge(digits, aux_per_class=10_000, seed=0)
    with pytest.raises(ParameterError, match="only_classes"):
        draw_knowledge(digits, only_classes=[10], seed=0)
    # data-free: no A at all (an attack that needs one is refused by name), N of the default size
    free = draw_knowledge(digits, aux_per_class=0, seed=0)
    assert free.knowledge.aux_x is None and free.knowledge.aux_y is None and len(free.aux_indices) == 0
    assert free.knowledge.description.startswith("A: none; N: ")
    assert len(free.knowledge.unrelated_x) == 10 * max(1, round(0.01 * len(digits.y_train) / 10))
    # ...and the shadow pool of every setting of a seed is the same: the test split minus the full A
    full = draw_knowledge(digits, seed=0)
    partial = draw_knowledge(digits, only_classes=[1, 2], seed=0)
    for other in (free, partial):
        assert torch.equal(other.shadow_indices, full.shadow_indices)
    assert len(full.aux_indices) + len(full.shadow_indices) + full.dropped_duplicates == len(digits.y_test)
    # a partial A is the full A's samples of its classes
    assert set(partial.aux_indices.tolist()) == {
        i for i, c in zip(full.aux_indices.tolist(), full.knowledge.aux_y.tolist()) if c in (1, 2)
    }


def test_aux_classes_are_drawn_from_the_seed_alone():
    drawn = draw_aux_classes(10, 4, seed=3)
    assert len(drawn) == 4 and list(drawn) == sorted(set(drawn)) and all(0 <= c < 10 for c in drawn)
    assert draw_aux_classes(10, 4, seed=3) == drawn
    assert len({draw_aux_classes(10, 4, seed=s) for s in range(10)}) > 1
    for bad in (0, 10, 2.5):
        with pytest.raises(ParameterError, match=rf"aux_classes must be an integer in \[1, 9\], got {bad}"):
            draw_aux_classes(10, bad, seed=0)


def test_forgotten_in_aux():
    assert forgotten_in_aux((2,), range(10)) == "all"
    assert forgotten_in_aux((2, 5), (1, 2, 5)) == "all"
    assert forgotten_in_aux((2, 5), (1, 2)) == "some"
    assert forgotten_in_aux((2, 5), (1, 3)) == "none"
    assert forgotten_in_aux((2,), ()) == "none"


def test_draw_is_seeded(digits):
    a = draw_knowledge(digits, aux_per_class=2, seed=1)
    b = draw_knowledge(digits, aux_per_class=2, seed=1)
    c = draw_knowledge(digits, aux_per_class=2, seed=2)
    assert torch.equal(a.aux_indices, b.aux_indices) and torch.equal(a.knowledge.unrelated_x, b.knowledge.unrelated_x)
    assert not torch.equal(a.aux_indices, c.aux_indices)


def test_test_images_duplicating_training_images_are_excluded(digits):
    x_test = digits.x_test.clone()
    x_test[:5] = digits.x_train[:5]
    data = ImageDataset(
        name="dup",
        x_train=digits.x_train,
        y_train=digits.y_train,
        x_test=x_test,
        y_test=digits.y_test,
        class_names=digits.class_names,
        source="test",
    )
    assert duplicates_of_train(data)[:5].all()
    draw = draw_knowledge(data, aux_per_class=2, seed=0)
    assert draw.dropped_duplicates >= 5
    used = set(draw.aux_indices.tolist()) | set(draw.shadow_indices.tolist())
    assert not used & set(range(5))


def test_structured_noise_shape_range_and_structure():
    x = structured_noise(10, (3, 16, 16), seed=0)
    assert x.shape == (10, 3, 16, 16) and x.min() >= 0 and x.max() <= 1
    assert torch.equal(x, structured_noise(10, (3, 16, 16), seed=0))
    # blobs are smooth: neighbouring pixels differ far less than in white noise
    blobs = x[5:]
    assert (blobs[..., 1:] - blobs[..., :-1]).abs().mean() < 0.1


def test_convert_images_channels_and_size():
    rgb = torch.rand(4, 3, 32, 32)
    grey = convert_images(rgb, (1, 28, 28))
    assert grey.shape == (4, 1, 28, 28)
    assert convert_images(torch.rand(2, 1, 8, 8), (3, 32, 32)).shape == (2, 3, 32, 32)


def test_unrelated_must_not_be_the_target_dataset(digits):
    with pytest.raises(ParameterError, match="unrelated"):
        draw_knowledge(digits, unrelated="digits", seed=0)
