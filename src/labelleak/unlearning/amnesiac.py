"""Amnesiac (relabelling recipe): D_f relabelled among the other classes, merged with D_r, trained jointly.

Not to be confused with :mod:`labelleak.unlearning.amnesiac_updates`, Graves et al.'s method of
subtracting recorded parameter updates.
"""

from __future__ import annotations

import torch

from labelleak.models import Classifier, TrainConfig
from labelleak.seeding import derive_seed
from labelleak.unlearning.base import UNLEARNERS, ForgetSplit, Unlearner
from labelleak.unlearning.common import OptimizerOptions, random_other_labels, run_epochs
from labelleak.validation import check_number


@UNLEARNERS.register("amnesiac")
class Amnesiac(OptimizerOptions, Unlearner):
    """Relabel D_f uniformly among the classes that are not forgotten, merge it with D_r, train.

    This is the recipe that the class-unlearning codebases call ``amnesiac``: Chundawat et al.,
    "Can Bad Teaching Induce Forgetting?" (AAAI 2023, vikram2000b/bad-teaching-unlearning) and
    Foster et al., "Selective Synaptic Dampening" (AAAI 2024, if-loops/selective-synaptic-dampening,
    ``src/forget_full_class_strategies.py`` ``amnesiac``). Each forget sample gets one random label
    drawn once from the K−1 other classes; the relabelled D_f and D_r form one shuffled training
    set, trained for 3 epochs with Adam lr 1e-4, batch 128, no weight decay
    (``fit_one_unlearning_cycle``). The name comes from Graves et al., "Amnesiac Machine Learning"
    (AAAI 2021), whose relabelling baseline this is; their update-subtraction method is
    ``amnesiac_updates``.

    With several forgotten classes the labels avoid all of them (the SSD code removes the forget
    class from the label pool). Unlike ``random_labels`` (SalUn's form: per epoch one pass over D_f,
    then a separate pass over D_r, SGD lr 0.01) the relabelled samples are mixed into the retain
    batches. Scaled: nothing, the defaults are the codebases' own; on small datasets (digits: 1,347 images, 33
    steps in all) they barely move the model, so per-dataset defaults apply there
    (``labelleak/unlearning/defaults.json``).
    """

    name = "amnesiac"
    summary = "relabel the forget set among the other classes and train on it mixed with the retain set"
    uses = frozenset({"forget", "retain"})

    def __init__(
        self,
        *,
        epochs: int = 3,
        lr: float = 1e-4,
        batch_size: int = 128,
        optimizer: str = "adam",
        weight_decay: float = 0.0,
    ) -> None:
        """Args:
        epochs: passes over the merged set (relabelled D_f plus D_r).
        lr: learning rate.
        batch_size: mini-batch size.
        optimizer: "adam" (the codebases') or "sgd" (momentum 0.9).
        weight_decay: L2 penalty.
        """
        self.epochs = check_number("epochs", epochs, low=1, integer=True)
        self._set_optimizer_options(lr=lr, optimizer=optimizer, weight_decay=weight_decay)
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
        generator = torch.Generator().manual_seed(derive_seed(seed, self.name, "labels"))
        y_random = random_other_labels(
            split.y_forget, split.num_classes, exclude=split.forget_classes, generator=generator
        )
        x = torch.cat([split.x_forget, split.x_retain])
        y = torch.cat([y_random, split.y_retain])
        run_epochs(
            model,
            x,
            y,
            epochs=self.epochs,
            batch_size=self.batch_size,
            optimizer=self._build_optimizer(model.parameters()),
            seed=derive_seed(seed, self.name, "train"),
            verbose=verbose,
            desc="amnesiac",
        )
        return model
