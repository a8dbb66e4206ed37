"""SCRUB (Kurmanji et al., "Towards Unbounded Machine Unlearning", NeurIPS 2023).

The student starts at θ_o and θ_o stays frozen as the teacher. With
d(x) = T²·KL(softmax(f_o(x)/T) ‖ softmax(f_u(x)/T)), every epoch first runs a *max* pass over
D_f that minimises −d (pushes the student away from the teacher on the forget set; only during
the first ``max_steps`` epochs), then a *min* pass over the retain set that minimises
γ·CE + α·d (stays close to the teacher and correct on the retained classes).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from labelleak.models import Classifier, TrainConfig, predict_logits
from labelleak.seeding import derive_seed
from labelleak.unlearning.base import UNLEARNERS, ForgetSplit, Unlearner
from labelleak.unlearning.common import OptimizerOptions, retain_subset, run_epochs, soft_kl
from labelleak.validation import ParameterError, check_number


@UNLEARNERS.register("scrub")
class Scrub(OptimizerOptions, Unlearner):
    """Alternate max passes on D_f (diverge from θ_o) and min passes on D_r (CE + stay close to θ_o).

    Source defaults (meghdadk/SCRUB, large-scale CIFAR-10 ResNet configuration): SGD lr 5e-4,
    momentum 0.9, weight decay 5e-4, γ = 0.99, α = 0.001, T = 4, max steps 2, 3 epochs, forget
    batch 512, retain batch 256, retain pass over all of D_r. Kept: γ, α, T, max steps 2,
    3 epochs, both batch sizes, momentum and weight decay. Scaled: the min pass uses a random
    sample of ``retain_per_class`` samples of each retained class instead of all of D_r (three
    full passes would cost about three epochs of θ_o's training), and SGD lr 2e-4 instead of
    5e-4: with the smaller min pass the max passes dominate (measured behaviour:
    docs/unlearning.md). The max passes make SCRUB a cliff: a small change of lr or max_steps flips
    it between no forgetting and collapse.
    Teacher logits are computed once, in ``eval()`` mode, because the teacher never changes.
    """

    name = "scrub"
    summary = "teacher-student: diverge from the original on D_f, stay close on D_r (SCRUB)"
    uses = frozenset({"forget", "retain"})

    def __init__(
        self,
        *,
        epochs: int = 3,
        max_steps: int = 2,
        lr: float = 2e-4,
        gamma: float = 0.99,
        alpha: float = 0.001,
        temperature: float = 4.0,
        batch_size: int = 256,
        forget_batch_size: int = 512,
        retain_per_class: int | None = 1000,
        optimizer: str = "sgd",
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
    ) -> None:
        """
        Args:
            epochs: rounds of (max pass if the round is among the first ``max_steps``, min pass).
            max_steps: number of rounds that include a max pass over D_f (≤ epochs).
            lr: learning rate.
            gamma: weight γ of the retain cross-entropy.
            alpha: weight α of the retain distillation term.
            temperature: distillation temperature T > 0.
            batch_size: retain (min pass) mini-batch size.
            forget_batch_size: forget (max pass) mini-batch size.
            retain_per_class: retain samples per retained class in the min pass; None: all of D_r.
            optimizer: "sgd" or "adam".
            momentum: SGD momentum.
            weight_decay: L2 penalty.
        """
        self.epochs = check_number("epochs", epochs, low=1, integer=True)
        self.max_steps = check_number("max_steps", max_steps, low=0, integer=True)
        if self.max_steps > self.epochs:
            raise ParameterError(f"max_steps must be <= epochs ({self.epochs}), got {max_steps!r}")
        self._set_optimizer_options(lr=lr, optimizer=optimizer, momentum=momentum, weight_decay=weight_decay)
        self.gamma = check_number("gamma", gamma, low=0)
        self.alpha = check_number("alpha", alpha, low=0)
        self.temperature = check_number("temperature", temperature, low=0, low_inclusive=False)
        self.batch_size = check_number("batch_size", batch_size, low=1, integer=True)
        self.forget_batch_size = check_number("forget_batch_size", forget_batch_size, low=1, integer=True)
        if retain_per_class is not None:
            check_number("retain_per_class", retain_per_class, low=1, integer=True)
        self.retain_per_class = retain_per_class

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
        x_keep, y_keep = retain_subset(
            split, per_class=self.retain_per_class, seed=derive_seed(seed, "scrub", "retain")
        )
        teacher_forget = predict_logits(original, split.x_forget)
        # the teacher's logits ride along as extra label columns, so run_epochs shuffles them with x
        retain_targets = torch.cat([predict_logits(original, x_keep), y_keep.unsqueeze(1).float()], dim=1)
        k = split.num_classes

        def max_loss(logits: torch.Tensor, teacher: torch.Tensor, xb: torch.Tensor) -> torch.Tensor:
            return -soft_kl(logits, teacher, temperature=self.temperature)

        def min_loss(logits: torch.Tensor, target: torch.Tensor, xb: torch.Tensor) -> torch.Tensor:
            ce = F.cross_entropy(logits, target[:, k].long())
            return self.gamma * ce + self.alpha * soft_kl(logits, target[:, :k], temperature=self.temperature)

        optimizer = self._build_optimizer(model.parameters())
        for epoch in range(self.epochs):
            if epoch < self.max_steps:
                run_epochs(
                    model,
                    split.x_forget,
                    teacher_forget,
                    epochs=1,
                    batch_size=self.forget_batch_size,
                    optimizer=optimizer,
                    seed=derive_seed(seed, "scrub", "max", epoch),
                    loss_fn=max_loss,
                    verbose=verbose,
                    desc=f"scrub {epoch + 1}/{self.epochs} (max)",
                )
            run_epochs(
                model,
                x_keep,
                retain_targets,
                epochs=1,
                batch_size=self.batch_size,
                optimizer=optimizer,
                seed=derive_seed(seed, "scrub", "min", epoch),
                loss_fn=min_loss,
                verbose=verbose,
                desc=f"scrub {epoch + 1}/{self.epochs} (min)",
            )
        return model
