"""Random Labels: relabel the forget set at random and train on it together with the retain set."""

from __future__ import annotations

from labelleak.models import Classifier, TrainConfig
from labelleak.unlearning.base import UNLEARNERS, ForgetSplit, Unlearner
from labelleak.unlearning.common import LABEL_POOLS, OptimizerOptions, random_label_rounds
from labelleak.validation import check_choice, check_number


@UNLEARNERS.register("random_labels")
class RandomLabels(OptimizerOptions, Unlearner):
    """Each epoch: one pass over D_f with random labels, then one pass over D_r with true labels.

    This is the SalUn code's two-pass form for ten-class datasets (10 epochs, SGD lr 0.01,
    momentum 0.9, wd 5e-4 on CIFAR ResNet-18). SalUn draws the random labels from all K classes,
    so a forget sample keeps its true label with probability 1/K; with one class forgotten out of
    ten this alone keeps the forget accuracy near 10%. The default ``label_pool="retained"``
    draws only from the retained classes, as Amnesiac unlearning does; ``"all"`` restores SalUn's
    choice. Labels are drawn once per run. Scaled here: 1 epoch (D_f + D_r is one pass over the
    training set, within the two-epoch cost goal), SGD lr 0.01.
    """

    name = "random_labels"
    summary = "train on the forget set with random labels plus the retain set with true labels"
    uses = frozenset({"forget", "retain"})

    def __init__(
        self,
        *,
        epochs: int = 1,
        lr: float = 0.01,
        batch_size: int = 128,
        optimizer: str = "sgd",
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        label_pool: str = "retained",
    ) -> None:
        """Args:
        epochs: number of (forget pass, retain pass) rounds.
        lr: learning rate.
        batch_size: mini-batch size.
        optimizer: "sgd" or "adam".
        momentum: SGD momentum.
        weight_decay: L2 penalty.
        label_pool: "retained" (random labels avoid the forgotten classes) or "all".
        """
        self.epochs = check_number("epochs", epochs, low=1, integer=True)
        self._set_optimizer_options(lr=lr, optimizer=optimizer, momentum=momentum, weight_decay=weight_decay)
        self.batch_size = check_number("batch_size", batch_size, low=1, integer=True)
        self.label_pool = check_choice("label_pool", label_pool, LABEL_POOLS)

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
        random_label_rounds(
            model,
            split,
            optimizer=self._build_optimizer(model.parameters()),
            epochs=self.epochs,
            batch_size=self.batch_size,
            label_pool=self.label_pool,
            seed=seed,
            tag=self.name,
            verbose=verbose,
        )
        return model
