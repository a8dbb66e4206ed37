"""Query-efficient black-box inversion (A-queries): shadow priors refined by CMA-ES.

labelleak's own attack, beside the paper's genetic algorithm (:mod:`labelleak.attacks.genetic`),
built for a small query budget. Three ideas, each measured in docs/inversion_attacks.md:

1. **Priors from the attacker's own models.** On each shadow original θ_o′ (a model the attacker
   trained itself, so it holds its weights) a few low-resolution genomes per class are inverted by
   gradient ascent, through the same bilinear up-sampling as the search. The search then starts
   where each class lives on a model of the same task, and queries only refine.
2. **Every query informs every class.** The target returns a whole probability vector, so a class's
   best-so-far confidence is the maximum over *all* inputs queried so far, whichever class's search
   produced them.
3. **A distribution search per class.** One CMA-ES (Hansen's ``cma`` package) per class in genome
   space, started at the input most confident for that class, with mirrored (antithetic) sampling;
   all classes' candidates go to the target in one query per generation. Every class is searched
   to the end of the budget (``stop_level`` 1.0: a class stops only once its probability rounds to
   1): stopping a class at p = 0.99 let the forgotten class, which a good prior also drives past
   0.99 on many models, end level with the retained ones: over the three datasets' single-class
   targets it named 51 of 60 at 1,000 queries, searching to the end 58 of 60
   (docs/inversion_attacks.md, "Searching to the end of the budget").

The run is *anytime*: how many candidates a generation asks for never depends on the budget, so a
run with budget B is a prefix of a run with any larger budget (tested). It is recorded at a fixed
ladder of budgets (:data:`BUDGET_LADDER` up to ``query_budget``), the same for every target, so
the shadow calibration of :mod:`labelleak.attacks.criteria` (which budget to read, a per-class
difficulty reference, the threshold) applies unchanged. The priors come from the shadows, so the
attack needs :meth:`~labelleak.attacks.base.Attack.calibrate` before :meth:`infer`.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import cma
import numpy as np
import torch
from tqdm.auto import tqdm

from labelleak.access import GradientAccess, QueryAccess, QueryBudgetExceeded
from labelleak.attacks.base import ATTACKS, AttackerKnowledge, CalibrationError
from labelleak.attacks.criteria import (
    CRITERIA,
    REFERENCES,
    SET_DECISIONS,
    InversionAttack,
    InversionCalibration,
    InversionRun,
    check_checkpoint_choice,
    make_criterion,
)
from labelleak.attacks.genetic import upsample
from labelleak.attacks.inversion import DEFAULT_LEVELS, total_variation
from labelleak.seeding import derive_seed, numpy_generator, torch_generator
from labelleak.targets import access_view
from labelleak.validation import ParameterError, check_choice, check_number

if TYPE_CHECKING:
    from labelleak.attacks.shadow import Shadows, ShadowTarget

logger = logging.getLogger(__name__)

#: query budgets at which a run is recorded (those up to its own budget, plus the budget itself)
BUDGET_LADDER = (100, 200, 300, 500, 1_000, 2_000, 3_000, 5_000, 10_000, 20_000, 30_000, 50_000, 100_000)
#: genes are kept this far inside (0, 1) in the prior's sigmoid parametrisation
_EDGE = 0.02


def invert_priors(
    models: Sequence[GradientAccess],
    *,
    genome: int,
    restarts: int,
    steps: int,
    lr: float,
    tv: float,
    seed: int,
) -> torch.Tensor:
    """Low-resolution genomes that each of ``models`` classifies confidently, ``restarts`` per class
    and model: (K, restarts · len(models), C, genome, genome), genes in [0, 1].

    Adam on z with genes = sigmoid(z), input = bilinear up-sampling of the genes, maximising
    log p_k minus ``tv`` · total variation of the input (smooth inputs transfer between models
    better than adversarial ones).
    """
    priors = []
    for i, model in enumerate(models):
        k, (channels, *_) = model.num_classes, model.input_shape
        start = torch.rand((k * restarts, channels, genome, genome), generator=torch_generator(derive_seed(seed, i)))
        z = torch.logit(start.clamp(_EDGE, 1 - _EDGE)).requires_grad_(True)
        optimizer = torch.optim.Adam([z], lr=lr)
        target = torch.arange(k).repeat_interleave(restarts)
        rows = torch.arange(k * restarts)
        for _ in range(steps):
            x = upsample(torch.sigmoid(z), model.input_shape)
            loss = -model.log_probs(x)[rows, target].sum() + tv * total_variation(x).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        priors.append(torch.sigmoid(z).detach().view(k, restarts, channels, genome, genome))
    return torch.cat(priors, dim=1)


def shadow_priors(
    shadows: Shadows, *, genome: int, restarts: int, steps: int, lr: float, tv: float, seed: int
) -> dict[int, torch.Tensor]:
    """:func:`invert_priors` on every shadow original θ_o′ (the attacker's own models, white-box),
    cached with the shadows: {shadow seed: (K, restarts, C, genome, genome)}."""
    options = {"genome": genome, "restarts": restarts, "steps": steps, "lr": lr, "tv": tv, "seed": seed}

    def compute() -> dict[str, Any]:
        originals: dict[int, GradientAccess] = {}
        for shadow in shadows.targets():
            originals.setdefault(shadow.seed, access_view(shadow.original, "gradients"))
            if len(originals) == shadows.config.n_models:
                break
        priors = invert_priors(
            list(originals.values()), genome=genome, restarts=restarts, steps=steps, lr=lr, tv=tv, seed=seed
        )
        return {"shape": list(priors.shape), "genes": priors.flatten().tolist(), "seeds": list(originals)}

    stored = shadows.cached("inversion-priors", {"priors": options, "version": 1}, compute)
    genes = torch.tensor(stored["genes"], dtype=torch.float32).view(*stored["shape"])
    # invert_priors concatenates the originals' priors along dim 1, ``restarts`` each, in the order
    # their seeds first appear among the shadow targets (records made before "seeds" was kept)
    seeds = stored.get("seeds") or list(dict.fromkeys(t.seed for t in shadows.targets()))[: shadows.config.n_models]
    return {s: genes[:, i * restarts : (i + 1) * restarts] for i, s in enumerate(seeds)}


class _Tracker:
    """Best-so-far confidence, profile and genome of every class over all inputs queried."""

    def __init__(self, num_classes: int, genome_shape: tuple[int, ...]) -> None:
        self.confidence = torch.full((num_classes,), -1.0)
        self.profiles = torch.zeros(num_classes, num_classes)
        self.genomes = torch.zeros(num_classes, *genome_shape)

    def update(self, genomes: torch.Tensor, probs: torch.Tensor) -> None:
        best, which = probs.max(dim=0)
        better = best > self.confidence
        self.confidence = torch.where(better, best, self.confidence)
        self.profiles[better] = probs[which[better]]
        self.genomes[better] = genomes[which[better]]


def budget_ladder(query_budget: int, floor: int) -> np.ndarray:
    """The budgets of :data:`BUDGET_LADDER` from ``floor`` up to ``query_budget``, and ``query_budget``."""
    marks = {b for b in BUDGET_LADDER if floor <= b <= query_budget} | {query_budget}
    return np.asarray(sorted(marks), dtype=np.int64)


def invert_cma(
    access: QueryAccess,
    priors: torch.Tensor,
    *,
    query_budget: int = 1_000,
    popsize: int = 8,
    sigma: float = 0.15,
    stop_level: float = 1.0,
    seed: int = 0,
    levels: Sequence[float] = DEFAULT_LEVELS,
    verbose: bool = False,
) -> InversionRun:
    """Search one confident input per class through ``access`` within ``query_budget`` queries.

    Args:
        access: a queries view (or richer) of the target; only ``query`` is used.
        priors: (K, R, C, g, g) genomes in [0, 1] (:func:`invert_priors`); all K·R are queried first.
        query_budget: most queries this run may spend (all classes together).
        popsize: candidates per class and generation (half of them mirror the other half).
        sigma: CMA-ES's initial step size, in genes (which lie in [0, 1]).
        stop_level: a class whose best confidence reaches it is no longer searched (1.0: only
            one whose probability rounds to 1).
        seed: seeds every class's search.
        levels: confidence levels whose first-crossing query count is recorded.
        verbose: progress bar.

    Returns:
        An :class:`InversionRun` with unit "queries", recorded at the budgets of
        :data:`BUDGET_LADDER` from the priors' cost up to ``query_budget`` (each the state after the
        last generation that fits in it); ``queries`` is what the run really spent.
    """
    num_classes = access.num_classes
    if priors.dim() != 5 or priors.shape[0] != num_classes:
        raise ParameterError(f"priors must have shape (K={num_classes}, R, C, g, g), got {tuple(priors.shape)}")
    genome_shape = tuple(priors.shape[2:])
    budget = query_budget if access.remaining is None else min(query_budget, access.remaining)
    seeds = priors.flatten(0, 1)
    if budget < len(seeds):
        raise ParameterError(
            f"query_budget must pay for querying the {len(seeds)} priors (K × restarts × shadow models), "
            f"got {budget} (query_budget={query_budget}, target remaining={access.remaining})"
        )
    marks = budget_ladder(budget, len(seeds))
    first = {float(level): np.full(num_classes, -1, dtype=np.int64) for level in levels}
    confidence = np.zeros((len(marks), num_classes))
    profiles = np.zeros((len(marks), num_classes, num_classes))
    tracker = _Tracker(num_classes, genome_shape)
    recorded = 0

    def record(spent: int, *, final: bool = False) -> None:
        nonlocal recorded
        for level, at in first.items():
            at[(at < 0) & (tracker.confidence >= level).numpy()] = spent
        # the state after this generation is the reading of every mark it reaches before the next one
        while recorded < len(marks) and (final or marks[recorded] < spent + step):
            confidence[recorded] = tracker.confidence.numpy()
            profiles[recorded] = tracker.profiles.numpy()
            recorded += 1

    bar = tqdm(total=budget, desc="invert-cma queries", unit="query", disable=not verbose, leave=False)
    tracker.update(seeds, access.query(upsample(seeds, access.input_shape)))
    spent = len(seeds)
    bar.update(spent)
    step = popsize * num_classes
    searches = []
    for k in range(num_classes):
        rng = numpy_generator(derive_seed(seed, "invert-cma", k))
        options = {
            "popsize": popsize,
            "bounds": [0.0, 1.0],
            "CMA_mirrors": popsize // 2,
            "CMA_diagonal": True,
            "randn": lambda *shape, rng=rng: rng.standard_normal(shape),
            "seed": np.nan,
            "verbose": -9,
        }
        searches.append(cma.CMAEvolutionStrategy(tracker.genomes[k].flatten().double().numpy(), sigma, options))
    active = tracker.confidence < stop_level
    step = popsize * int(active.sum())
    record(spent)
    while active.any() and spent + step <= budget:
        classes = np.flatnonzero(active.numpy())
        asked = [np.asarray(searches[k].ask()) for k in classes]
        genomes = torch.from_numpy(np.concatenate(asked)).float().clamp(0.0, 1.0).view(-1, *genome_shape)
        try:
            probs = access.query(upsample(genomes, access.input_shape))
        except QueryBudgetExceeded:
            logger.info("target query budget exhausted after %d queries", spent)
            break
        spent += len(genomes)
        bar.update(len(genomes))
        log_probs = probs.clamp_min(1e-30).log().double().numpy()
        for i, c in enumerate(classes):
            rows = slice(i * popsize, (i + 1) * popsize)
            searches[c].tell(asked[i], (-log_probs[rows, c]).tolist())
        tracker.update(genomes, probs)
        done = torch.tensor([bool(searches[k].stop()) for k in range(num_classes)])
        active = (tracker.confidence < stop_level) & ~done
        step = popsize * int(active.sum())
        record(spent)
    record(spent, final=True)
    bar.close()
    return InversionRun(
        unit="queries",
        checkpoints=marks,
        confidence=confidence,
        profiles=profiles,
        prototypes=upsample(tracker.genomes, access.input_shape),
        first_crossing=first,
        queries=spent,
    )


class PriorSearchAttack(InversionAttack):
    """A black-box search that starts from priors inverted on the attacker's shadow originals
    (:func:`shadow_priors`), so it needs :meth:`calibrate` before :meth:`infer`; the criterion reads
    the run at the budget its shadow calibration chose. Subclasses implement :meth:`search`."""

    def __init__(
        self,
        *,
        criterion: str,
        query_budget: int,
        genome: int,
        prior_restarts: int,
        prior_steps: int,
        prior_lr: float,
        prior_tv: float,
        reference: str,
        set_decision: str,
        checkpoint_choice: str,
        seed: int,
        levels: Sequence[float],
        verbose: bool,
    ) -> None:
        self.criterion = check_choice("criterion", criterion, CRITERIA)
        self.query_budget = check_number("query_budget", query_budget, low=1, integer=True)
        self.genome = check_number("genome", genome, low=1, high=64, integer=True)
        self.prior_restarts = check_number("prior_restarts", prior_restarts, low=1, high=1000, integer=True)
        self.prior_steps = check_number("prior_steps", prior_steps, low=1, high=100_000, integer=True)
        self.prior_lr = check_number("prior_lr", prior_lr, low=0.0, low_inclusive=False, high=10.0)
        self.prior_tv = check_number("prior_tv", prior_tv, low=0.0)
        self.reference = check_choice("reference", reference, REFERENCES)
        self.set_decision = check_choice("set_decision", set_decision, SET_DECISIONS)
        self.checkpoint_choice = check_checkpoint_choice(checkpoint_choice, reference=self.reference)
        self.seed = check_number("seed", seed, low=0, integer=True)
        self.levels = tuple(check_number("levels", float(v), low=0.0, high=1.0, low_inclusive=False) for v in levels)
        self.verbose = verbose
        self._criterion = make_criterion(criterion)
        self.priors_: torch.Tensor | None = None
        self.priors_by_seed_: dict[int, torch.Tensor] | None = None

    @property
    def needs_calibration(self) -> bool:
        return True

    def check_target(self, *, num_classes: int) -> None:
        if self.query_budget < num_classes * self.prior_restarts:
            raise ParameterError(
                f"query_budget must pay for querying {self.prior_restarts} priors per class "
                f"({num_classes * self.prior_restarts} for {num_classes} classes), got {self.query_budget}"
            )

    def _calibrate(self, shadows: Shadows) -> InversionCalibration:
        self.priors_by_seed_ = shadow_priors(
            shadows,
            genome=self.genome,
            restarts=self.prior_restarts,
            steps=self.prior_steps,
            lr=self.prior_lr,
            tv=self.prior_tv,
            seed=self.seed,
        )
        self.priors_ = torch.cat(list(self.priors_by_seed_.values()), dim=1)
        return super()._calibrate(shadows)

    def calibration_key(self) -> dict[str, Any]:
        # the shadow runs search from the other originals' priors (held-out), see shadow_run
        return {**super().calibration_key(), "priors": "held-out"}

    def shadow_run(self, shadow: ShadowTarget) -> InversionRun:
        """The search on a shadow target from the priors of the *other* shadow originals when there
        are several (``n_models`` ≥ 2): priors inverted on the shadow's own θ_o′ land in their class
        on its unlearned copies far more surely than on the target's independently trained θ_o, and
        a calibration that never sees that transfer gap under-estimates how hard a retained class
        is to reach on the target. With one shadow original the search uses its priors."""
        assert self.priors_by_seed_ is not None  # set by _calibrate before the shadow runs
        others = [p for s, p in self.priors_by_seed_.items() if s != shadow.seed]
        view = access_view(shadow.unlearned, self.requires)
        return self.search(view, torch.cat(others, dim=1)) if others else self.run(view)

    @abstractmethod
    def search(self, target: Any, priors: torch.Tensor) -> InversionRun:
        """The search on ``target`` from ``priors`` (K, R, C, g, g)."""

    def run(self, target: Any) -> InversionRun:
        """The search alone (no criterion); needs the priors of :meth:`calibrate`."""
        if self.priors_ is None:
            raise CalibrationError(f"attack {self!r} needs calibrate(shadows) first: its priors come from the shadows")
        return self.search(target, self.priors_)

    def _infer(self, target: Any, knowledge: AttackerKnowledge) -> tuple[np.ndarray, Any, dict[str, Any]]:
        run = self.run(target)
        assert self.calibration_ is not None  # needs_calibration: checked by infer
        index = run.clamp(self.calibration_.checkpoint)
        return self.decide_at(run, index, original=self.original_run(knowledge))


@ATTACKS.register("invert-cma")
class PriorCMAInversion(PriorSearchAttack):
    """Query-efficient black-box inversion (A-queries, labelleak's own): priors inverted on the
    attacker's shadow originals, refined on the target by one CMA-ES per class, then the threshold or
    entropy criterion calibrated on the shadows (see the module docstring and
    docs/inversion_attacks.md). Needs :meth:`calibrate`: the priors come from the shadows.

    Artifacts: ``prototypes`` (K, C, H, W), ``run``, ``trajectory``, ``read_queries``,
    ``confidence`` and ``profiles`` at the read budget.
    """

    name = "invert-cma"
    requires = "queries"

    @classmethod
    def revision(cls, options: dict[str, Any]) -> int:
        # 2: the default stop_level became 1.0 (it was 0.99); a run that names stop_level is unchanged
        return 1 if "stop_level" in options else 2

    def __init__(
        self,
        *,
        criterion: str = "threshold",
        query_budget: int = 1_000,
        popsize: int = 8,
        sigma: float = 0.15,
        stop_level: float = 1.0,
        genome: int = 7,
        prior_restarts: int = 4,
        prior_steps: int = 100,
        prior_lr: float = 0.1,
        prior_tv: float = 0.01,
        reference: str = "shadows",
        set_decision: str = "cut",
        checkpoint_choice: str = "pooled",
        seed: int = 0,
        levels: Sequence[float] = DEFAULT_LEVELS,
        verbose: bool = False,
    ) -> None:
        """
        Args:
            criterion: "threshold" or "entropy" (see :mod:`labelleak.attacks.criteria`).
            query_budget: queries per target, all classes together, the priors' queries included.
            popsize: candidates per class and CMA-ES generation (even: half mirror the other half).
            sigma: CMA-ES's initial step size, in genes (which lie in [0, 1]).
            stop_level: a class whose best confidence reaches it is no longer searched (1.0, the
                default: only one whose probability rounds to 1; the module docstring says why).
            genome: genes per side of the low-resolution genome (per channel).
            prior_restarts: priors per class inverted on each shadow original.
            prior_steps, prior_lr, prior_tv: the priors' gradient ascent (steps, Adam learning
                rate, total-variation weight), on the attacker's own models.
            reference: the calibrated criterion's per-class difficulty reference: "shadows" or
                "original" (the same search on θ_o; see :mod:`labelleak.attacks.criteria`).
            set_decision: how a calibrated attack names the set: "cut" (every class whose
                normalised score exceeds the threshold fitted on the shadows) or "calibrated"
                (P(forgotten) per class from its score relative to the target's other classes,
                fitted on the shadows' scores; needs :meth:`calibrate`; see
                :mod:`labelleak.attacks.criteria`).
            checkpoint_choice: how the calibration chooses its checkpoint and threshold, with the
                shadows' reference: "pooled" (on every shadow run) or "across-originals" (each
                shadow original's runs scored against the other originals' reference; needs
                n_models ≥ 2; see :mod:`labelleak.attacks.criteria`).
            seed: seeds the priors and every class's search.
            levels: confidence levels whose first-crossing query count is recorded.
            verbose: progress bar.
        """
        super().__init__(
            criterion=criterion,
            query_budget=query_budget,
            genome=genome,
            prior_restarts=prior_restarts,
            prior_steps=prior_steps,
            prior_lr=prior_lr,
            prior_tv=prior_tv,
            reference=reference,
            set_decision=set_decision,
            checkpoint_choice=checkpoint_choice,
            seed=seed,
            levels=levels,
            verbose=verbose,
        )
        self.popsize = check_number("popsize", popsize, low=2, high=10_000, integer=True)
        if self.popsize % 2:
            raise ParameterError(f"popsize must be even (half the candidates mirror the other half), got {popsize}")
        self.sigma = check_number("sigma", sigma, low=0.0, low_inclusive=False, high=1.0)
        self.stop_level = check_number("stop_level", stop_level, low=0.0, high=1.0, low_inclusive=False)

    def search(self, target: QueryAccess, priors: torch.Tensor) -> InversionRun:
        return invert_cma(
            target,
            priors,
            query_budget=self.query_budget,
            popsize=self.popsize,
            sigma=self.sigma,
            stop_level=self.stop_level,
            seed=self.seed,
            levels=self.levels,
            verbose=self.verbose,
        )
