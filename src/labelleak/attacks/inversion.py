"""White-box model inversion (A-gradients): synthesise a prototype per class, read Ĉ off them.

For every class k the attack maximises log p_k(x) over inputs x ∈ [0, 1]^{C×H×W} (Zheng et al.,
arXiv 2604.07386, 2026; MI-Face style, Fredrikson et al., CCS 2015): Adam on an unconstrained z with x = sigmoid(z) (the box constraint without
projection), plus small total-variation and L2 priors. All K classes — and ``restarts`` starts per
class — form ONE batch, so each step is one forward/backward through
:meth:`~labelleak.access.GradientAccess.log_probs`; the per-sample loss is a sum, so every
prototype's gradient depends on its own input only and batching changes nothing but speed.

Why a trajectory and not just the end point: after many steps adversarial inputs drive almost
every class, the forgotten one included, to p ≈ 1; the forgotten class lags *early*
(measured in docs/inversion_attacks.md). So the run records, at several step counts, each class's best-so-far confidence
and its prototype's prediction profile, plus the step at which each confidence level was first
reached; the criterion reads the record at ``read_step`` (a small budget by default), or at the
checkpoint an :class:`~labelleak.attacks.criteria.InversionCalibration` fitted on shadow models
chose.

BatchNorm-statistics priors (DeepInversion, Yin et al., CVPR 2020) are not offered: they need the
BN running statistics, i.e. the model's buffers, which the gradients view deliberately hides, and
with weights access they did not change which classes invert last on the foreign BatchNorm models
measured in docs/audit.md ("the zoo"). Per-class difficulty is handled instead by shadow calibration.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from labelleak.access import GradientAccess
from labelleak.attacks.base import ATTACKS, AttackerKnowledge
from labelleak.attacks.criteria import (
    CRITERIA,
    REFERENCES,
    SET_DECISIONS,
    InversionAttack,
    InversionRun,
    check_checkpoint_choice,
    make_criterion,
)
from labelleak.seeding import derive_seed
from labelleak.validation import ParameterError, check_choice, check_number

logger = logging.getLogger(__name__)

STARTS = ("zeros", "grey", "noise", "mixed")
#: the start of restart r under "mixed": different starts fail on different classes, a forgotten class on all
_MIXED = ("grey", "zeros", "noise")
DEFAULT_LEVELS = (0.5, 0.9, 0.99)
#: checkpoint step counts recorded when the caller gives none (those within the step budget)
DEFAULT_CHECKPOINTS = (1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 500, 1000, 2000, 5000)
#: starts are pulled this far inside (0, 1) so that sigmoid's inverse stays finite
_EDGE = 0.02


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared difference of horizontally and vertically adjacent pixels, (N,)."""
    dh = (x[..., 1:, :] - x[..., :-1, :]).pow(2).flatten(1).mean(1)
    dw = (x[..., :, 1:] - x[..., :, :-1]).pow(2).flatten(1).mean(1)
    return dh + dw


def start_inputs(
    start: str, *, classes: Sequence[int], restarts: int, input_shape: Sequence[int], seed: int, salt: str
) -> torch.Tensor:
    """Initial inputs for (class, restart) pairs, class-major; noise is seeded per pair so that a
    class gets the same start whether it is optimised alone or in a batch."""
    shape = tuple(input_shape)
    if start == "mixed":
        per_restart = [
            start_inputs(
                _MIXED[r % len(_MIXED)],
                classes=classes,
                restarts=1,
                input_shape=shape,
                seed=derive_seed(seed, r),
                salt=salt,
            )
            for r in range(restarts)
        ]
        return torch.stack(per_restart, dim=1).flatten(0, 1)
    if start == "zeros":
        return torch.full((len(classes) * restarts, *shape), _EDGE)
    if start == "grey":
        return torch.full((len(classes) * restarts, *shape), 0.5)
    draws = []
    for k in classes:
        for r in range(restarts):
            generator = torch.Generator().manual_seed(derive_seed(seed, salt, int(k), r))
            draws.append(torch.rand(shape, generator=generator))
    return torch.stack(draws).clamp(_EDGE, 1 - _EDGE)


def _checkpoints_within(checkpoints: Sequence[int] | None, budget: int) -> np.ndarray:
    chosen = sorted({int(c) for c in (checkpoints or DEFAULT_CHECKPOINTS) if 1 <= int(c) <= budget} | {budget})
    return np.asarray(chosen, dtype=np.int64)


def invert_gradients(
    access: GradientAccess,
    *,
    classes: Sequence[int] | None = None,
    steps: int = 100,
    lr: float = 0.1,
    restarts: int = 1,
    start: str = "grey",
    tv: float = 0.01,
    l2: float = 0.001,
    seed: int = 0,
    checkpoints: Sequence[int] | None = None,
    levels: Sequence[float] = DEFAULT_LEVELS,
    verbose: bool = False,
) -> InversionRun:
    """Optimise one prototype per class in ``classes`` (default: all) through ``access``.

    Args:
        access: a gradients (or weights) view of the target; every input evaluated is charged.
        classes: the classes to invert; the run's rows follow this order.
        steps: gradient evaluations per prototype (the step budget).
        lr: Adam learning rate on z, where x = sigmoid(z).
        restarts: starts per class, optimised in the same batch; the best (highest p_k) counts.
        start: "zeros", "grey", "noise" (uniform, seeded per class and restart) or "mixed"
            (restart r starts from grey, zeros, noise, noise, ... in turn).
        tv, l2: weights of the total-variation and L2 priors (per-image means, so independent of size).
        seed: seeds the noise start.
        checkpoints: step counts at which to record confidences and profiles (``steps`` is always one).
        levels: confidence levels whose first-crossing step is recorded.
        verbose: progress bar.

    Returns:
        An :class:`InversionRun` with unit "steps"; ``profiles`` rows are length ``num_classes``.
    """
    num_classes = access.num_classes
    classes = list(range(num_classes)) if classes is None else [int(c) for c in classes]
    n = len(classes)
    marks = _checkpoints_within(checkpoints, steps)
    x0 = start_inputs(
        start, classes=classes, restarts=restarts, input_shape=access.input_shape, seed=seed, salt="invert-wb"
    )
    z = torch.logit(x0).requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr)
    target = torch.tensor(classes).repeat_interleave(restarts)
    rows = torch.arange(n * restarts)

    best_conf = torch.full((n,), -1.0)
    best_x = x0.view(n, restarts, *x0.shape[1:])[:, 0].clone()
    best_profile = torch.zeros(n, num_classes)
    first = {float(level): np.full(n, -1, dtype=np.int64) for level in levels}
    confidence = np.zeros((len(marks), n))
    profiles = np.zeros((len(marks), n, num_classes))
    queries_before = access.queries_used
    mark = 0
    for step in tqdm(range(1, steps + 1), desc="invert-wb", disable=not verbose, leave=False):
        x = torch.sigmoid(z)
        log_probs = access.log_probs(x)
        picked = log_probs[rows, target]
        with torch.no_grad():
            conf = picked.exp().view(n, restarts)
            step_best, which = conf.max(dim=1)
            improved = step_best > best_conf
            if improved.any():
                chosen = torch.arange(n) * restarts + which
                best_conf = torch.where(improved, step_best, best_conf)
                best_x[improved] = x[chosen][improved].detach()
                best_profile[improved] = log_probs[chosen][improved].exp()
            for level, at in first.items():
                at[(at < 0) & (best_conf >= level).numpy()] = step
            if step == marks[mark]:
                confidence[mark] = best_conf.numpy()
                profiles[mark] = best_profile.numpy()
                mark += 1
        if step == steps:
            break
        loss = -picked.sum() + tv * total_variation(x).sum() + l2 * x.pow(2).flatten(1).mean(1).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return InversionRun(
        unit="steps",
        checkpoints=marks,
        confidence=confidence,
        profiles=profiles,
        prototypes=best_x,
        first_crossing=first,
        queries=access.queries_used - queries_before,
    )


@ATTACKS.register("invert-wb")
class WhiteBoxInversion(InversionAttack):
    """White-box inversion attack (A-gradients): per-class prototypes by gradient ascent, then the
    threshold or entropy criterion (see :mod:`labelleak.attacks.criteria`).

    The criterion reads the run at ``read_step`` gradient steps (the forgotten class lags early),
    or at the checkpoint chosen by :meth:`calibrate` on shadow runs. Artifacts: ``prototypes`` (K, C, H, W),
    ``run`` (the full :class:`~labelleak.attacks.criteria.InversionRun`), ``trajectory`` (its JSON
    summary), ``read_step``, ``confidence`` and ``profiles`` at the read step.
    """

    name = "invert-wb"
    requires = "gradients"
    counts_queries = True

    def __init__(
        self,
        *,
        criterion: str = "threshold",
        steps: int = 100,
        read_step: int | Literal["auto"] = "auto",
        read_level: float = 0.9,
        lr: float = 0.1,
        restarts: int = 1,
        start: str = "grey",
        tv: float = 0.01,
        l2: float = 0.001,
        tau: float = 0.5,
        z: float = 3.5,
        levels: Sequence[float] = DEFAULT_LEVELS,
        checkpoints: Sequence[int] | None = None,
        reference: str = "shadows",
        set_decision: str = "cut",
        checkpoint_choice: str = "pooled",
        seed: int = 0,
        verbose: bool = False,
    ) -> None:
        """
        Args:
            criterion: "threshold" (best p_k < ``tau`` ⇒ forgotten) or "entropy" (robust z-score
                of H(p(x_k)) above ``z`` ⇒ forgotten).
            steps: step budget of the optimisation (recorded trajectory length).
            read_step: the step count at which the criterion reads the run (≤ ``steps``), or "auto":
                the first checkpoint at which the *median* class confidence reaches ``read_level`` —
                the typical class has inverted, a lagging class has not yet (data-free: it uses
                no label and adapts the budget to how easily this target inverts).
            read_level: the median confidence that "auto" waits for.
            lr, restarts, start, tv, l2: optimisation settings, see :func:`invert_gradients`.
            tau, z: the criteria's fixed thresholds (replaced by fitted ones after :meth:`calibrate`).
            levels: confidence levels whose first-crossing step is recorded.
            checkpoints: extra step counts to record (``read_step`` and ``steps`` always are).
            reference: the calibrated criterion's per-class difficulty reference: "shadows" (the
                attacker's shadow models) or "original" (the same run on θ_o, which the attacker
                then needs; see :mod:`labelleak.attacks.criteria`).
            set_decision: how a calibrated attack names the set: "cut" (every class whose
                normalised score exceeds the threshold fitted on the shadows) or "calibrated"
                (P(forgotten) per class from its score relative to the target's other classes,
                fitted on the shadows' scores; needs :meth:`calibrate`; see
                :mod:`labelleak.attacks.criteria`).
            checkpoint_choice: how the calibration chooses its checkpoint and threshold, with the
                shadows' reference: "pooled" (on every shadow run) or "across-originals" (each
                shadow original's runs scored against the other originals' reference; needs
                n_models ≥ 2; see :mod:`labelleak.attacks.criteria`).
            seed: seeds the noise start.
            verbose: progress bar.
        """
        self.criterion = check_choice("criterion", criterion, CRITERIA)
        self.steps = check_number("steps", steps, low=1, high=100_000, integer=True)
        if read_step != "auto":
            check_number("read_step", read_step, low=1, high=steps, integer=True)
        self.read_step = read_step
        self.read_level = check_number("read_level", read_level, low=0.0, high=1.0, low_inclusive=False)
        self.lr = check_number("lr", lr, low=0.0, low_inclusive=False, high=10.0)
        self.restarts = check_number("restarts", restarts, low=1, high=1000, integer=True)
        self.start = check_choice("start", start, STARTS)
        self.tv = check_number("tv", tv, low=0.0)
        self.l2 = check_number("l2", l2, low=0.0)
        self.levels = tuple(check_number("levels", float(v), low=0.0, high=1.0, low_inclusive=False) for v in levels)
        extra = () if read_step == "auto" else (read_step,)
        self.checkpoints = tuple(sorted({*(checkpoints or DEFAULT_CHECKPOINTS), *extra}))
        for c in self.checkpoints:
            check_number("checkpoints", c, low=1, integer=True)
        self.reference = check_choice("reference", reference, REFERENCES)
        self.set_decision = check_choice("set_decision", set_decision, SET_DECISIONS)
        self.checkpoint_choice = check_checkpoint_choice(checkpoint_choice, reference=self.reference)
        self.seed = check_number("seed", seed, low=0, integer=True)
        self.verbose = verbose
        self._criterion = make_criterion(criterion, tau=tau, z=z)
        self.tau, self.z = tau, z

    def run(self, target: GradientAccess) -> InversionRun:
        """The optimisation alone (no criterion), e.g. for shadow calibration."""
        return invert_gradients(
            target,
            steps=self.steps,
            lr=self.lr,
            restarts=self.restarts,
            start=self.start,
            tv=self.tv,
            l2=self.l2,
            seed=self.seed,
            checkpoints=self.checkpoints,
            levels=self.levels,
            verbose=self.verbose,
        )

    def _infer(self, target: Any, knowledge: AttackerKnowledge) -> tuple[np.ndarray, Any, dict[str, Any]]:
        run = self.run(target)
        if self.calibration_ is not None:
            if self.calibration_.checkpoint >= len(run.checkpoints):
                raise ParameterError(
                    f"calibration checkpoint {self.calibration_.checkpoint} is beyond this run's "
                    f"{len(run.checkpoints)} checkpoints; calibrate with the same attack settings"
                )
            index = self.calibration_.checkpoint
        elif self.read_step == "auto":
            index = run.auto_index(self.read_level)
        else:
            index = run.index_at(self.read_step)
        logger.debug("invert-wb read at step %d: confidence %s", run.checkpoints[index], run.confidence[index])
        return self.decide_at(run, index, original=self.original_run(knowledge))
