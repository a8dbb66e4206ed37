"""Tune an unlearning method's parameters with Optuna on a validation split of the *training* data.

The search never sees the test split: a stratified 20% of the training split is held out as the
validation set, a tuning θ_o is trained on the other 80% (cached like any θ_o), and every trial
unlearns each forget set from it and is scored on the held-out 20%, as its worst set (each set
against its own Retrain reference). Objective, in order:

1. forget-class validation accuracy at most Retrain's (on the same split) plus 2 points, and a
   cost of about ``BUDGET_EPOCHS`` epochs of θ_o's training at most (CPU seconds). One epoch is
   priced from the Retrain reference of the same study: its CPU seconds per epoch, scaled from
   D_r up to D (Retrain never sees D_f). "About": a trial may run ``BUDGET_ALLOWANCE`` over, since
   its CPU seconds also hold the utility evaluation and optimiser work that one Retrain epoch
   does not (a 2-epoch fine-tune on the MNIST split measured 55 CPU-s against 53 for two epochs);
   and a retain validation accuracy at most ``RETAIN_TOLERANCE`` below Retrain's (so a trial that
   forgets by wrecking the model is never chosen, however few trials ran);
2. then the highest retain validation accuracy;
3. then the lowest cost (CPU seconds of the unlearning).

This is folded into one number to maximise: a feasible trial scores ``retain − 1e-4 · cpu_seconds``
(≥ −1 for any run under ~3 hours), an infeasible one ``−1 − excess forget accuracy − excess cost
− retain shortfall`` (the cost in budgets over one), so a feasible trial always wins. A trial's
value is its worst set's, so once the sets it has run score no better than the best finished
trial, it stops (Optuna's pruned state, its bound reported) without running the rest; the set the
best trial did worst on runs first. The sampler is a seeded TPE; the study lives in the artifact
store as an Optuna journal file, so an interrupted or repeated ``labelleak tune`` resumes it
(``--trials N`` is the total number of finished trials wanted, those stopped early included).
Optuna is an optional dependency: ``pip install 'labelleak[tune]'``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from labelleak.data import ImageDataset
from labelleak.seeding import derive_seed
from labelleak.store import ArtifactStore
from labelleak.targets import build_unlearner, train_original, unlearn_original
from labelleak.unlearning import UNLEARNERS
from labelleak.unlearning.forgetting import GOAL_RETAIN_TOLERANCE
from labelleak.validation import ParameterError, check_classes, check_number

#: the forget-accuracy slack over Retrain's, in accuracy units
SLACK = 0.02
#: the most a tuned method may cost, in epochs of θ_o's training
BUDGET_EPOCHS = 2.0
#: how far over the budget a trial may run (timing noise and evaluation; see the module docstring)
BUDGET_ALLOWANCE = 0.10
#: how far below Retrain's retain validation accuracy a tuned method may fall, in accuracy units
#: (the unlearning goal's tolerance, labelleak.unlearning.forgetting)
RETAIN_TOLERANCE = GOAL_RETAIN_TOLERANCE
#: random draws before TPE models the finished trials: Optuna's default of 10 would leave a study of
#: the 8 trials an epoch-priced dataset affords a pure random search (Bergstra et al., NeurIPS 2011,
#: start TPE after a few random points)
STARTUP_TRIALS = 4
#: fraction of the training split held out for validation
VALIDATION_FRACTION = 0.2

#: the search space per parameter name: ("log", low, high), ("int", low, high), ("logint", low, high)
#: or ("cat", choices). Epochs are searched on a log scale below the point where most methods pay
#: more than the cost budget, so that few trials are spent far outside it.
SPACE: dict[str, tuple[Any, ...]] = {
    "lr": ("log", 1e-5, 1e-1),
    "epochs": ("logint", 1, 8),
    "repair_epochs": ("logint", 1, 5),
    "impair_lr": ("log", 1e-5, 1e-1),
    "repair_lr": ("log", 1e-5, 1e-1),
    "alpha": ("log", 0.5, 100.0),
    "lam": ("log", 0.05, 10.0),
    "optimizer": ("cat", ("sgd", "adam")),
}
#: where a method's parameter of a shared name means something else: SCRUB's α weighs its retain
#: distillation term (Kurmanji et al., 2023, default 0.001), not SSD's selection threshold
METHOD_SPACE: dict[str, dict[str, tuple[Any, ...]]] = {
    "scrub": {"alpha": ("log", 1e-4, 1.0), "max_steps": ("int", 1, 3)},
}


def search_space(method: str) -> dict[str, tuple[Any, ...]]:
    """The parameters of ``method`` that are tuned, with their ranges."""
    known = {**SPACE, **METHOD_SPACE.get(method, {})}
    space = {name: known[name] for name in UNLEARNERS.options(method) if name in known}
    if not space or method == "retrain":
        raise ParameterError(f"method {method!r} has nothing to tune")
    return space


def validation_split(dataset: ImageDataset, *, seed: int = 0) -> ImageDataset:
    """The training split cut in two, stratified: 80% train, 20% "test" (the validation set)."""
    generator = torch.Generator().manual_seed(seed)
    val = []
    for k in range(dataset.num_classes):
        idx = torch.nonzero(dataset.y_train == k).flatten()
        idx = idx[torch.randperm(len(idx), generator=generator)]
        val.append(idx[: max(1, round(len(idx) * VALIDATION_FRACTION))])
    is_val = torch.zeros(len(dataset.y_train), dtype=torch.bool)
    is_val[torch.cat(val)] = True
    return replace(
        dataset,
        x_train=dataset.x_train[~is_val],
        y_train=dataset.y_train[~is_val],
        x_test=dataset.x_train[is_val],
        y_test=dataset.y_train[is_val],
        source=f"{dataset.source}; training split cut 80/20 for tuning",
    )


def score(
    forget: float,
    retain: float,
    cpu_seconds: float,
    target: float,
    budget: float = math.inf,
    retain_floor: float = 0.0,
) -> float:
    """The folded lexicographic objective (see the module docstring); higher is better."""
    forget_excess = 1.0 if math.isnan(forget) else max(0.0, forget - target)
    cost_excess = max(0.0, cpu_seconds / budget - 1.0)
    retain_shortfall = max(0.0, retain_floor - retain)
    if forget_excess > 0 or cost_excess > 0 or retain_shortfall > 0:
        return -1.0 - forget_excess - cost_excess - retain_shortfall
    return retain - 1e-4 * cpu_seconds


def _set_score(measured: dict[str, float], ref: _Reference) -> float:
    return score(
        measured["forget_test_acc"],
        measured["retain_test_acc"],
        measured["cpu_seconds"],
        ref.target,
        ref.budget,
        ref.retain_floor,
    )


def _best(study: Any) -> Any:
    """The best finished trial, or None before the first one finished."""
    import optuna

    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return max(complete, key=lambda t: t.value) if complete else None


def _cpu_seconds(metrics: dict[str, Any]) -> float:
    # stores written before CPU time was recorded hold only the wall-clock seconds
    return float(metrics.get("cpu_seconds", metrics["seconds"]))


@dataclass
class TuneResult:
    method: str
    dataset: str
    #: the forget sets every trial unlearned; a trial scores as its worst set
    forget_sets: tuple[tuple[int, ...], ...]
    params: dict[str, Any]
    #: per forget set, the best trial's validation ``forget_test_acc``, ``retain_test_acc`` and
    #: ``cpu_seconds``, with Retrain's ``retrain_forget`` and the set's ``budget_cpu_seconds`` and
    #: ``retain_floor`` (Retrain's retain accuracy less the tolerance)
    per_set: list[dict[str, float]]
    feasible: bool
    trials: int
    #: of ``trials``, those stopped before their last set because they could not beat the best
    stopped_early: int
    cpu_seconds: float


@dataclass
class _Reference:
    """What Retrain gives one forget set: the objective's target, cost budget and retain floor."""

    classes: tuple[int, ...]
    retrain_forget: float
    budget: float
    retain_floor: float

    @property
    def target(self) -> float:
        """The forget accuracy a trial may reach at most: Retrain's plus the slack."""
        return self.retrain_forget + SLACK


def tune(
    dataset: ImageDataset,
    *,
    method: str,
    forget_sets: Sequence[Sequence[int]],
    trials: int,
    store: ArtifactStore,
    seed: int = 0,
    budget_epochs: float = BUDGET_EPOCHS,
) -> TuneResult:
    """Run (or resume) the study until it holds ``trials`` finished trials; return the best.

    Every trial unlearns each of ``forget_sets`` from the tuning θ_o with the same parameters and
    scores as its worst set (each set against its own Retrain reference), so settings tuned on
    single classes, pairs and triples at once do not forget one set by wrecking another.
    ``budget_epochs`` caps a trial's CPU seconds, per set, at that many epochs of θ_o's training.
    """
    try:
        import optuna
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend
    except ImportError:
        raise ParameterError("labelleak tune needs Optuna: pip install 'labelleak[tune]'") from None
    space = search_space(method)
    check_number("budget_epochs", budget_epochs, low=0.0, low_inclusive=False)
    if not forget_sets:
        raise ParameterError("forget_sets must hold at least one forget set, got none")
    sets = tuple(dict.fromkeys(check_classes("forget_sets", c, dataset.num_classes) for c in forget_sets))
    split = validation_split(dataset, seed=seed)
    original = train_original(split, seed=seed, store=store, record_updates=UNLEARNERS.get(method).needs_update_record)
    references = []
    for classes in sets:
        reference = unlearn_original(original, split, method="retrain", forget_classes=classes, seed=seed, store=store)
        n_forget = int(sum((split.y_train == c).sum() for c in classes))
        epoch_cpu = (
            _cpu_seconds(reference.metrics)
            / original.config["train"]["epochs"]
            * len(split.y_train)
            / (len(split.y_train) - n_forget)
        )
        references.append(
            _Reference(
                classes=classes,
                retrain_forget=float(reference.metrics["forget_test_acc"]),
                budget=budget_epochs * epoch_cpu * (1.0 + BUDGET_ALLOWANCE),
                retain_floor=reference.metrics["retain_test_acc"] - RETAIN_TOLERANCE,
            )
        )

    def objective(trial: Any) -> float:
        params: dict[str, Any] = {}
        for name, spec in space.items():
            if spec[0] == "log":
                params[name] = trial.suggest_float(name, spec[1], spec[2], log=True)
            elif spec[0] in ("int", "logint"):
                params[name] = trial.suggest_int(name, spec[1], spec[2], log=spec[0] == "logint")
            else:
                params[name] = trial.suggest_categorical(name, list(spec[1]))
        try:  # built as unlearn_original builds it: over the split's dataset defaults
            build_unlearner(method, params, dataset=split.name)
        except ParameterError as err:  # a combination the method refuses (SCRUB: max_steps > epochs)
            raise optuna.TrialPruned(str(err)) from None
        # a trial scores as its worst set, so its running minimum bounds its final value: once that
        # bound is no better than the best finished trial's, the rest cannot make it the best and
        # the trial stops (pruned, with the bound reported). The set the best trial did worst on
        # goes first, since it is the likeliest to stop a trial early.
        best = _best(study)
        order = list(range(len(references)))
        if best is not None:
            order.sort(key=lambda i: _set_score(best.user_attrs["per_set"][i], references[i]))
        measured: dict[int, dict[str, float]] = {}
        bound = math.inf
        for step, i in enumerate(order):
            ref = references[i]
            m = unlearn_original(
                original, split, method=method, params=params, forget_classes=ref.classes, seed=seed, store=store
            ).metrics
            measured[i] = {
                "forget_test_acc": float(m["forget_test_acc"]),
                "retain_test_acc": float(m["retain_test_acc"]),
                "cpu_seconds": _cpu_seconds(m),
            }
            bound = min(bound, _set_score(measured[i], ref))
            trial.report(bound, step)
            trial.set_user_attr("cpu_seconds", sum(r["cpu_seconds"] for r in measured.values()))
            if best is not None and bound <= best.value and step < len(order) - 1:
                raise optuna.TrialPruned(f"cannot beat trial {best.number} after {step + 1} of {len(order)} sets")
        trial.set_user_attr("per_set", [measured[i] for i in range(len(references))])
        return bound

    folder = store.root / "tune"
    folder.mkdir(parents=True, exist_ok=True)
    # the budget's pricing and the retain floor are part of the objective: a study made with other
    # ones is not resumed
    name = (
        f"{dataset.name}-{method}-{'_'.join('+'.join(map(str, c)) for c in sets)}-seed{seed}"
        f"-budget{budget_epochs:g}+{BUDGET_ALLOWANCE:g}-retain{RETAIN_TOLERANCE:g}"
    )
    storage = JournalStorage(JournalFileBackend(str(folder / f"{name}.journal")))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=STARTUP_TRIALS),
        load_if_exists=True,
    )
    if study.trials:
        # a sampler seeded as in the first call would draw that call's random start-up trials again
        # (the same parameters, measured again); seeded by what the study holds, a resumed call goes
        # on with new ones and stays reproducible
        study.sampler = optuna.samplers.TPESampler(
            seed=derive_seed(seed, "tune-resume", len(study.trials)), n_startup_trials=STARTUP_TRIALS
        )

    def finished() -> list[Any]:
        return [
            t
            for t in study.trials
            if t.state == optuna.trial.TrialState.COMPLETE
            or (t.state == optuna.trial.TrialState.PRUNED and t.intermediate_values)
        ]

    # a trial stopped by the bound was measured and counts towards ``trials``; one pruned before
    # it ran (a refused combination) costs nothing and does not; the cap stops a space that refuses
    # almost everything
    attempts = 0
    while len(finished()) < trials and attempts < 3 * trials:
        study.optimize(objective, n_trials=1)
        attempts += 1
    done = finished()
    best = study.best_trial
    return TuneResult(
        method=method,
        dataset=dataset.name,
        forget_sets=sets,
        params={**best.params},
        per_set=[
            {
                **measured,
                "retrain_forget": ref.retrain_forget,
                "budget_cpu_seconds": ref.budget,
                "retain_floor": ref.retain_floor,
            }
            for measured, ref in zip(best.user_attrs["per_set"], references)
        ],
        feasible=best.value is not None and best.value > -1.0,
        trials=len(done),
        stopped_early=sum(t.state == optuna.trial.TrialState.PRUNED for t in done),
        cpu_seconds=sum(float(t.user_attrs.get("cpu_seconds", 0.0)) for t in done),
    )
