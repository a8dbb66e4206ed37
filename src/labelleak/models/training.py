"""Seeded training and evaluation loops shared by model training, unlearning and attacks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from labelleak.device import inference_batch, module_device
from labelleak.validation import check_choice, check_number

ModuleT = TypeVar("ModuleT", bound=nn.Module)


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained. Part of every cache key, so changing it retrains."""

    epochs: int = 5
    lr: float = 1e-3
    batch_size: int = 128
    optimizer: str = "adam"
    weight_decay: float = 0.0
    augment: bool = False

    def __post_init__(self) -> None:
        check_number("epochs", self.epochs, low=1, integer=True)
        check_number("lr", self.lr, low=0, low_inclusive=False)
        check_number("batch_size", self.batch_size, low=1, integer=True)
        check_choice("optimizer", self.optimizer, ("adam", "sgd"))
        check_number("weight_decay", self.weight_decay, low=0)

    def to_dict(self) -> dict:
        return asdict(self)


#: recipes for the default architecture of each dataset (measured in benchmarks/train_accuracy.py)
DEFAULT_RECIPES = {
    "digits": TrainConfig(epochs=40, lr=1e-3, batch_size=64),
    "mnist": TrainConfig(epochs=4, lr=1e-3, batch_size=128),
    "fashion-mnist": TrainConfig(epochs=8, lr=1e-3, batch_size=128),
    "cifar10": TrainConfig(epochs=20, lr=2e-3, batch_size=128, augment=True, weight_decay=5e-4),
    "svhn": TrainConfig(epochs=8, lr=1e-3, batch_size=128),
}


def recipe_for(dataset_name: str, *, epochs: int | None = None) -> TrainConfig:
    """How θ_o is trained on ``dataset_name``: its default recipe (or :class:`TrainConfig`'s defaults
    for a dataset without one), with ``epochs`` replaced when given."""
    recipe = DEFAULT_RECIPES.get(dataset_name, TrainConfig())
    return recipe if epochs is None else replace(recipe, epochs=epochs)


def make_optimizer(params, *, name: str, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    if name == "adam":
        return (
            torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
            if weight_decay
            else torch.optim.Adam(params, lr=lr)
        )
    raise ValueError(f"optimizer must be 'adam' or 'sgd', got {name!r}")


def batches(n: int, batch_size: int, *, generator: torch.Generator | None = None) -> Iterator[torch.Tensor]:
    """Index batches over range(n); shuffled when a generator is given."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    yield from order.split(batch_size)


def augment_batch(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flip and 4-pixel-padded random crop, for natural images."""
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=generator) < 0.5
    x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
    padded = F.pad(x, (4, 4, 4, 4), mode="reflect")
    dy, dx = torch.randint(0, 9, (2,), generator=generator).tolist()
    return padded[:, :, dy : dy + h, dx : dx + w]


def train(
    model: ModuleT,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    config: TrainConfig,
    seed: int,
    verbose: bool = False,
    desc: str = "train",
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
    on_step: Callable[[torch.Tensor], None] | None = None,
) -> ModuleT:
    """Train ``model`` in place with mini-batch ``loss_fn``; same inputs and seed give identical weights.

    The model trains on its own device; ``x`` and ``y`` may stay on the CPU, each batch is moved
    to the model (the batch order and augmentation are drawn on the CPU, see labelleak.device).
    ``on_step``, when given, is called after every optimiser step with the batch's labels (it may
    read the model's parameters, not change them); the update record of Amnesiac unlearning
    (:class:`labelleak.unlearning.amnesiac_updates.UpdateRecorder`) uses it.
    """
    generator = torch.Generator().manual_seed(seed)
    device = module_device(model)
    optimizer = make_optimizer(
        model.parameters(), name=config.optimizer, lr=config.lr, weight_decay=config.weight_decay
    )
    steps = config.epochs * ((len(x) + config.batch_size - 1) // config.batch_size)
    scheduler = (
        torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=steps) if config.augment else None
    )
    model.train()
    # dropout draws from the global generator: fork it so training is seeded without side effects
    with torch.random.fork_rng(), tqdm(total=steps, desc=desc, disable=not verbose, leave=False) as bar:
        torch.manual_seed(seed)
        for _ in range(config.epochs):
            for idx in batches(len(x), config.batch_size, generator=generator):
                xb = augment_batch(x[idx], generator) if config.augment else x[idx]
                yb = y[idx].to(device)
                loss = loss_fn(model(xb.to(device)), yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                if on_step is not None:
                    on_step(yb)
                bar.update()
                bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    model.eval()
    return model


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, *, batch_size: int | None = None) -> torch.Tensor:
    """Logits of ``model`` in ``eval()`` mode, computed on the model's device and returned on the CPU
    (``batch_size`` images per pass; default: :func:`~labelleak.device.inference_batch`)."""
    was_training = model.training
    model.eval()
    device = module_device(model)
    batch_size = batch_size or inference_batch(device)
    out = (
        torch.cat([model(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])
        if len(x)
        else torch.empty(0)
    )
    model.train(was_training)
    return out


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy in [0, 1]; NaN for an empty set."""
    if len(y) == 0:
        return float("nan")
    return (predict_logits(model, x).argmax(1) == y).float().mean().item()


def per_class_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int) -> list[float]:
    pred = predict_logits(model, x).argmax(1)
    return [(pred[y == k] == k).float().mean().item() if (y == k).any() else float("nan") for k in range(num_classes)]
