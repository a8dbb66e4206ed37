"""Fine-tune θ_o on D_r only ("catastrophic forgetting" of the classes it no longer sees)."""

from __future__ import annotations

from labelleak.models import Classifier, TrainConfig
from labelleak.seeding import derive_seed
from labelleak.unlearning.base import UNLEARNERS, ForgetSplit, Unlearner
from labelleak.unlearning.common import OptimizerOptions, run_epochs
from labelleak.validation import check_number


@UNLEARNERS.register("finetune")
class Finetune(OptimizerOptions, Unlearner):
    """Continue minimising cross-entropy on D_r, starting from θ_o.

    Reference defaults: 10 epochs of SGD lr 0.01 (SalUn/Sparse code, SCRUB notebooks) or 5 epochs
    lr 0.02 (SSD code) on CIFAR ResNets. Scaled here: our small models train in a few epochs with
    Adam, and the cost goal is about two epochs of θ_o's training, so the default is 2 epochs over
    D_r with SGD lr 0.02, momentum 0.9 (measured behaviour: docs/unlearning.md). On the 1,347-image
    digits set two epochs are only ~20 steps; there, use e.g. ``epochs=10, optimizer="adam",
    lr=0.003``.
    """

    name = "finetune"
    summary = "fine-tune the original model on the retain set only (catastrophic forgetting)"
    uses = frozenset({"retain"})

    def __init__(
        self,
        *,
        epochs: int = 2,
        lr: float = 0.02,
        batch_size: int = 128,
        optimizer: str = "sgd",
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
    ) -> None:
        """Args:
        epochs: passes over D_r.
        lr: learning rate.
        batch_size: mini-batch size.
        optimizer: "sgd" or "adam".
        momentum: SGD momentum.
        weight_decay: L2 penalty (5e-4 as in the reference code).
        """
        self.epochs = check_number("epochs", epochs, low=1, integer=True)
        self._set_optimizer_options(lr=lr, optimizer=optimizer, momentum=momentum, weight_decay=weight_decay)
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
        optimizer = self._build_optimizer(model.parameters())
        run_epochs(
            model,
            split.x_retain,
            split.y_retain,
            epochs=self.epochs,
            batch_size=self.batch_size,
            optimizer=optimizer,
            seed=derive_seed(seed, "finetune"),
            verbose=verbose,
            desc="finetune",
        )
        return model
