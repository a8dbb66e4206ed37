"""Executing one cell: unlearn (or load) its target, then produce every planned row, each loaded
from the store when an identical row was computed before."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import torch
from safetensors.torch import save as save_bytes

from labelleak import metrics
from labelleak.attacks import ATTACKS, Attack, AttackResult
from labelleak.attacks.knowledge import KnowledgeDraw, forgotten_in_aux
from labelleak.experiments.config import KnowledgeConfig
from labelleak.experiments.context import Context, RunSummary
from labelleak.experiments.grid import Cell
from labelleak.experiments.plan import CellPlan, RowPlan, cell_fields, plan_cell, row_labels
from labelleak.store import atomic_write_bytes
from labelleak.targets import access_view
from labelleak.unlearning import forgot


def run_cell(ctx: Context, cell: Cell) -> dict[str, Any]:
    """Unlearn (or load) the cell's target and produce every row; returns rows, utility and counts."""
    summary = RunSummary(results_dir=ctx.results_dir)
    plan = plan_cell(ctx, cell)
    rows: list[dict[str, Any] | None] = [ctx.store.load_json("attack-row", row.key) for row in plan.rows]
    # a stored row whose stored prototypes are corrupt is recomputed, which stores them again
    rows = [r if r is None or _prototypes_readable(ctx, cell, row) else None for r, row in zip(rows, plan.rows)]
    cached_rows = sum(r is not None for r in rows)
    summary.count("row", "cached", cached_rows)

    original = ctx.original(cell.dataset, cell.seed)
    dataset = ctx.dataset(cell.dataset)
    cpu = time.process_time()
    result = ctx.unlearned(cell)
    cpu = time.process_time() - cpu
    summary.count("unlearned", "cached" if result.cached else "computed")
    # CPU seconds (one torch thread) estimate an uncontended run's time on a shared machine
    timing_key = ctx.target_key(cell)
    if not result.cached:
        summary.add_seconds("unlearned", result.metrics["seconds"])
        ctx.store.save_json("unlearn-timing", timing_key, {"cpu_seconds": cpu, "threads": torch.get_num_threads()})
    timing = ctx.store.load_json("unlearn-timing", timing_key) or {}
    utility = {
        **cell_fields(ctx, cell),
        "params": json.dumps(result.params, sort_keys=True),
        "original_test_acc": original.metrics["test_accuracy"],
        **{k: float(v) for k, v in result.metrics.items()},
        "cpu_seconds": timing.get("cpu_seconds"),
        # False: the target did not forget (forget-class test accuracy above max(0.2, 2/K))
        "forgot": forgot(float(result.metrics["forget_test_acc"]), dataset.num_classes),
    }

    draws: dict[KnowledgeConfig, KnowledgeDraw] = {}
    for i, row in enumerate(plan.rows):
        stored = rows[i]
        if stored is not None:
            # a stored row may come from another experiment: its labels must be this run's
            rows[i] = {**stored, **row_labels(ctx, cell, row)}
            _export_prototypes(ctx, cell, row, None)
            continue
        variant, setting = row.variant, row.setting
        attack: Attack
        if row.key["calibration"] is not None:
            attack = ctx.calibrated(variant, cell.dataset, cell.seed, setting, summary)
        else:
            attack = ATTACKS.build(variant.name, **row.options)
        if setting not in draws:
            draws[setting] = ctx.draw(cell.dataset, cell.seed, setting, original.model)
        start, cpu = time.perf_counter(), time.process_time()
        outcome = attack.infer(access_view(result.model, attack.requires), knowledge=draws[setting].knowledge)
        cpu = time.process_time() - cpu
        summary.add_seconds(f"attack:{variant.name}", time.perf_counter() - start)
        computed = _row(ctx, cell, row, outcome, result.params, attack)
        computed["cpu_seconds"] = round(cpu, 4)
        ctx.store.save_json("attack-row", row.key, computed)
        _export_prototypes(ctx, cell, row, outcome.artifacts)
        summary.count("row", "computed")
        rows[i] = computed
    return {
        "cell": cell.id,
        "rows": rows,
        "utility": utility,
        "summary": summary.to_dict(),
        "cached_rows": cached_rows,
    }


def _row(
    ctx: Context, cell: Cell, row: RowPlan, outcome: AttackResult, params: dict[str, Any], attack: Attack
) -> dict[str, Any]:
    setting = row.setting
    scores = np.asarray(outcome.scores, dtype=np.float64)
    truth = cell.forget
    aux_classes = ctx.aux_classes(cell.dataset, cell.seed, setting)
    precision, recall, f1 = metrics.set_precision_recall_f1(outcome.predicted, truth)
    return {
        **row_labels(ctx, cell, row),
        "method_params": json.dumps(params, sort_keys=True),
        "attack": row.variant.name,
        "access": outcome.access,
        "attack_options": json.dumps(row.options, sort_keys=True),
        "knowledge_description": outcome.knowledge,
        "knowledge_kind": setting.kind,
        "aux_per_class": setting.aux_per_class,
        # the classes a partial A held; whether C lies among them splits its rows in the report
        "aux_classes": " ".join(map(str, aux_classes)) if setting.kind == "partial" else "",
        "forgotten_in_aux": forgotten_in_aux(truth, aux_classes),
        "unrelated": setting.unrelated,
        "original_given": setting.original,
        "calibration": "" if attack.calibration_ is None else attack.calibration_.describe(),
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


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def _prototypes_readable(ctx: Context, cell: Cell, row: RowPlan) -> bool:
    """False when the row's prototypes are stored but unreadable (the store warns about them)."""
    if len(cell.forget) != 1 or not ctx.store.has_tensors("prototypes", row.key):
        return True
    return ctx.store.load_tensors("prototypes", row.key) is not None


def _export_prototypes(ctx: Context, cell: Cell, row: RowPlan, artifacts: dict[str, Any] | None) -> None:
    """Keep inversion prototypes (with confidences and profiles) of single-class targets for the report's grids.

    They go to the store with the row (so a resumed run into a new directory still has them) and
    to ``RESULTS_DIR/prototypes/``.
    """
    if len(cell.forget) != 1:
        return
    if artifacts is not None:
        if "prototypes" not in artifacts or "confidence" not in artifacts:
            return
        tensors = {
            "prototypes": torch.as_tensor(artifacts["prototypes"]).float(),
            "confidence": torch.as_tensor(np.asarray(artifacts["confidence"], dtype=np.float32)),
        }
        if artifacts.get("profiles") is not None:
            tensors["profiles"] = torch.as_tensor(np.asarray(artifacts["profiles"], dtype=np.float32))
        ctx.store.save_tensors("prototypes", row.key, tensors)
    else:
        stored = ctx.store.load_tensors("prototypes", row.key)
        if stored is None:
            return
        tensors = stored
    name = _safe(f"{cell.id}__{row.variant.label}__{row.setting.name}") + ".safetensors"
    path = ctx.results_dir / "prototypes" / name
    if not path.exists():
        metadata = {
            "cell": cell.id,
            "dataset": cell.dataset,
            "method": cell.method,
            "forget": str(cell.forget[0]),
            "attack": row.variant.label,
            "knowledge": row.setting.name,
            "class_names": json.dumps(list(ctx.dataset(cell.dataset).class_names)),
        }
        atomic_write_bytes(path, save_bytes({k: v.contiguous() for k, v in tensors.items()}, metadata=metadata))


__all__ = ["CellPlan", "run_cell"]
