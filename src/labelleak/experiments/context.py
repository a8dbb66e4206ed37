"""What every cell of a run needs, built lazily and identically in every process: datasets, θ_o,
the attacker's knowledge draws, shadow experiments and calibrated attacks; and the run's tally."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from labelleak.attacks import ATTACKS, Attack, Shadows
from labelleak.attacks.knowledge import RETIRED_KEY_MATERIAL, KnowledgeDraw, draw_aux_classes, draw_knowledge
from labelleak.attacks.shadow import ShadowConfig, shadow_key
from labelleak.data import ImageDataset, load_dataset, train_subset
from labelleak.experiments.config import DatasetConfig, ExperimentConfig, KnowledgeConfig
from labelleak.experiments.grid import AttackVariant, Cell, attack_variants
from labelleak.models import Classifier, TrainConfig, recipe_for
from labelleak.seeding import derive_seed
from labelleak.store import ArtifactStore, config_hash, dataset_fingerprint
from labelleak.targets import (
    TrainedModel,
    access_view,
    build_unlearner,
    original_config,
    train_original,
    unlearn_original,
    unlearned_config,
)
from labelleak.unlearning import UNLEARNERS, UnlearnResult

#: the store kinds that hold what attacks fit on shadow experiments
CALIBRATION_KINDS = ("shadow-calibration", "inversion-calibration")

__all__ = ["CALIBRATION_KINDS", "Context", "RunSummary", "access_view", "knowledge_key"]


@dataclass
class RunSummary:
    """What a run did: per-stage counts of computed and cached artifacts, timings, paths."""

    results_dir: Path
    cells_total: int = 0
    cells_skipped: int = 0
    counts: dict[str, Counter] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    wall_seconds: float = 0.0

    def count(self, stage: str, outcome: str, n: int = 1) -> None:
        self.counts.setdefault(stage, Counter())[outcome] += n

    def add_seconds(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + float(seconds)

    def merge(self, other: dict[str, Any]) -> None:
        for stage, outcomes in other["counts"].items():
            for outcome, n in outcomes.items():
                self.count(stage, outcome, n)
        for stage, seconds in other["seconds"].items():
            self.add_seconds(stage, seconds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cells_total": self.cells_total,
            "cells_skipped": self.cells_skipped,
            "counts": {k: dict(v) for k, v in self.counts.items()},
            "seconds": self.seconds,
            "wall_seconds": self.wall_seconds,
        }

    def describe(self) -> str:
        parts = [
            f"{self.cells_total - self.cells_skipped} cells run, {self.cells_skipped} finished earlier and skipped"
        ]
        for stage in ("original", "calibration", "unlearned", "row"):
            c = self.counts.get(stage)
            if c:
                parts.append(f"{stage}: {c.get('computed', 0)} computed, {c.get('cached', 0)} loaded from the store")
        return "; ".join(parts)


def knowledge_key(setting: KnowledgeConfig, seed: int) -> dict[str, Any]:
    """A knowledge setting as cache-key material; its name is a label only, so two identically
    configured settings share results (the key keeps
    :data:`~labelleak.attacks.knowledge.RETIRED_KEY_MATERIAL`)."""
    key = {k: v for k, v in setting.to_dict().items() if k != "name"} | RETIRED_KEY_MATERIAL | {"seed": seed}
    # the partial and data-free draws changed when every setting's shadow pool became the test
    # split minus the full A (draw_knowledge); the full setting's draw stayed bit for bit the same
    return key if setting.kind == "full" else key | {"shadow_pool": "minus-full-A"}


class Context:
    """Everything a cell needs, rebuilt identically in every worker process."""

    def __init__(
        self, config: ExperimentConfig, *, store_root: str | None, results_dir: str, verbose: bool = False
    ) -> None:
        self.config = config
        #: progress bars while θ_o and the shadow models are trained (the runner's process only)
        self.verbose = verbose
        self.store = ArtifactStore(store_root)
        self.results_dir = Path(results_dir)
        self.variants = attack_variants(config)
        self._datasets: dict[str, ImageDataset] = {}
        self._draws: dict[tuple[str, int, KnowledgeConfig], KnowledgeDraw] = {}
        self._originals: dict[tuple[str, int], TrainedModel] = {}
        self._shadows: dict[tuple[str, int, KnowledgeConfig], Shadows] = {}
        self._calibrated: dict[str, Attack] = {}
        self._calibration_keys_seen: set[str] = set()

    # -- data and models ------------------------------------------------------------------------

    def dataset_config(self, name: str) -> DatasetConfig:
        return next(d for d in self.config.datasets if d.name == name)

    def dataset(self, name: str) -> ImageDataset:
        if name not in self._datasets:
            config = self.dataset_config(name)
            dataset = load_dataset(name, root=config.data_root)
            if config.train_per_class is not None:
                dataset = train_subset(
                    dataset, per_class=config.train_per_class, seed=derive_seed(0, "train-subset", name)
                )
            self._datasets[name] = dataset
        return self._datasets[name]

    def recipe(self, name: str) -> TrainConfig:
        return recipe_for(name, epochs=self.dataset_config(name).epochs)

    def original(self, name: str, seed: int, summary: RunSummary | None = None) -> TrainedModel:
        """θ_o (trained once, then loaded); ``summary`` counts whether it was computed or cached."""
        if (name, seed) not in self._originals:
            result = train_original(
                self.dataset(name),
                arch=self.dataset_config(name).arch,
                seed=seed,
                train_config=self.recipe(name),
                store=self.store,
                verbose=self.verbose,
                # amnesiac_updates subtracts θ_o's recorded updates: record them when it is in the grid
                record_updates=any(UNLEARNERS.get(m).needs_update_record for m in self.config.methods),
            )
            if summary is not None:
                summary.count("original", "cached" if result.cached else "computed")
                if not result.cached:
                    summary.add_seconds("original", result.metrics["train_seconds"])
            self._originals[(name, seed)] = result
        return self._originals[(name, seed)]

    def unlearned(self, cell: Cell) -> UnlearnResult:
        """The cell's θ_u: its method with the config's parameters applied to θ_o (unlearned once,
        then loaded from the store)."""
        return unlearn_original(
            self.original(cell.dataset, cell.seed),
            self.dataset(cell.dataset),
            method=cell.method,
            params=self.config.params_for(cell.dataset, cell.method),
            forget_classes=cell.forget,
            seed=cell.seed,
            store=self.store,
        )

    def original_key(self, name: str, seed: int) -> dict[str, Any]:
        return original_config(
            self.dataset(name), arch=self.dataset_config(name).arch, seed=seed, train_config=self.recipe(name)
        )

    def target_key(self, cell: Cell) -> dict[str, Any]:
        """θ_u's cache key, computed without loading or training anything."""
        params = build_unlearner(
            cell.method, self.config.params_for(cell.dataset, cell.method), dataset=cell.dataset
        ).params()
        return unlearned_config(
            self.original_key(cell.dataset, cell.seed),
            method=cell.method,
            params=params,
            forget_classes=cell.forget,
            seed=cell.seed,
        )

    # -- attacker knowledge ----------------------------------------------------------------------

    def knowledge_seed(self, seed: int) -> int:
        return derive_seed(seed, "knowledge")

    def aux_classes(self, name: str, seed: int, setting: KnowledgeConfig) -> tuple[int, ...]:
        """The classes of which A holds samples on (dataset, seed) under ``setting``: every class
        (full), none (data-free), or the partial setting's classes, drawn from the knowledge seed
        alone, never from a target's forgotten classes, so every target of (dataset, seed) shares
        them and whether its forgotten classes lie among them varies with the target.

        Raises:
            ParameterError: ``aux_classes`` leaves no class of the dataset out of A.
        """
        k = self.dataset(name).num_classes
        if setting.kind == "data-free":
            return ()
        if setting.aux_classes is None:
            return tuple(range(k))
        return draw_aux_classes(k, setting.aux_classes, seed=self.knowledge_seed(seed))

    def draw(self, name: str, seed: int, setting: KnowledgeConfig, original_model: Classifier) -> KnowledgeDraw:
        """A, N (and θ_o) under ``setting``, shared by every target of (dataset, seed)."""
        key = (name, seed, setting)
        if key not in self._draws:
            original = access_view(original_model, "weights") if setting.original else None
            self._draws[key] = draw_knowledge(
                self.dataset(name),
                aux_per_class=setting.aux_per_class,
                only_classes=self.aux_classes(name, seed, setting) if setting.kind == "partial" else None,
                unrelated=setting.unrelated,
                unrelated_size=setting.unrelated_size,
                original=original,
                seed=self.knowledge_seed(seed),
                data_root=self.dataset_config(name).data_root,
            )
        return self._draws[key]

    # -- shadow experiments and calibration ------------------------------------------------------

    def shadow_config(self, setting: KnowledgeConfig) -> ShadowConfig:
        """The config's shadow experiments, mirroring the knowledge setting of the targets."""
        return replace(
            self.config.shadow,
            aux_per_class=setting.aux_per_class,
            aux_classes=setting.aux_classes,
            unrelated=setting.unrelated,
        )

    def shadows_key(self, name: str, seed: int, setting: KnowledgeConfig) -> dict[str, Any]:
        """What the shadow experiments of targets of (dataset, seed, setting) depend on."""
        return {
            "dataset": name,
            "data": dataset_fingerprint(self.dataset(name)),
            "seed": seed,
            "knowledge": knowledge_key(setting, self.knowledge_seed(seed)),
            "shadow": shadow_key(self.shadow_config(setting), name),
            "arch": self.dataset_config(name).arch,
        }

    def shadows(self, name: str, seed: int, setting: KnowledgeConfig) -> Shadows:
        key = (name, seed, setting)
        if key not in self._shadows:
            self._shadows[key] = Shadows(
                self.dataset(name),
                self.draw(name, seed, setting, self.original(name, seed).model),
                config=self.shadow_config(setting),
                eval_seeds=self.config.seeds,
                arch=self.dataset_config(name).arch,
                store=self.store,
                key=self.shadows_key(name, seed, setting),
                verbose=self.verbose,
            )
        return self._shadows[key]

    def uncalibrated(self, variant: AttackVariant) -> Attack:
        attack: Attack = ATTACKS.build(variant.name, **variant.options)
        return attack

    def calibrates(self, variant: AttackVariant, attack: Attack | None = None) -> bool:
        """Whether the variant's attack (``attack``, when already built) is fit on shadows: because its
        decision needs it, or because the config asks for it (``calibrate = true``)."""
        attack = attack or self.uncalibrated(variant)
        return attack.needs_calibration or (variant.calibrate and attack.calibratable)

    def calibration_key(
        self, variant: AttackVariant, name: str, seed: int, setting: KnowledgeConfig
    ) -> dict[str, Any] | None:
        """What the variant's calibration depends on (part of every row key that uses it), or None."""
        attack = self.uncalibrated(variant)
        if not self.calibrates(variant, attack):
            return None
        return {**self.shadows_key(name, seed, setting), **attack.calibration_key()}

    def calibrated(
        self, variant: AttackVariant, name: str, seed: int, setting: KnowledgeConfig, summary: RunSummary
    ) -> Attack:
        """The variant's attack fit on the shadows of (dataset, seed, setting); ``summary`` counts each
        distinct calibration once, as computed or as loaded from the store."""
        key = self.calibration_key(variant, name, seed, setting)
        assert key is not None, f"{variant.label} is not calibrated"
        memo = config_hash({"calibration": key, "attack": variant.name, "options": variant.options})
        if memo in self._calibrated:
            return self._calibrated[memo]
        computed_before = sum(self.store.counts[(kind, "computed")] for kind in CALIBRATION_KINDS)
        start, cpu = time.perf_counter(), time.process_time()
        attack = self.uncalibrated(variant).calibrate(self.shadows(name, seed, setting))
        computed = sum(self.store.counts[(kind, "computed")] for kind in CALIBRATION_KINDS) > computed_before
        first = config_hash(key)
        if first not in self._calibration_keys_seen:
            self._calibration_keys_seen.add(first)
            summary.count("calibration", "computed" if computed else "cached")
        if computed:
            summary.add_seconds("calibration", time.perf_counter() - start)
            summary.add_seconds("calibration_cpu", time.process_time() - cpu)
        self._calibrated[memo] = attack
        return attack
