"""The experiment runner: a validated config in, one tidy row per (target, attack) out.

Stages and what they are cached under (all in the :class:`ArtifactStore`, keyed by the hash of
their resolved config, so a changed parameter invalidates exactly the stages it reaches):

1. θ_o per (dataset, seed)                   — ``original``  (dataset content, arch, recipe, seed)
2. shadow calibration per (dataset, seed,    — ``shadow-calibration`` / ``inversion-calibration``
   knowledge setting, reference / attack)       (shared by every target of that dataset and seed)
3. θ_u per cell                              — ``unlearned`` (θ_o's key, method, resolved params, C, seed)
4. one result row per (cell, attack variant, — ``attack-row`` (θ_u's key, attack, options,
   knowledge setting)                            knowledge, calibration key)

Stages 1–2 run first in this process; cells (3–4) then run in order or, with ``jobs > 1``, in
spawned worker processes with one torch thread each. A finished cell is written atomically to
``RESULTS_DIR/cells/<cell id>.json``; a re-run skips every cell whose file matches (and says so),
and inside an unfinished cell every row already in the store is loaded instead of recomputed, so
a kill at any point loses at most the row being computed. At the end ``results.csv`` (one row per
(target, attack)), ``utility.csv`` (one row per target) and ``run.json`` (stage timings, cache
hits, git revision, machine) are written.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from labelleak import metrics
from labelleak.access import GradientAccess, QueryAccess, WeightsAccess
from labelleak.attacks import ATTACKS
from labelleak.attacks.shadow import ShadowConfig, calibrate, shadow_key, shadow_targets
from labelleak.experiments.cache import ArtifactStore, config_hash, dataset_fingerprint
from labelleak.experiments.config import (
    DatasetConfig,
    ExperimentConfig,
    KnowledgeConfig,
    build_attack,
)
from labelleak.experiments.grid import AttackVariant, Cell, attack_variants, cells, knowledge_settings_for
from labelleak.models.io import atomic_write_bytes, atomic_write_json
from labelleak.seeding import derive_seed

logger = logging.getLogger(__name__)

#: bump when the meaning of a stored result row changes
ROW_VERSION = 1


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


class Context:
    """Everything a cell needs, rebuilt identically in every worker process."""

    def __init__(self, config: ExperimentConfig, *, store_root: str | None, results_dir: str) -> None:
        self.config = config
        self.store = ArtifactStore(store_root)
        self.results_dir = Path(results_dir)
        self.registry = ATTACKS
        self.variants = attack_variants(config)
        self._datasets: dict[str, Any] = {}
        self._draws: dict[tuple, Any] = {}
        self._originals: dict[tuple[str, int], Any] = {}
        self._calibrations: dict[str, Any] = {}

    # -- data and models ------------------------------------------------------------------------

    def dataset_config(self, name: str) -> DatasetConfig:
        return next(d for d in self.config.datasets if d.name == name)

    def dataset(self, name: str):
        from labelleak.data import load_dataset

        if name not in self._datasets:
            self._datasets[name] = load_dataset(name, root=self.dataset_config(name).data_root)
        return self._datasets[name]

    def recipe(self, name: str):
        from labelleak.models import DEFAULT_RECIPES, TrainConfig

        recipe = DEFAULT_RECIPES.get(name, TrainConfig())
        epochs = self.dataset_config(name).epochs
        return TrainConfig(**{**recipe.to_dict(), "epochs": epochs}) if epochs is not None else recipe

    def original(self, name: str, seed: int, summary: RunSummary | None = None):
        """θ_o (trained once, then loaded); ``summary`` counts whether it was computed or cached."""
        from labelleak.experiments.stages import train_original

        if (name, seed) not in self._originals:
            result = train_original(
                self.dataset(name),
                arch=self.dataset_config(name).arch,
                seed=seed,
                train_config=self.recipe(name),
                store=self.store,
            )
            if summary is not None:
                summary.count("original", "cached" if result.cached else "computed")
                if not result.cached:
                    summary.add_seconds("original", result.metrics["train_seconds"])
            self._originals[(name, seed)] = result
        return self._originals[(name, seed)]

    def original_key(self, name: str, seed: int) -> dict[str, Any]:
        from labelleak.experiments.stages import original_config

        return original_config(
            self.dataset(name), arch=self.dataset_config(name).arch, seed=seed, train_config=self.recipe(name)
        )

    def target_key(self, cell: Cell) -> dict[str, Any]:
        """θ_u's cache key, computed without loading or training anything."""
        from labelleak.experiments.stages import build_unlearner, unlearned_config

        class _Original:  # unlearned_config only reads ``.config``
            config = self.original_key(cell.dataset, cell.seed)

        params = build_unlearner(cell.method, self.config.params_for(cell.dataset, cell.method)).params()
        return unlearned_config(
            _Original, method=cell.method, params=params, forget_classes=cell.forget, seed=cell.seed
        )

    # -- attacker knowledge ----------------------------------------------------------------------

    def knowledge_seed(self, seed: int) -> int:
        return derive_seed(seed, "knowledge")

    def draw(self, name: str, seed: int, setting: KnowledgeConfig, original_model, *, exclude: tuple[int, ...] = ()):
        """A, N (and θ_o) for a target; the draw without exclusions is shared by all targets."""
        from labelleak.attacks.knowledge import draw_knowledge

        key = (name, seed, setting)
        if exclude or key not in self._draws:
            original = WeightsAccess.of_classifier(original_model) if setting.original else None
            draw = draw_knowledge(
                self.dataset(name),
                aux_per_class=setting.aux_per_class,
                exclude_classes=exclude,
                unrelated=setting.unrelated,
                unrelated_size=setting.unrelated_size,
                original=original,
                seed=self.knowledge_seed(seed),
                data_root=self.dataset_config(name).data_root,
            )
            if exclude:
                # per-target draws hold a copy of the shadow pool: keeping them would grow memory per cell
                return draw
            self._draws[key] = draw
        return self._draws[key]

    def shadow_config(self, setting: KnowledgeConfig) -> ShadowConfig:
        s = self.config.shadow
        return ShadowConfig(
            methods=s.methods,
            n_models=s.n_models,
            seed=s.seed,
            train_fraction=s.train_fraction,
            epochs=s.epochs,
            aux_per_class=setting.aux_per_class,
            exclude_forgotten=setting.exclude_forgotten,
            unrelated=setting.unrelated,
        )

    # -- calibration -----------------------------------------------------------------------------

    def needs_calibration(self, variant: AttackVariant) -> bool:
        from labelleak.attacks.deciders import DECIDERS

        decider = variant.options.get("decider")
        return variant.calibrate or (decider in DECIDERS and DECIDERS[decider].needs_calibration)

    def calibration_key(self, variant: AttackVariant, name: str, seed: int, setting: KnowledgeConfig) -> dict | None:
        """What a calibration depends on (part of every row key that uses it), or None."""
        if not self.needs_calibration(variant):
            return None
        key = {
            "dataset": name,
            "data": dataset_fingerprint(self.dataset(name)),
            "seed": seed,
            "knowledge": _knowledge_key(setting, self.knowledge_seed(seed)),
            "shadow": shadow_key(self.shadow_config(setting), name),
            "arch": self.dataset_config(name).arch,
        }
        if variant.calibrate:
            key.update(attack=variant.name, options=variant.options)
        else:
            key.update(reference=self._bare_attack(variant).reference.to_dict())
        return key

    def _bare_attack(self, variant: AttackVariant):
        """The attack built without calibration, to read its settings (kmeans stands in for the decider)."""
        options = dict(variant.options)
        if "decider" in options and self.needs_calibration(variant):
            options["decider"] = "kmeans"
        return build_attack(variant.name, options)

    def calibration(self, variant: AttackVariant, name: str, seed: int, setting: KnowledgeConfig, summary: RunSummary):
        """The variant's calibration for targets of (dataset, seed, setting), from the store when present."""
        key = self.calibration_key(variant, name, seed, setting)
        if key is None:
            return None
        memo = config_hash(key)
        if memo in self._calibrations:
            return self._calibrations[memo]
        draw = self.draw(name, seed, setting, self.original(name, seed).model)
        start, cpu = time.perf_counter(), time.process_time()
        if variant.calibrate:
            calibration, cached = self._inversion_calibration(variant, name, draw, setting, key)
        else:
            calibration, cached = self._parameter_calibration(variant, name, draw, setting)
        summary.count("calibration", "cached" if cached else "computed")
        if not cached:
            summary.add_seconds("calibration", time.perf_counter() - start)
            summary.add_seconds("calibration_cpu", time.process_time() - cpu)
        self._calibrations[memo] = calibration
        return calibration

    def _parameter_calibration(self, variant, name, draw, setting):
        from labelleak.attacks.parameter import ReferenceConfig

        reference = ReferenceConfig(**self._bare_attack(variant).reference.to_dict())
        # the shadow module caches under its own key; probing it first tells computed from cached
        before = _count_files(self.store.root / "shadow-calibration")
        calibration = calibrate(
            self.dataset(name),
            draw,
            config=self.shadow_config(setting),
            eval_seeds=self.config.seeds,
            reference=reference,
            arch=self.dataset_config(name).arch,
            store=self.store,
        )
        return calibration, _count_files(self.store.root / "shadow-calibration") == before

    def _inversion_calibration(self, variant, name, draw, setting, key):
        from labelleak.attacks.criteria import InversionCalibration, fit_calibration

        stored = self.store.load_json("inversion-calibration", key)
        if stored is not None:
            return InversionCalibration.from_dict(stored), True
        attack = build_attack(variant.name, variant.options)
        readings, forgotten = [], []
        for shadow in shadow_targets(
            self.dataset(name),
            draw,
            config=self.shadow_config(setting),
            eval_seeds=self.config.seeds,
            arch=self.dataset_config(name).arch,
            store=self.store,
        ):
            view = _view(shadow.unlearned, attack.requires)
            readings.append(attack.run(view).readings())
            forgotten.append(shadow.forget_classes)
        calibration = fit_calibration(readings, forgotten, criterion=attack.criterion)
        self.store.save_json("inversion-calibration", key, calibration.to_dict())
        return calibration, False


def _count_files(directory: Path) -> int:
    return sum(1 for _ in directory.glob("*/result.json")) if directory.is_dir() else 0


def _knowledge_key(setting: KnowledgeConfig, seed: int) -> dict[str, Any]:
    # the setting's name is a label only: two identically configured settings share results
    return {k: v for k, v in setting.to_dict().items() if k != "name"} | {"seed": seed}


def _view(model, level: str):
    """The access view of a model at ``level`` (the least the attack declares it needs)."""
    spec = model.spec
    shape = (spec.in_channels, spec.image_size, spec.image_size)
    if level == "weights":
        return WeightsAccess.of_classifier(model)
    if level == "gradients":
        return GradientAccess(model, num_classes=spec.num_classes, input_shape=shape)
    return QueryAccess.from_model(model, num_classes=spec.num_classes, input_shape=shape)


def _attack_flags(ctx: Context, variant: AttackVariant):
    """An object carrying the attack's ``needs_*`` flags (an instance when one can be built uncalibrated)."""
    from labelleak.attacks.parameter import CalibrationError

    try:
        return build_attack(variant.name, variant.options)
    except CalibrationError:
        return ctx.registry.get(variant.name)


def _options_for(ctx: Context, variant: AttackVariant, cell: Cell) -> dict[str, Any]:
    options = dict(variant.options)
    if getattr(ctx.registry.get(variant.name), "seed_per_target", False) and "seed" not in options:
        options["seed"] = derive_seed(cell.seed, cell.id, variant.name) % (2**31)
    return options


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def cell_plan(ctx: Context, cell: Cell) -> list[dict[str, Any]]:
    """The (variant, knowledge setting) pairs of a cell with the cache key of each row."""
    target = ctx.target_key(cell)
    plan = []
    for variant in ctx.variants:
        flags = _attack_flags(ctx, variant)
        for setting in knowledge_settings_for(flags, ctx.config.knowledge):
            options = _options_for(ctx, variant, cell)
            key = {
                "stage": "attack-row",
                "version": ROW_VERSION,
                "target": target,
                "attack": variant.name,
                "options": options,
                "knowledge": _knowledge_key(setting, ctx.knowledge_seed(cell.seed)),
                "calibration": ctx.calibration_key(variant, cell.dataset, cell.seed, setting),
            }
            revision = ctx.registry.get(variant.name).revision(options)
            if revision > 1:
                # only revised algorithms carry it, so the rows of every other attack keep their keys
                key["revision"] = revision
            plan.append({"variant": variant, "setting": setting, "options": options, "key": key})
    return plan


def run_cell(ctx: Context, cell: Cell) -> dict[str, Any]:
    """Unlearn (or load) the cell's target and produce every row; returns rows, utility and counts."""
    summary = RunSummary(results_dir=ctx.results_dir)
    plan = cell_plan(ctx, cell)
    rows: list[dict[str, Any] | None] = [ctx.store.load_json("attack-row", p["key"]) for p in plan]
    cached_rows = sum(r is not None for r in rows)
    summary.count("row", "cached", cached_rows)

    from labelleak.experiments.stages import unlearn_original

    original = ctx.original(cell.dataset, cell.seed)
    dataset = ctx.dataset(cell.dataset)
    cpu = time.process_time()
    result = unlearn_original(
        original,
        dataset,
        method=cell.method,
        params=ctx.config.params_for(cell.dataset, cell.method),
        forget_classes=cell.forget,
        seed=cell.seed,
        store=ctx.store,
    )
    cpu = time.process_time() - cpu
    summary.count("unlearned", "cached" if result.cached else "computed")
    # CPU seconds (one torch thread) estimate an uncontended run's time on a shared machine
    timing_key = ctx.target_key(cell)
    if not result.cached:
        summary.add_seconds("unlearned", result.metrics["seconds"])
        ctx.store.save_json("unlearn-timing", timing_key, {"cpu_seconds": cpu, "threads": torch.get_num_threads()})
    timing = ctx.store.load_json("unlearn-timing", timing_key) or {}
    utility = {
        **_cell_fields(ctx, cell),
        "params": json.dumps(result.params, sort_keys=True),
        "original_test_acc": original.metrics["test_accuracy"],
        **{k: float(v) for k, v in result.metrics.items()},
        "cpu_seconds": timing.get("cpu_seconds"),
    }

    draws: dict[KnowledgeConfig, Any] = {}
    for i, item in enumerate(plan):
        if rows[i] is not None:
            # a stored row may come from another experiment: its labels must be this run's
            rows[i] = {**rows[i], **_labels(ctx, cell, item)}
            _export_prototypes(ctx, cell, item, None)
            continue
        variant, setting = item["variant"], item["setting"]
        calibration = ctx.calibration(variant, cell.dataset, cell.seed, setting, summary)
        attack = build_attack(variant.name, item["options"], calibration=calibration)
        if setting not in draws:
            draws[setting] = ctx.draw(
                cell.dataset,
                cell.seed,
                setting,
                original.model,
                exclude=cell.forget if setting.exclude_forgotten else (),
            )
        draw = draws[setting]
        start, cpu = time.perf_counter(), time.process_time()
        outcome = attack.infer(_view(result.model, attack.requires), knowledge=draw.knowledge)
        cpu = time.process_time() - cpu
        summary.add_seconds(f"attack:{variant.name}", time.perf_counter() - start)
        row = _row(ctx, cell, item, outcome, result.params, calibration)
        row["cpu_seconds"] = round(cpu, 4)
        ctx.store.save_json("attack-row", item["key"], row)
        _export_prototypes(ctx, cell, item, outcome.artifacts)
        summary.count("row", "computed")
        rows[i] = row
    return {"cell": cell.id, "rows": rows, "utility": utility, "summary": summary.to_dict(), "cached_rows": cached_rows}


def _cell_fields(ctx: Context, cell: Cell) -> dict[str, Any]:
    d = ctx.dataset_config(cell.dataset)
    return {
        "experiment": ctx.config.name,
        "cell": cell.id,
        "dataset": cell.dataset,
        "arch": d.arch,
        "epochs": d.epochs,
        "seed": cell.seed,
        "method": cell.method,
        "forget": "+".join(map(str, cell.forget)),
        "n_forget": len(cell.forget),
    }


def _labels(ctx: Context, cell: Cell, item: dict[str, Any]) -> dict[str, Any]:
    """The fields of a row that name it within this experiment (not part of its cache key)."""
    variant = item["variant"]
    return {
        **_cell_fields(ctx, cell),
        "attack_label": variant.label,
        **{f"opt_{k}": item["options"][k] for k in variant.varied},
        "knowledge": item["setting"].name,
    }


def _row(
    ctx: Context, cell: Cell, item: dict[str, Any], outcome, params: dict[str, Any], calibration
) -> dict[str, Any]:
    variant, setting = item["variant"], item["setting"]
    scores = np.asarray(outcome.scores, dtype=np.float64)
    truth = cell.forget
    precision, recall, f1 = metrics.set_precision_recall_f1(outcome.predicted, truth)
    options = item["options"]
    row = {
        **_labels(ctx, cell, item),
        "method_params": json.dumps(params, sort_keys=True),
        "attack": variant.name,
        "access": outcome.access,
        "attack_options": json.dumps(options, sort_keys=True),
        "knowledge_description": outcome.knowledge,
        "aux_per_class": setting.aux_per_class,
        "unrelated": setting.unrelated,
        "exclude_forgotten": setting.exclude_forgotten,
        "original_given": setting.original,
        "calibration": getattr(calibration, "description", "")
        or (json.dumps(calibration.to_dict()) if hasattr(calibration, "to_dict") else ""),
        "scores": json.dumps([round(float(s), 6) for s in scores]),
        "predicted": "+".join(map(str, outcome.predicted)),
        "truth": "+".join(map(str, truth)),
        "success": metrics.exact_match(outcome.predicted, truth),
        "rank": max(metrics.true_class_ranks(scores, truth)),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "queries": outcome.queries,
        "seconds": round(float(outcome.seconds), 4),
    }
    return row


def _export_prototypes(ctx: Context, cell: Cell, item: dict[str, Any], artifacts: dict[str, Any] | None) -> None:
    """Keep inversion prototypes (with confidences and profiles) of single-class targets for the report's grids.

    They go to the store with the row (so a resumed run into a new directory still has them) and
    to ``RESULTS_DIR/prototypes/``.
    """
    if len(cell.forget) != 1:
        return
    key = item["key"]
    if artifacts is not None:
        if "prototypes" not in artifacts or "confidence" not in artifacts:
            return
        tensors = {
            "prototypes": torch.as_tensor(artifacts["prototypes"]).float(),
            "confidence": torch.as_tensor(np.asarray(artifacts["confidence"], dtype=np.float32)),
        }
        if artifacts.get("profiles") is not None:
            tensors["profiles"] = torch.as_tensor(np.asarray(artifacts["profiles"], dtype=np.float32))
        ctx.store.save_tensors("prototypes", key, tensors)
    else:
        tensors = ctx.store.load_tensors("prototypes", key)
        if tensors is None:
            return
    from safetensors.torch import save as save_bytes

    name = _safe(f"{cell.id}__{item['variant'].label}__{item['setting'].name}") + ".safetensors"
    path = ctx.results_dir / "prototypes" / name
    if not path.exists():
        metadata = {
            "cell": cell.id,
            "dataset": cell.dataset,
            "method": cell.method,
            "forget": str(cell.forget[0]),
            "attack": item["variant"].label,
            "knowledge": item["setting"].name,
            "class_names": json.dumps(list(ctx.dataset(cell.dataset).class_names)),
        }
        atomic_write_bytes(path, save_bytes({k: v.contiguous() for k, v in tensors.items()}, metadata=metadata))


# ---------------------------------------------------------------------------------------------
# worker processes

_WORKER: Context | None = None


def _die_with_parent() -> None:
    """Have the kernel end this worker when the runner dies (Linux only; elsewhere a no-op).

    Without it, killing the runner (SIGTERM, SIGKILL, the OOM killer) leaves its workers computing
    their cells to the end, competing with the re-run that resumes the grid.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() == 1:  # the runner died before the line above took effect
        os._exit(1)


def prepare_dataset(ctx: Context, dataset: str, summary: RunSummary) -> None:
    """Stages 1-2 of one dataset, once: θ_o of every seed and every calibration its cells use.

    Cells then only load them, so parallel workers never build the same artifact twice.
    """
    for seed in ctx.config.seeds:
        ctx.original(dataset, seed, summary)
        for variant in ctx.variants:
            for setting in knowledge_settings_for(_attack_flags(ctx, variant), ctx.config.knowledge):
                ctx.calibration(variant, dataset, seed, setting, summary)


def _init_worker(config: ExperimentConfig, store_root: str | None, results_dir: str) -> None:
    global _WORKER
    _die_with_parent()
    torch.set_num_threads(1)
    logging.getLogger("labelleak").setLevel(logging.WARNING)
    _WORKER = Context(config, store_root=store_root, results_dir=results_dir)


def _work(cell: Cell) -> dict[str, Any]:
    assert _WORKER is not None
    return run_cell(_WORKER, cell)


def _prepare_work(dataset: str) -> dict[str, Any]:
    assert _WORKER is not None
    summary = RunSummary(results_dir=_WORKER.results_dir)
    prepare_dataset(_WORKER, dataset, summary)
    return summary.to_dict()


# ---------------------------------------------------------------------------------------------


def cell_file(results_dir: Path, cell: Cell) -> Path:
    return results_dir / "cells" / f"{cell.id}.json"


def _finished(path: Path, key: str) -> dict[str, Any] | None:
    """The cell file's content when it holds the finished cell of ``key``, else None."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except ValueError:
        return None
    return data if data.get("key") == key else None


def _relabel(ctx: Context, cell: Cell, plan: list[dict[str, Any]], path: Path, data: dict[str, Any]) -> None:
    """Give a finished cell's rows (``data``, read from ``path``) this run's labels: a config may rename
    its experiment, attack variants or knowledge settings without changing any key (rows follow the
    plan's order)."""
    rows = [{**row, **_labels(ctx, cell, item)} for row, item in zip(data["rows"], plan)]
    utility = {**data["utility"], **_cell_fields(ctx, cell)}
    if rows != data["rows"] or utility != data["utility"]:
        atomic_write_json(path, {**data, "rows": rows, "utility": utility})


def run_experiment(
    config: ExperimentConfig,
    *,
    results_dir: str | os.PathLike,
    store: ArtifactStore | None = None,
    jobs: int = 1,
    verbose: bool = False,
    command: str = "",
    pilot: int | None = None,
) -> RunSummary:
    """Run every cell of ``config`` into ``results_dir`` (resuming a previous run there).

    Args:
        config: a validated experiment (:func:`~labelleak.experiments.config.load_config`).
        results_dir: where cell files, ``results.csv``, ``utility.csv`` and ``run.json`` go.
        store: the artifact store (default: ``$LABELLEAK_CACHE`` or ~/.cache/labelleak).
        jobs: cells run in this many spawned worker processes (1 = in this process).
        verbose: progress bar over cells (with ETA) and per-stage log lines.
        command: the command line, recorded in ``run.json``.
        pilot: run only the first ``pilot`` forget sets of every dataset (for :func:`estimate_seconds`).
    """
    from labelleak.report.tables import write_results
    from labelleak.validation import check_number

    check_number("jobs", jobs, low=1, high=256, integer=True)
    if pilot is not None:
        check_number("pilot", pilot, low=1, integer=True)
    started = time.time()
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    store = store or ArtifactStore()
    store_root = str(store.root)
    config = available_datasets(config)
    ctx = Context(config, store_root=store_root, results_dir=str(results_dir))
    summary = RunSummary(results_dir=results_dir)
    num_classes = {d.name: ctx.dataset(d.name).num_classes for d in config.datasets}
    all_cells = cells(config, num_classes=num_classes, pilot=pilot)
    summary.cells_total = len(all_cells)
    atomic_write_json(results_dir / "config.json", config.to_dict())

    plans = {cell: cell_plan(ctx, cell) for cell in all_cells}
    keys = {cell: config_hash({"rows": [p["key"] for p in plans[cell]]}) for cell in all_cells}
    finished = {cell: _finished(cell_file(results_dir, cell), keys[cell]) for cell in all_cells}
    todo = [c for c in all_cells if finished[c] is None]
    for cell, data in finished.items():
        if data is not None:
            _relabel(ctx, cell, plans[cell], cell_file(results_dir, cell), data)
    summary.cells_skipped = len(all_cells) - len(todo)
    if summary.cells_skipped:
        logger.info(
            "resuming in %s: %d of %d cells finished earlier are skipped, %d to run",
            results_dir,
            summary.cells_skipped,
            len(all_cells),
            len(todo),
        )

    def finish(cell: Cell, out: dict[str, Any]) -> None:
        atomic_write_json(
            cell_file(results_dir, cell),
            {"key": keys[cell], "cell": cell.id, "rows": out["rows"], "utility": out["utility"]},
        )
        summary.merge(out["summary"])
        bar.update()
        if out["cached_rows"]:
            logger.info("cell %s: %d of %d rows loaded from the store", cell.id, out["cached_rows"], len(out["rows"]))

    bar = tqdm(
        total=len(all_cells),
        initial=summary.cells_skipped,
        desc=f"{config.name} cells",
        unit="cell",
        disable=not verbose,
        dynamic_ncols=True,
    )
    datasets = [d.name for d in config.datasets if any(c.dataset == d.name for c in todo)]
    try:
        if jobs == 1 or len(todo) <= 1:
            for dataset in datasets:
                prepare_dataset(ctx, dataset, summary)
                for cell in (c for c in todo if c.dataset == dataset):
                    finish(cell, run_cell(ctx, cell))
                # a partial results.csv after every dataset, so a long run can be reported midway
                write_results(results_dir, [cell_file(results_dir, c) for c in all_cells])
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor, as_completed

            with ProcessPoolExecutor(
                max_workers=jobs,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(config, store_root, str(results_dir)),
            ) as pool:
                # the workers prepare the other datasets while this process prepares the first, then
                # they run one dataset's cells while this process waits for the next preparation
                preparing = {dataset: pool.submit(_prepare_work, dataset) for dataset in datasets[1:]}
                pending = {}
                for dataset in datasets:
                    if dataset in preparing:
                        summary.merge(preparing.pop(dataset).result())
                    else:
                        prepare_dataset(ctx, dataset, summary)
                    pending.update({pool.submit(_work, cell): cell for cell in todo if cell.dataset == dataset})
                    for future in [f for f in pending if f.done()]:
                        finish(pending.pop(future), future.result())
                    write_results(results_dir, [cell_file(results_dir, c) for c in all_cells])
                for future in as_completed(list(pending)):
                    finish(pending.pop(future), future.result())
    finally:
        bar.close()

    write_results(results_dir, [cell_file(results_dir, c) for c in all_cells])
    summary.wall_seconds = time.time() - started
    atomic_write_json(
        results_dir / "run.json",
        {
            "experiment": config.name,
            "config_source": config.source,
            "command": command,
            "git_revision": git_revision(),
            "machine": machine(),
            "jobs": jobs,
            "store": store_root,
            "pilot": pilot,
            "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **summary.to_dict(),
        },
    )
    return summary


def available_datasets(config: ExperimentConfig) -> ExperimentConfig:
    """``config`` without its optional datasets whose files are missing (each skip is logged)."""
    from dataclasses import replace

    from labelleak.data import DataError, load_dataset

    kept = []
    for d in config.datasets:
        if d.optional:
            try:
                load_dataset(d.name, root=d.data_root)
            except DataError as err:
                logger.warning("skipping optional dataset %s: %s", d.name, err)
                continue
        kept.append(d)
    if not kept:
        from labelleak.experiments.config import ConfigError

        raise ConfigError("none of the config's datasets is available")
    return replace(config, datasets=tuple(kept))


def estimate_seconds(
    config: ExperimentConfig, pilot_dir: str | os.PathLike, *, jobs: int = 1, store: ArtifactStore | None = None
) -> dict[str, Any]:
    """Predict the duration of the full grid of ``config`` from a (possibly unfinished) pilot run.

    Model: per (dataset, method) the mean unlearning time of the pilot's targets, plus per dataset
    the mean attack time of a target (all its rows), times the full grid's number of targets,
    divided over ``jobs`` workers; plus the one-time stages: θ_o (its recorded training time) and
    the shadow calibration the pilot measured. Stage times are CPU seconds where the pilot recorded
    them (one torch thread per process: close to the wall time on an otherwise idle machine), else
    wall seconds. A (dataset, method) the pilot did not reach is **extrapolated**: from the same
    method on a measured dataset, scaled by the ratio of θ_o's training time per epoch (by θ_o's
    whole training time for ``retrain``, which repeats it), or, for a method measured nowhere, from
    the mean of the measured methods on that dataset; attack times scale the same way. The
    extrapolated pairs are listed in the result.
    """
    import pandas as pd

    from labelleak.report.tables import write_results

    pilot_dir = Path(pilot_dir)
    run_path = pilot_dir / "run.json"
    run = json.loads(run_path.read_text()) if run_path.is_file() else {}
    cell_files = sorted((pilot_dir / "cells").glob("*.json"))
    if not cell_files:
        from labelleak.report.tables import ResultsError

        raise ResultsError(f"{pilot_dir} holds no finished cell yet")
    rows = pd.read_csv(write_results(pilot_dir, cell_files)[0])
    utility = pd.read_csv(pilot_dir / "utility.csv")
    store = store or ArtifactStore(run.get("store"))
    ctx = Context(available_datasets(config), store_root=str(store.root), results_dir=str(pilot_dir))
    names = [d.name for d in ctx.config.datasets]
    full = cells(ctx.config, num_classes={n: ctx.dataset(n).num_classes for n in names})
    per_cell = Counter((c.dataset, c.method) for c in full)
    train = {n: ctx.original(n, ctx.config.seeds[0]).metrics for n in names}

    def cost(frame: pd.DataFrame) -> pd.Series:
        return frame["cpu_seconds"].fillna(frame["seconds"]) if "cpu_seconds" in frame else frame["seconds"]

    utility, rows = utility[utility["dataset"].isin(names)], rows[rows["dataset"].isin(names)]
    unlearn = utility.assign(t=cost(utility)).groupby(["dataset", "method"])["t"].mean().to_dict()
    per_target = rows.assign(t=cost(rows)).groupby(["dataset", "cell"])["t"].sum().groupby("dataset").mean().to_dict()

    def ratio(target: str, source: str, method: str = "") -> float:
        key = "train_seconds" if method == "retrain" else "seconds_per_epoch"
        return float(train[target][key]) / float(train[source][key])

    extrapolated = []
    by_dataset = Counter()
    for (dataset, method), n in per_cell.items():
        if (dataset, method) in unlearn:
            by_dataset[dataset] += n * unlearn[(dataset, method)]
            continue
        extrapolated.append(f"{dataset}/{method}")
        sources = [(d, t) for (d, m), t in unlearn.items() if m == method]
        if sources:
            estimate = float(np.mean([t * ratio(dataset, d, method) for d, t in sources]))
        else:
            same = [t for (d, m), t in unlearn.items() if d == dataset]
            estimate = (
                float(np.mean(same))
                if same
                else float(np.mean([t * ratio(dataset, d) for (d, m), t in unlearn.items()]))
            )
        by_dataset[dataset] += n * estimate
    unlearning = sum(by_dataset.values())
    attacks = 0.0
    for dataset in names:
        n = sum(k for (d, _), k in per_cell.items() if d == dataset)
        if dataset in per_target:
            work = n * per_target[dataset]
        else:
            work = n * float(np.mean([t * ratio(dataset, d) for d, t in per_target.items()]))
        attacks += work
        by_dataset[dataset] += work
    originals = sum(float(train[n]["train_seconds"]) for n in names) * len(ctx.config.seeds)
    seconds = run.get("seconds", {})
    calibration = seconds.get("calibration_cpu", seconds.get("calibration", 0.0))
    return {
        "cells": len(full),
        "unlearning": unlearning,
        "attacks": attacks,
        "originals": originals,
        "calibration": calibration,
        "total": originals + calibration + (unlearning + attacks) / jobs,
        "jobs": jobs,
        "extrapolated": sorted(extrapolated),
        "by_dataset": dict(by_dataset),
        "pilot_wall": run.get("wall_seconds"),
        "pilot_cells": len(cell_files),
        "pilot_finished": bool(run),
    }


def git_revision() -> str:
    """The git revision of the labelleak source tree (with ``+dirty`` when ``src/`` or ``pyproject.toml``
    has local changes; results written into the checkout, e.g. under ``docs/results``, do not count), or ''."""
    root = Path(__file__).resolve().parents[3]
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--", "src", "pyproject.toml"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return rev + ("+dirty" if dirty else "")


def machine() -> str:
    return (
        f"{platform.platform()}; {os.cpu_count()} CPUs; python {platform.python_version()}; "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
    )
