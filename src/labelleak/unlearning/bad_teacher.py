"""Bad Teacher / incompetent teacher (Chundawat et al., AAAI 2023).

The student starts at θ_o and is distilled from two teachers at once: on forget samples it
imitates a randomly initialised copy of the architecture (the incompetent teacher), on a random
sample of the retain set it imitates θ_o (the competent teacher). Minimises
KL(t ‖ softmax(student(x)/τ)) with t = softmax(teacher(x)/τ) of the sample's teacher.
"""

from __future__ import annotations

import torch

from labelleak.device import module_device
from labelleak.models import Classifier, TrainConfig, build_model, predict_logits
from labelleak.seeding import derive_seed
from labelleak.unlearning.base import UNLEARNERS, ForgetSplit, Unlearner
from labelleak.unlearning.common import (
    OptimizerOptions,
    retain_subset,
    run_epochs,
    soft_kl,
)
from labelleak.validation import check_number


@UNLEARNERS.register("bad_teacher")
class BadTeacher(OptimizerOptions, Unlearner):
    """Distil from a random "incompetent" teacher on D_f and from θ_o on a sample of D_r.

    Source defaults (vikram2000b/bad-teaching-unlearning, also the SSD repository's ``blindspot``):
    τ = 1, Adam lr 1e-4, 1 epoch, batch 256, all of D_f plus a random 30 % of D_r; the incompetent
    teacher is a freshly initialised model of the same architecture. Kept: τ = 1, 1 epoch, batch
    256, 30 % of D_r (drawn per retained class), the incompetent teacher. Scaled: Adam lr 1e-3
    instead of 1e-4, θ_o's own training rate, because one epoch at 1e-4 forgets less and both rates
    keep the retained classes' accuracy (measured behaviour: docs/unlearning.md). The reference
    code averages ``F.kl_div`` over batch × K; here the KL is averaged over the batch only, a
    constant factor that Adam's step size does not see. Both teachers are fixed, so their logits
    are computed once, in ``eval()`` mode.
    """

    name = "bad_teacher"
    summary = "distil a random teacher on the forget set and the original on the retain set"
    uses = frozenset({"forget", "retain"})

    def __init__(
        self,
        *,
        epochs: int = 1,
        lr: float = 1e-3,
        temperature: float = 1.0,
        retain_fraction: float = 0.3,
        batch_size: int = 256,
        optimizer: str = "adam",
    ) -> None:
        """
        Args:
            epochs: passes over D_f plus the retain sample.
            lr: learning rate.
            temperature: distillation temperature τ > 0.
            retain_fraction: fraction of D_r (per retained class) distilled from θ_o, in (0, 1].
            batch_size: mini-batch size.
            optimizer: "adam" (reference) or "sgd".
        """
        self.epochs = check_number("epochs", epochs, low=1, integer=True)
        self._set_optimizer_options(lr=lr, optimizer=optimizer)
        self.temperature = check_number("temperature", temperature, low=0, low_inclusive=False)
        self.retain_fraction = check_number("retain_fraction", retain_fraction, low=0, high=1, low_inclusive=False)
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
        retained = len(torch.unique(split.y_retain))
        per_class = max(1, round(self.retain_fraction * len(split.y_retain) / retained))
        x_keep, _ = retain_subset(split, per_class=per_class, seed=derive_seed(seed, "bad_teacher", "retain"))
        incompetent = build_model(original.spec, seed=derive_seed(seed, "bad_teacher", "teacher")).to(
            module_device(model)
        )
        x = torch.cat([split.x_forget, x_keep])
        targets = torch.cat([predict_logits(incompetent, split.x_forget), predict_logits(original, x_keep)])
        optimizer = self._build_optimizer(model.parameters())
        run_epochs(
            model,
            x,
            targets,
            epochs=self.epochs,
            batch_size=self.batch_size,
            optimizer=optimizer,
            seed=derive_seed(seed, "bad_teacher", "order"),
            loss_fn=lambda logits, t, xb: soft_kl(logits, t, temperature=self.temperature),
            verbose=verbose,
            desc="bad teacher",
        )
        return model
