"""Boundary Shrink (Chen et al., CVPR 2023): relabel each forget sample with its nearest wrong class."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from labelleak.device import module_device
from labelleak.models import Classifier, TrainConfig
from labelleak.models.training import predict_logits
from labelleak.seeding import derive_seed
from labelleak.unlearning.base import UNLEARNERS, ForgetSplit, Unlearner
from labelleak.unlearning.common import OptimizerOptions, run_epochs
from labelleak.validation import check_number


def nearest_wrong_labels(
    original: Classifier,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epsilon: float,
    forbidden: tuple[int, ...],
    batch_size: int = 512,
) -> torch.Tensor:
    """argmax of θ_o on a one-step FGSM neighbour x + ε·sign(∇_x CE) of each sample, in pixel space.

    The FGSM image is clipped to [0, 1] and rounded to 1/255 as in the original code. Classes in
    ``forbidden`` (the forgotten ones) are never chosen, so with several forgotten classes a sample
    is not pushed from one forgotten class into another. The gradients are computed on θ_o's
    device, the labels returned on the CPU.
    """
    original.eval()
    device = module_device(original)
    labels = []
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size].clone().to(device).requires_grad_(True)
        loss = F.cross_entropy(original(xb), y[start : start + batch_size].to(device))
        (grad,) = torch.autograd.grad(loss, xb)
        labels.append((torch.round((xb.detach() + epsilon * grad.sign()).clamp(0, 1) * 255) / 255).cpu())
    logits = predict_logits(original, torch.cat(labels))
    logits[:, list(forbidden)] = float("-inf")
    return logits.argmax(1)


@UNLEARNERS.register("boundary_shrink")
class BoundaryShrink(OptimizerOptions, Unlearner):
    """Fine-tune on the clean forget samples labelled with θ_o's prediction on their FGSM neighbours.

    Reference (Boundary-Unlearning code): ε = 0.1 in pixel space, SGD lr 1e-5, momentum 0.9,
    10 epochs over D_f, batch 64, on an All-CNN for CIFAR-10. Only D_f is used. Scaled here: the
    neighbour labels are computed once from the frozen θ_o (the reference recomputes them every
    batch from the same frozen θ_o and the same images, which gives the same labels); lr is raised
    to 1e-3 because lr 1e-5 barely moves our small Adam-trained models (measured behaviour:
    docs/unlearning.md). 10 epochs over one class's samples is about one epoch of θ_o's training on
    a ten-class dataset.
    """

    name = "boundary_shrink"
    summary = "fine-tune forget samples towards their nearest wrong class found by FGSM (forget set only)"
    uses = frozenset({"forget"})

    def __init__(
        self,
        *,
        epochs: int = 10,
        lr: float = 1e-3,
        epsilon: float = 0.1,
        batch_size: int = 64,
        optimizer: str = "sgd",
        momentum: float = 0.9,
    ) -> None:
        """Args:
        epochs: passes over D_f.
        lr: learning rate.
        epsilon: FGSM step in pixel units (images in [0, 1]).
        batch_size: mini-batch size.
        optimizer: "sgd" or "adam".
        momentum: SGD momentum.
        """
        self.epochs = check_number("epochs", epochs, low=1, integer=True)
        self._set_optimizer_options(lr=lr, optimizer=optimizer, momentum=momentum)
        self.epsilon = check_number("epsilon", epsilon, low=0, high=1, low_inclusive=False)
        self.batch_size = check_number("batch_size", batch_size, low=1, integer=True)

    def _unlearn(
        self,
        model: Classifier,
        *,
        original: Classifier,
        split: ForgetSplit,
        seed: int,
        recipe: TrainConfig,
        verbose: bool,
    ) -> Classifier:
        targets = nearest_wrong_labels(
            original, split.x_forget, split.y_forget, epsilon=self.epsilon, forbidden=split.forget_classes
        )
        optimizer = self._build_optimizer(model.parameters())
        run_epochs(
            model,
            split.x_forget,
            targets,
            epochs=self.epochs,
            batch_size=self.batch_size,
            optimizer=optimizer,
            seed=derive_seed(seed, "boundary_shrink"),
            verbose=verbose,
            desc="boundary shrink",
        )
        return model
