"""Small building blocks shared by the unlearning methods.

Every loop here is seeded through an explicit ``torch.Generator``, so a method that uses them is
deterministic given its ``seed``. Methods build their own losses; these helpers only cover the
parts that recur: picking a retain subset, iterating retain batches with a cycled forget set,
running a plain epoch loop, soft-label (distillation) losses and the optimiser.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import ClassVar, Protocol

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from labelleak.device import CPU_INFERENCE_BATCH, module_device
from labelleak.models.training import batches, predict_logits
from labelleak.seeding import derive_seed
from labelleak.unlearning.base import ForgetSplit
from labelleak.validation import check_choice, check_number

#: optimisers an unlearning method may ask for
OPTIMIZERS = ("sgd", "adam")
#: where random labels are drawn from: the retained classes only, or all K
LABEL_POOLS = ("retained", "all")
#: which forget samples an ascent climbs: "correct", the samples θ still classifies as their class;
#: "all", every sample (the reference NegGrad and NegGrad+)
ASCEND_ON = ("correct", "all")


class StepOptimizer(Protocol):
    """What the training loops call on an optimiser: a torch one, or SalUn's masking wrapper."""

    def zero_grad(self, set_to_none: bool = True) -> None: ...

    def step(self) -> None: ...


def make_unlearn_optimizer(
    params: Iterable[torch.nn.Parameter], *, name: str, lr: float, momentum: float = 0.9, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    """SGD (with ``momentum``) or Adam, as the unlearning papers' code uses them.

    ``momentum`` is ignored by Adam. Weight decay is the coupled L2 form for both, which is what
    the reference implementations (PyTorch ``SGD``/``Adam`` with ``weight_decay``) apply.
    """
    check_choice("optimizer", name, OPTIMIZERS)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


class OptimizerOptions:
    """Mixin of the methods trained by one optimiser: validates its options and builds it.

    ``lr`` and ``optimizer`` are always parameters; ``momentum`` and ``weight_decay`` only of the
    methods that expose them (the others get SGD's momentum 0.9 and no weight decay, as their
    reference code does).
    """

    lr: float
    optimizer: str

    def _set_optimizer_options(
        self, *, lr: float, optimizer: str, momentum: float | None = None, weight_decay: float | None = None
    ) -> None:
        self.lr = check_number("lr", lr, low=0, low_inclusive=False)
        self.optimizer = check_choice("optimizer", optimizer, OPTIMIZERS)
        if momentum is not None:
            self.momentum = check_number("momentum", momentum, low=0, high=1, high_inclusive=False)
        if weight_decay is not None:
            self.weight_decay = check_number("weight_decay", weight_decay, low=0)

    def _build_optimizer(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return make_unlearn_optimizer(
            params,
            name=self.optimizer,
            lr=self.lr,
            momentum=getattr(self, "momentum", 0.9),
            weight_decay=getattr(self, "weight_decay", 0.0),
        )


def retain_subset(split: ForgetSplit, *, per_class: int | None, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """At most ``per_class`` random retain samples of each retained class (all of D_r when ``None``).

    Several methods (UNSIR, Bad Teacher, SSD-style repair) only need a sample of D_r; drawing it
    per class keeps every retained class represented however imbalanced D_r is.
    """
    if per_class is None:
        return split.x_retain, split.y_retain
    generator = torch.Generator().manual_seed(seed)
    keep = []
    for k in torch.unique(split.y_retain).tolist():
        idx = torch.nonzero(split.y_retain == k).flatten()
        keep.append(idx[torch.randperm(len(idx), generator=generator)[:per_class]])
    order = torch.cat(keep).sort().values
    return split.x_retain[order], split.y_retain[order]


def cycled_batches(
    n_main: int, n_side: int, *, batch_size: int, side_batch_size: int, generator: torch.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One shuffled epoch over ``n_main`` samples, each batch paired with a batch of a cycled side set.

    The side set (typically D_f, much smaller than D_r) is reshuffled every time it is exhausted,
    so every main batch gets a full side batch. Yields (main indices, side indices).
    """
    if n_side == 0:
        raise ValueError("the side set of cycled_batches is empty")
    side: Iterator[torch.Tensor] = iter(())
    for main_idx in batches(n_main, batch_size, generator=generator):
        side_idx = next(side, None)
        if side_idx is None or len(side_idx) < min(side_batch_size, n_side):
            side = iter(batches(n_side, side_batch_size, generator=generator))
            side_idx = next(side)
        yield main_idx, side_idx


def run_epochs(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    optimizer: StepOptimizer,
    seed: int,
    loss_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    max_grad_norm: float | None = None,
    stop: Callable[[], bool] | None = None,
    check_every: int | None = None,
    verbose: bool = False,
    desc: str = "unlearn",
) -> int:
    """Mini-batch training of ``model`` on (x, y) for ``epochs`` shuffled epochs; returns the steps taken.

    Each batch is moved to the model's device (``x`` and ``y`` may stay on the CPU).

    Args:
        loss_fn: ``loss_fn(logits, y_batch, x_batch) -> scalar`` to *minimise*; default cross-entropy.
            Gradient ascent passes the negated loss.
        max_grad_norm: clip the global gradient norm (guards unbounded objectives).
        stop: checked after every epoch (and every ``check_every`` steps when given); training
            ends early when it returns True (e.g. once the forget-train accuracy reaches a target).
    """
    loss_fn = loss_fn or (lambda logits, yb, xb: F.cross_entropy(logits, yb))
    generator = torch.Generator().manual_seed(seed)
    device = module_device(model)
    per_epoch = (len(x) + batch_size - 1) // batch_size
    steps = 0
    model.train()
    with tqdm(total=epochs * per_epoch, desc=desc, disable=not verbose, leave=False) as bar:
        for _ in range(epochs):
            for idx in batches(len(x), batch_size, generator=generator):
                xb = x[idx].to(device)
                loss = loss_fn(model(xb), y[idx].to(device), xb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if max_grad_norm is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
                optimizer.step()
                steps += 1
                bar.update()
                bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
                if stop is not None and check_every is not None and steps % check_every == 0 and stop():
                    model.eval()
                    return steps
            if stop is not None and stop():
                break
    model.eval()
    return steps


def soft_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, *, temperature: float = 1.0) -> torch.Tensor:
    """KL(softmax(teacher/T) ‖ softmax(student/T)) averaged over the batch, scaled by T² as in Hinton et al."""
    log_student = F.log_softmax(student_logits / temperature, dim=1)
    log_teacher = F.log_softmax(teacher_logits / temperature, dim=1)
    return F.kl_div(log_student, log_teacher, reduction="batchmean", log_target=True) * temperature**2


class ForgetTrainStop:
    """Early-stopping rule of the ascent methods: the forget-*train* accuracy is at most ``threshold``.

    Only training data decide the stop. The accuracy is measured on a fixed random sample of
    ``sample_size`` forget-train samples (all of D_f when ``None`` or when D_f is smaller): checked
    every few steps on the whole of D_f, the rule cost more than the ascent itself (6 000 forward
    passes per check on a Fashion-MNIST class), and at 1 024 samples the estimate's standard error
    near a 5% threshold is about 0.7 points.
    """

    #: samples per forward pass of a check: the CPU's inference batch, small enough that a check
    #: which the first chunks decide stops early
    chunk = CPU_INFERENCE_BATCH

    def __init__(self, split: ForgetSplit, *, threshold: float, sample_size: int | None, seed: int) -> None:
        self.threshold = threshold
        self.x, self.y = split.x_forget, split.y_forget
        if sample_size is not None and sample_size < len(self.y):
            pick = torch.randperm(len(self.y), generator=torch.Generator().manual_seed(seed))[:sample_size]
            self.x, self.y = self.x[pick], self.y[pick]

    def __call__(self, model: nn.Module) -> bool:
        # Read in chunks and stop at the first one that already puts the correct predictions clearly past
        # the threshold (a margin of one sample, so float rounding cannot make it a pass): the answer
        # is that of one pass over the sample, and while D_f is still remembered (most checks of an
        # ascent) a chunk or two decides it.
        correct = 0
        for start in range(0, len(self.y), self.chunk):
            logits = predict_logits(model, self.x[start : start + self.chunk])
            correct += int((logits.argmax(1) == self.y[start : start + self.chunk]).sum())
            if correct > self.threshold * len(self.y) + 1:
                return False
        # the accuracy exactly as models.training.accuracy computes it (a float32 mean)
        return (torch.tensor(float(correct)) / len(self.y)).item() <= self.threshold


def ascent_loss(logits: torch.Tensor, y: torch.Tensor, *, ascend_on: str) -> torch.Tensor:
    """The loss to minimise: minus the cross-entropy of the forget samples chosen by ``ascend_on``.

    With "correct", a batch the model already misclassifies entirely gives a zero loss and no
    gradient.
    """
    if ascend_on == "all":
        return -F.cross_entropy(logits, y)
    still_known = (logits.argmax(dim=1) == y).float()
    losses = F.cross_entropy(logits, y, reduction="none")
    return -(losses * still_known).sum() / still_known.sum().clamp(min=1.0)


class AscentStopOptions:
    """Mixin of the methods that ascend the forget loss (Gradient Ascent, NegGrad+).

    The ascent objective is unbounded, so these methods clip the gradient norm and stop early on
    the forget-*train* accuracy (:class:`ForgetTrainStop`); this validates those options.
    """

    name: ClassVar[str]

    def _set_stop_options(
        self, *, max_grad_norm: float, stop_below: float | None, check_every: int, check_samples: int | None
    ) -> None:
        self.max_grad_norm = check_number("max_grad_norm", max_grad_norm, low=0, low_inclusive=False)
        self.stop_below = None if stop_below is None else check_number("stop_below", stop_below, low=0, high=1)
        self.check_every = check_number("check_every", check_every, low=1, integer=True)
        if check_samples is not None:
            check_number("check_samples", check_samples, low=1, integer=True)
        self.check_samples = check_samples

    def _stop_rule(self, split: ForgetSplit, *, seed: int) -> ForgetTrainStop | None:
        """The stopping rule of one run (None when ``stop_below`` is None)."""
        if self.stop_below is None:
            return None
        return ForgetTrainStop(
            split, threshold=self.stop_below, sample_size=self.check_samples, seed=derive_seed(seed, self.name, "stop")
        )


def random_label_rounds(
    model: nn.Module,
    split: ForgetSplit,
    *,
    optimizer: StepOptimizer,
    epochs: int,
    batch_size: int,
    label_pool: str,
    seed: int,
    tag: str,
    verbose: bool = False,
) -> None:
    """Random Labels' training loop, shared with SalUn (which only masks the optimiser's steps).

    D_f gets one fixed draw of random labels (avoiding the forgotten classes when ``label_pool`` is
    "retained"); every round is one pass over D_f with those labels, then one pass over D_r. All
    seeds derive from ``seed`` and ``tag`` (the method's name).
    """
    generator = torch.Generator().manual_seed(derive_seed(seed, tag, "labels"))
    exclude = split.forget_classes if label_pool == "retained" else ()
    y_random = random_other_labels(split.y_forget, split.num_classes, exclude=exclude, generator=generator)
    label = tag.replace("_", " ")
    for epoch in range(epochs):
        run_epochs(
            model,
            split.x_forget,
            y_random,
            epochs=1,
            batch_size=batch_size,
            optimizer=optimizer,
            seed=derive_seed(seed, tag, "forget", epoch),
            verbose=verbose,
            desc=f"{label} {epoch + 1}/{epochs} (forget)",
        )
        run_epochs(
            model,
            split.x_retain,
            split.y_retain,
            epochs=1,
            batch_size=batch_size,
            optimizer=optimizer,
            seed=derive_seed(seed, tag, "retain", epoch),
            verbose=verbose,
            desc=f"{label} {epoch + 1}/{epochs} (retain)",
        )


def random_other_labels(
    y: torch.Tensor, num_classes: int, *, exclude: Iterable[int], generator: torch.Generator
) -> torch.Tensor:
    """For each label, a uniformly random class that is not in ``exclude`` (the forgotten classes)."""
    allowed = torch.tensor([k for k in range(num_classes) if k not in set(exclude)])
    if len(allowed) == 0:
        raise ValueError("no class left to relabel into")
    return allowed[torch.randint(len(allowed), (len(y),), generator=generator)]
