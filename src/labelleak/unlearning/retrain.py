"""Retrain from scratch on D_r: exact unlearning, the reference every other method is compared with."""

from __future__ import annotations

from labelleak.device import module_device
from labelleak.models import Classifier, TrainConfig, build_model, train
from labelleak.seeding import derive_seed
from labelleak.unlearning.base import UNLEARNERS, ForgetSplit, Unlearner
from labelleak.validation import check_number


@UNLEARNERS.register("retrain")
class Retrain(Unlearner):
    """θ_u = a fresh model of θ_o's architecture trained on D_r with θ_o's own recipe.

    The initialisation and batch order derive from the unlearning seed, so Retrain with seed s is
    not θ_o's run minus D_f but an independent draw (as in the SalUn and SSD reference code, which
    re-initialise). Nothing is scaled: the recipe is exactly the one θ_o was trained with, unless
    ``epochs`` overrides its number of epochs.

    Even exact retraining leaks the class: the head row of a forgotten class only ever receives
    push-down gradients, so it is never predicted (see docs/parameter_attacks.md).
    """

    name = "retrain"
    summary = "exact unlearning: a fresh model trained on the retain set with the original recipe"
    uses = frozenset({"retain"})

    def __init__(self, *, epochs: int | None = None) -> None:
        """Args:
        epochs: number of training epochs; ``None`` uses the original model's recipe.
        """
        if epochs is not None:
            check_number("epochs", epochs, low=1, integer=True)
        self.epochs = epochs

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
        if self.epochs is not None:
            recipe = TrainConfig(**{**recipe.to_dict(), "epochs": self.epochs})
        fresh = build_model(model.spec, seed=derive_seed(seed, "retrain", "init")).to(module_device(model))
        return train(
            fresh,
            split.x_retain,
            split.y_retain,
            config=recipe,
            seed=derive_seed(seed, "retrain", "batches"),
            verbose=verbose,
            desc="retrain",
        )
