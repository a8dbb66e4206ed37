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
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from labelleak.data import DataError, load_dataset
from labelleak.device import default_device
from labelleak.experiments.config import ConfigError, ExperimentConfig
from labelleak.experiments.context import Context, RunSummary
from labelleak.experiments.executor import check_executor, import_ray, make_executor
from labelleak.experiments.grid import Cell, cells
from labelleak.experiments.plan import CellPlan, cell_fields, plan_cell, row_labels
from labelleak.experiments.provenance import git_revision, machine, portable_path
from labelleak.report.tables import write_results
from labelleak.store import ArtifactStore, atomic_write_json
from labelleak.unlearning import forgot
from labelleak.validation import check_number

logger = logging.getLogger(__name__)

__all__ = ["RunSummary", "available_datasets", "cell_file", "run_experiment"]


def _check_aux_classes(config: ExperimentConfig, num_classes: dict[str, int]) -> None:
    """Refuse, before any training, a partial knowledge setting whose ``aux_classes`` leaves no
    class of some dataset out of A (K is only known once the datasets are loaded)."""
    for i, setting in enumerate(config.knowledge):
        for name, k in num_classes.items():
            if setting.aux_classes is not None and setting.aux_classes >= k:
                raise ConfigError(
                    f"knowledge[{i}].aux_classes must be an integer in [1, {k - 1}] (fewer than the {k} classes "
                    f"of {name}), got {setting.aux_classes}"
                )


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


def _relabel(ctx: Context, plan: CellPlan, path: Path, data: dict[str, Any]) -> None:
    """Give a finished cell's rows (``data``, read from ``path``) this run's labels: a config may rename
    its experiment, attack variants or knowledge settings without changing any key (rows follow the
    plan's order)."""
    rows = [{**row, **row_labels(ctx, plan.cell, item)} for row, item in zip(data["rows"], plan.rows)]
    utility = {**data["utility"], **cell_fields(ctx, plan.cell)}
    if "forgot" not in utility:  # a cell finished before the column existed
        utility["forgot"] = forgot(float(utility["forget_test_acc"]), ctx.dataset(plan.cell.dataset).num_classes)
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
    executor: str = "local",
    address: str | None = None,
) -> RunSummary:
    """Run every cell of ``config`` into ``results_dir`` (resuming a previous run there).

    Models train and run on the process's default device (:func:`~labelleak.device.default_device`,
    handed to the workers too), which ``run.json`` records; it is in no cache key.

    Args:
        config: a validated experiment (:func:`~labelleak.experiments.config.load_config`).
        results_dir: where cell files, ``results.csv``, ``utility.csv`` and ``run.json`` go.
        store: the artifact store (default: ``$LABELLEAK_CACHE`` or ~/.cache/labelleak).
        jobs: cells run in this many spawned worker processes (1 = in this process); with the ray
            executor, the CPUs of the local Ray it starts.
        verbose: progress bar over cells (with ETA) and per-stage log lines.
        command: the command line, recorded in ``run.json``.
        pilot: run only the first ``pilot`` forget sets of every dataset (for
            :func:`~labelleak.experiments.estimate.estimate_seconds`).
        executor: "local" (this process or a local pool) or "ray" (:class:`~labelleak.experiments.executor.RayExecutor`).
        address: the Ray cluster to run on (ray executor only; None starts a local Ray).
    """
    check_number("jobs", jobs, low=1, high=256, integer=True)
    # a bad choice, or Ray missing, fails before any work
    if check_executor(executor, address=address) == "ray":
        import_ray()
    if pilot is not None:
        check_number("pilot", pilot, low=1, integer=True)
    started = time.time()
    # the code this process runs is the checkout's at start: a commit made while the cells run is not it
    revision = git_revision()
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    store = store or ArtifactStore()
    store_root = str(store.root)
    requested = [d.name for d in config.datasets]
    config = available_datasets(config)
    skipped = [name for name in requested if name not in {d.name for d in config.datasets}]
    # what each dataset's shadow models are unlearned with (their methods' resolved defaults, read
    # now, like the revision): the calibrated rows depend on it and the config does not say it
    shadow_params = {d.name: config.shadow.method_params(d.name) for d in config.datasets}
    ctx = Context(config, store_root=store_root, results_dir=str(results_dir), verbose=verbose)
    summary = RunSummary(results_dir=results_dir)
    num_classes = {d.name: ctx.dataset(d.name).num_classes for d in config.datasets}
    _check_aux_classes(config, num_classes)
    all_cells = cells(config, num_classes=num_classes, pilot=pilot)
    summary.cells_total = len(all_cells)
    atomic_write_json(results_dir / "config.json", config.to_dict())

    plans = {cell: plan_cell(ctx, cell) for cell in all_cells}
    finished = {cell: _finished(cell_file(results_dir, cell), plans[cell].key) for cell in all_cells}
    todo = [c for c in all_cells if finished[c] is None]
    for cell, data in finished.items():
        if data is not None:
            _relabel(ctx, plans[cell], cell_file(results_dir, cell), data)
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
            {"key": plans[cell].key, "cell": cell.id, "rows": out["rows"], "utility": out["utility"]},
        )
        summary.merge(out["summary"])
        bar.update()
        if out["cached_rows"]:
            logger.info("cell %s: %d of %d rows loaded from the store", cell.id, out["cached_rows"], len(out["rows"]))

    bar = _CellBar(
        total=len(all_cells),
        initial=summary.cells_skipped,
        desc=f"{config.name} cells",
        unit="cell",
        disable=not verbose,
        dynamic_ncols=True,
    )
    datasets = [d.name for d in config.datasets if any(c.dataset == d.name for c in todo)]

    def checkpoint() -> None:
        # a partial results.csv after every dataset, so a long run can be reported midway
        write_results(results_dir, [cell_file(results_dir, c) for c in all_cells])

    try:
        make_executor(executor, jobs=jobs, cells_to_run=len(todo), address=address).execute(
            ctx,
            datasets=datasets,
            todo=todo,
            summary=summary,
            finish=finish,
            checkpoint=checkpoint,
            prepared=bar.prepared,
        )
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
            "git_revision": revision,
            "machine": machine(),
            "jobs": jobs,
            "executor": executor,
            "device": str(default_device()),
            "datasets_skipped": skipped,
            "shadow_params": shadow_params,
            "store": portable_path(store_root),
            "pilot": pilot,
            "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **summary.to_dict(),
        },
    )
    return summary


class _CellBar:
    """The progress bar over cells. It appears once the first dataset's shared stages (θ_o, the shadow
    calibration, with their own bars and log lines) are done, and pauses while this process prepares a
    later dataset, so that its rate and ETA measure cells only."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.bar: Any = None

    def prepared(self, dataset: str = "") -> None:
        if self.bar is None:
            self.bar = tqdm(**self.options)
        else:
            self.bar.unpause()  # leave the preparation out of the elapsed time

    def update(self) -> None:
        if self.bar is None:
            self.prepared()
        self.bar.update()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def available_datasets(config: ExperimentConfig) -> ExperimentConfig:
    """``config`` without its optional datasets whose files are missing (each skip is logged)."""
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
        raise ConfigError("none of the config's datasets is available")
    return replace(config, datasets=tuple(kept))
