"""Attacker knowledge made explicit (the threat models of docs/parameter_attacks.md): the auxiliary set A, the unrelated set N, θ_o.

:func:`draw_knowledge` draws everything an A-weights attacker holds from a dataset's **test**
split, never from its training split (the target's D):

* A — a stratified labelled sample, by default 1% of |D_train| in total (|D_train|/100/K per
  class, at least one); ``only_classes`` keeps only some classes (a partial A, whose classes
  :func:`draw_aux_classes` draws from a seed alone, never from the forgotten classes: an A built
  around the truth would name it), ``aux_per_class=0`` leaves A empty (data-free);
* N — ``"noise"``: structured noise (half blurred uniform noise at random scales, half random
  Gaussian blobs), or the name of another dataset whose test images are converted to the target's
  channel count and resized to its input size;
* the shadow pool — the rest of the test split (minus A), the attacker's own data for training
  shadow models (:mod:`labelleak.attacks.shadow`).

Test images that are byte-identical to a training image are dropped first, so neither A nor the
shadow pool ever contains a sample of D (the count is reported in the description).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from labelleak.access import WeightsAccess
from labelleak.attacks.base import AttackerKnowledge
from labelleak.data import ImageDataset, load_dataset
from labelleak.seeding import derive_seed, torch_generator
from labelleak.validation import ParameterError, check_classes, check_number

#: default size of A relative to the training set (the paper's 1%)
DEFAULT_AUX_FRACTION = 0.01
#: cache-key material of the retired setting that built A without the true forgotten classes: the
#: knowledge and shadow keys keep it, so that stores written before the partial and data-free
#: settings replaced it keep every row and calibration of the unchanged full setting
RETIRED_KEY_MATERIAL = {"exclude_forgotten": False}


@dataclass
class KnowledgeDraw:
    """The attacker's knowledge plus its own remaining data (the shadow pool)."""

    knowledge: AttackerKnowledge
    shadow_x: torch.Tensor
    shadow_y: torch.Tensor
    aux_indices: torch.Tensor
    """indices of A in the dataset's test split"""
    shadow_indices: torch.Tensor
    """indices of the shadow pool in the dataset's test split"""
    dropped_duplicates: int


def image_hashes(x: torch.Tensor) -> list[bytes]:
    """One digest per image, to detect identical images across splits."""
    flat = x.contiguous().reshape(len(x), -1).numpy()
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in flat]


def duplicates_of_train(dataset: ImageDataset) -> torch.Tensor:
    """Boolean mask over the test split: True where the image also occurs in the training split."""
    train = set(image_hashes(dataset.x_train))
    return torch.tensor([h in train for h in image_hashes(dataset.x_test)], dtype=torch.bool)


def structured_noise(n: int, input_shape: Sequence[int], *, seed: int) -> torch.Tensor:
    """``n`` images in [0, 1]: half uniform noise blurred at random scales, half random blobs."""
    c, h, w = (int(s) for s in input_shape)
    gen = torch_generator(seed)
    n_blur = n // 2
    out = []
    if n_blur:
        noise = torch.rand(n_blur, c, h, w, generator=gen)
        # per image a blur radius from 0 (raw noise) to about a quarter of the image
        radii = torch.randint(0, max(1, h // 4) + 1, (n_blur,), generator=gen)
        blurs: list[torch.Tensor] = []
        for img, r in zip(noise, radii.tolist()):
            k = 2 * r + 1
            blurs.append(F.avg_pool2d(img[None], k, stride=1, padding=r, count_include_pad=False)[0] if r else img)
        blurred = torch.stack(blurs)
        low = blurred.amin(dim=(1, 2, 3), keepdim=True)
        high = blurred.amax(dim=(1, 2, 3), keepdim=True)
        out.append((blurred - low) / (high - low).clamp_min(1e-6))
    n_blob = n - n_blur
    if n_blob:
        ys = torch.linspace(0, 1, h).view(1, 1, h, 1)
        xs = torch.linspace(0, 1, w).view(1, 1, 1, w)
        img = torch.zeros(n_blob, c, h, w)
        for _ in range(4):
            cy, cx = torch.rand(2, n_blob, 1, 1, 1, generator=gen)
            sigma = 0.05 + 0.25 * torch.rand(n_blob, 1, 1, 1, generator=gen)
            amp = torch.rand(n_blob, c, 1, 1, generator=gen)
            img = img + amp * torch.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * sigma**2))
        out.append(img / img.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6))
    return torch.cat(out).clamp(0, 1)


def convert_images(x: torch.Tensor, input_shape: Sequence[int]) -> torch.Tensor:
    """Images of another dataset converted to ``input_shape`` (channels by mean/replication, bilinear resize)."""
    c, h, w = (int(s) for s in input_shape)
    if x.shape[1] != c:
        x = x.mean(dim=1, keepdim=True)
        if c != 1:
            x = x.expand(-1, c, -1, -1)
    if tuple(x.shape[2:]) != (h, w):
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
    return x.clamp(0, 1).contiguous()


def unrelated_images(
    kind: str, *, n: int, input_shape: Sequence[int], seed: int, exclude_dataset: str, data_root: str | None = None
) -> tuple[torch.Tensor, str]:
    """The unrelated set N: ``"noise"`` or another dataset's name; returns (images, description)."""
    if kind == "noise":
        return structured_noise(n, input_shape, seed=seed), f"{n} structured-noise images"
    if kind == exclude_dataset:
        raise ParameterError(
            f"unrelated must be 'noise' or a dataset other than the target's ({exclude_dataset!r}), got {kind!r}"
        )
    other = load_dataset(kind, root=data_root)
    gen = torch_generator(seed)
    idx = torch.randperm(len(other.x_test), generator=gen)[:n]
    return convert_images(
        other.x_test[idx], input_shape
    ), f"{len(idx)} {kind} test images resized to {tuple(input_shape)}"


def draw_aux_classes(num_classes: int, n: int, *, seed: int) -> tuple[int, ...]:
    """The classes of a partial A: ``n`` of the ``num_classes`` classes, drawn from ``seed`` alone.

    Nothing about a target enters the draw, so every target drawn with the same seed shares the
    classes, and whether its forgotten classes lie among them varies with the target.

    Raises:
        ParameterError: ``n`` is not in [1, num_classes - 1] (A must leave at least one class out).
    """
    check_number("aux_classes", n, low=1, high=num_classes - 1, integer=True)
    gen = torch_generator(derive_seed(seed, "aux-classes"))
    return tuple(sorted(int(c) for c in torch.randperm(num_classes, generator=gen)[:n]))


def forgotten_in_aux(forget: Sequence[int], aux_classes: Sequence[int]) -> str:
    """Whether the forgotten classes lie among the classes of A: "all", "some" or "none"."""
    held = set(aux_classes) & set(forget)
    if held == set(forget):
        return "all"
    return "some" if held else "none"


def draw_knowledge(
    dataset: ImageDataset,
    *,
    aux_per_class: int | None = None,
    only_classes: Sequence[int] | None = None,
    unrelated: str | None = "noise",
    unrelated_size: int | None = None,
    original: WeightsAccess | None = None,
    seed: int = 0,
    data_root: str | None = None,
) -> KnowledgeDraw:
    """Draw A (and N) from ``dataset``'s test split; the test split minus the full setting's A (of
    at least the default size, whatever this A holds) is the shadow pool.

    Args:
        dataset: the target's dataset; D is its training split, which is never touched.
        aux_per_class: samples per class in A; default |D_train|·1%/K (at least 1); 0 leaves A
            empty (data-free: ``aux_x`` and ``aux_y`` are None).
        only_classes: if given, A holds samples of these classes only (those a full A would hold
            of them; the full A's samples of the other classes stay out of the shadow pool).
        unrelated: ``"noise"``, another dataset's name, or None for no N.
        unrelated_size: |N|; default |A| (or 1% of |D_train| when A is empty).
        original: θ_o, for the two-version setting.
        seed: A's draw and N derive from it.
    """
    k = dataset.num_classes
    per_class_default = max(1, round(DEFAULT_AUX_FRACTION * len(dataset.y_train) / k))
    per_class = (
        per_class_default
        if aux_per_class is None
        else check_number("aux_per_class", aux_per_class, low=0, integer=True)
    )
    classes = (
        list(check_classes("only_classes", only_classes, k, allow_all=True))
        if only_classes is not None
        else list(range(k))
    )

    usable = ~duplicates_of_train(dataset)
    gen = torch_generator(derive_seed(seed, "aux"))
    # Every class is drawn, whatever A holds, and the shadow pool is the test split minus the draw
    # of the full setting (at least the default |A|): the settings of one seed then share one
    # shadow pool, so one set of shadow models, and A of a partial setting is the full A's samples
    # of its classes.
    reserved = max(per_class, per_class_default)
    aux_parts, reserved_parts = [], []
    for c in range(k):
        pool = torch.nonzero(usable & (dataset.y_test == c)).flatten()
        if reserved > len(pool):
            raise ParameterError(
                f"aux_per_class must be at most {len(pool)} (test samples of class {c}), got {reserved}"
            )
        drawn = pool[torch.randperm(len(pool), generator=gen)[:reserved]]
        reserved_parts.append(drawn)
        if c in classes:
            aux_parts.append(drawn[:per_class])
    aux_idx = torch.sort(torch.cat(aux_parts)).values if aux_parts else torch.empty(0, dtype=torch.long)
    in_reserved = torch.zeros(len(dataset.y_test), dtype=torch.bool)
    in_reserved[torch.cat(reserved_parts)] = True
    shadow_idx = torch.nonzero(usable & ~in_reserved).flatten()

    if not len(aux_idx):
        parts = ["A: none"]
    elif len(classes) < k:
        parts = [
            f"A: {len(aux_idx)} test samples ({per_class}/class of {len(classes)} of {k} classes: "
            f"{' '.join(map(str, classes))})"
        ]
    else:
        parts = [f"A: {len(aux_idx)} test samples ({per_class}/class of {k} classes)"]
    unrelated_x = None
    if unrelated is not None:
        n_unrelated = unrelated_size if unrelated_size is not None else (len(aux_idx) or per_class_default * k)
        check_number("unrelated_size", n_unrelated, low=1, integer=True)
        unrelated_x, text = unrelated_images(
            unrelated,
            n=n_unrelated,
            input_shape=dataset.input_shape,
            seed=derive_seed(seed, "unrelated"),
            exclude_dataset=dataset.name,
            data_root=data_root,
        )
        parts.append(f"N: {text}")
    if original is not None:
        parts.append("θ_o: given")
    dropped = int((~usable).sum())
    if dropped:
        parts.append(f"{dropped} test images identical to training images excluded")
    # an empty A is no A: an attack that needs one is then refused by name, not fed zero samples
    knowledge = AttackerKnowledge(
        aux_x=dataset.x_test[aux_idx] if len(aux_idx) else None,
        aux_y=dataset.y_test[aux_idx] if len(aux_idx) else None,
        unrelated_x=unrelated_x,
        original=original,
        description="; ".join(parts),
    )
    return KnowledgeDraw(
        knowledge=knowledge,
        shadow_x=dataset.x_test[shadow_idx],
        shadow_y=dataset.y_test[shadow_idx],
        aux_indices=aux_idx,
        shadow_indices=shadow_idx,
        dropped_duplicates=dropped,
    )
