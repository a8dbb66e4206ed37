"""Executors: how the cells of a run are scheduled. The runner hands an executor the datasets to
prepare and the cells to run; the executor calls ``finish`` with each cell's output, in any order.

* :class:`InProcessExecutor` — everything in this process, dataset by dataset.
* :class:`ProcessPoolExecutor` — spawned local worker processes with one torch thread each; the
  workers prepare the other datasets while this process prepares the first.
* :class:`RayExecutor` — every preparation and cell a Ray task, on a local Ray or an existing
  cluster (``pip install 'labelleak[ray]'``). Ray schedules, retries and places the tasks; the
  content-addressed store, on a path every node sees, is what the tasks share (docs/runner.md).

Workers run on this process's default device (:func:`labelleak.device.default_device`): the
executors hand its kind (``cpu`` or ``cuda``) to every worker, which resolves it on its own machine.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent import futures
from typing import Any, Protocol

import torch

from labelleak import LabelleakError
from labelleak.device import default_device, resolve_device, set_default_device
from labelleak.experiments import cells
from labelleak.experiments.config import ExperimentConfig
from labelleak.experiments.context import Context, RunSummary
from labelleak.experiments.grid import Cell, knowledge_settings_for
from labelleak.validation import ParameterError, check_choice

Finish = Callable[[Cell, dict[str, Any]], None]


def _nothing(dataset: str) -> None:
    pass


def prepare_dataset(ctx: Context, dataset: str, summary: RunSummary) -> None:
    """The shared stages of one dataset, once: θ_o of every seed and every calibration its cells use.

    Cells then only load them, so parallel workers never build the same artifact twice.
    """
    calibrated = [v for v in ctx.variants if ctx.calibrates(v)]
    for seed in ctx.config.seeds:
        ctx.original(dataset, seed, summary)
        for variant in calibrated:
            for setting in knowledge_settings_for(ctx.uncalibrated(variant), ctx.config.knowledge):
                ctx.calibrated(variant, dataset, seed, setting, summary)


class Executor(Protocol):
    def execute(
        self,
        ctx: Context,
        *,
        datasets: Sequence[str],
        todo: Sequence[Cell],
        summary: RunSummary,
        finish: Finish,
        checkpoint: Callable[[], None],
        prepared: Callable[[str], None] = _nothing,
    ) -> None:
        """Prepare ``datasets`` and run every cell of ``todo``, calling ``finish`` per cell,
        ``checkpoint`` after each dataset's cells were submitted (to write partial results) and
        ``prepared`` whenever this process finished preparing a dataset (so that the caller's
        progress rates can leave that time out)."""


class InProcessExecutor:
    """Every stage in this process, in order."""

    def execute(
        self,
        ctx: Context,
        *,
        datasets: Sequence[str],
        todo: Sequence[Cell],
        summary: RunSummary,
        finish: Finish,
        checkpoint: Callable[[], None],
        prepared: Callable[[str], None] = _nothing,
    ) -> None:
        for dataset in datasets:
            prepare_dataset(ctx, dataset, summary)
            prepared(dataset)
            for cell in (c for c in todo if c.dataset == dataset):
                finish(cell, cells.run_cell(ctx, cell))
            checkpoint()


class ProcessPoolExecutor:
    """Cells in ``jobs`` spawned worker processes (one torch thread each), sharing the store."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs

    def execute(
        self,
        ctx: Context,
        *,
        datasets: Sequence[str],
        todo: Sequence[Cell],
        summary: RunSummary,
        finish: Finish,
        checkpoint: Callable[[], None],
        prepared: Callable[[str], None] = _nothing,
    ) -> None:
        with futures.ProcessPoolExecutor(
            max_workers=self.jobs,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(ctx.config, str(ctx.store.root), str(ctx.results_dir), default_device().type),
        ) as pool:
            # the workers prepare the other datasets while this process prepares the first, then
            # they run one dataset's cells while this process waits for the next preparation
            preparing = {dataset: pool.submit(_prepare_work, dataset) for dataset in datasets[1:]}
            pending: dict[futures.Future, Cell] = {}
            for dataset in datasets:
                if dataset in preparing:
                    summary.merge(preparing.pop(dataset).result())
                else:
                    prepare_dataset(ctx, dataset, summary)
                    prepared(dataset)
                pending.update({pool.submit(_work, cell): cell for cell in todo if cell.dataset == dataset})
                for future in [f for f in pending if f.done()]:
                    finish(pending.pop(future), future.result())
                checkpoint()
            for future in futures.as_completed(list(pending)):
                finish(pending.pop(future), future.result())


class RayExecutor:
    """Preparations and cells as Ray tasks (``num_cpus`` each, Ray's retries on a lost worker).

    Args:
        address: an existing Ray cluster's address (``ray.init(address=...)``, e.g. ``auto`` or
            ``ray://head:10001``); None starts a local Ray on this machine with ``jobs`` CPUs.
        jobs: CPUs of the local Ray (ignored with ``address``: the cluster has its own).
        cpus_per_task: CPUs Ray reserves for each task, and its torch threads.

    Every dataset's shared stages (θ_o, the calibrations) are prepared by one task before its cells
    are submitted, so cells only load them; two cells that need the same artifact anyway are
    serialised by the store's per-artifact lock. Killed and re-run, the runner resumes from the
    finished cell files exactly as with the local executors.
    """

    def __init__(self, *, address: str | None = None, jobs: int = 1, cpus_per_task: int = 1) -> None:
        self.address, self.jobs, self.cpus_per_task = address, jobs, cpus_per_task

    def execute(
        self,
        ctx: Context,
        *,
        datasets: Sequence[str],
        todo: Sequence[Cell],
        summary: RunSummary,
        finish: Finish,
        checkpoint: Callable[[], None],
        prepared: Callable[[str], None] = _nothing,
    ) -> None:
        ray = import_ray()
        started_here = not ray.is_initialized()
        if started_here:
            if self.address is None:
                ray.init(num_cpus=self.jobs, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=self.address, log_to_driver=False)
        try:
            options = {"num_cpus": self.cpus_per_task, "max_retries": 2}
            prepare = ray.remote(_ray_prepare).options(**options)
            run = ray.remote(_ray_cell).options(**options)
            setting = (ctx.config, str(ctx.store.root), str(ctx.results_dir), self.cpus_per_task, default_device().type)
            preparing = {dataset: prepare.remote(*setting, dataset) for dataset in datasets}
            pending: dict[Any, Cell] = {}
            for dataset in datasets:
                summary.merge(ray.get(preparing.pop(dataset)))
                pending.update({run.remote(*setting, cell): cell for cell in todo if cell.dataset == dataset})
                checkpoint()
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                finish(pending.pop(done[0]), ray.get(done[0]))
        finally:
            if started_here:
                ray.shutdown()


def import_ray() -> Any:
    """The ray module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise LabelleakError("--executor ray needs Ray: pip install 'labelleak[ray]'") from None
    return ray


EXECUTORS = ("local", "ray")


def check_executor(name: str, *, address: str | None = None) -> str:
    """``name`` when it is a known executor and ``address`` is given only for ``ray``, else a
    one-line error."""
    check_choice("executor", name, EXECUTORS)
    if name != "ray" and address is not None:
        raise ParameterError(f"address is for the ray executor, got executor {name!r}")
    return name


def make_executor(
    name: str, *, jobs: int, cells_to_run: int, address: str | None = None
) -> InProcessExecutor | ProcessPoolExecutor | RayExecutor:
    """``local``: in this process for one job (or at most one cell to run), else a pool of ``jobs``
    workers; ``ray``: :class:`RayExecutor` (on ``address``, else a local Ray with ``jobs`` CPUs)."""
    if check_executor(name, address=address) == "ray":
        return RayExecutor(address=address, jobs=jobs)
    return InProcessExecutor() if jobs == 1 or cells_to_run <= 1 else ProcessPoolExecutor(jobs)


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


def _init_worker(config: ExperimentConfig, store_root: str, results_dir: str, device: str) -> None:
    global _WORKER
    _die_with_parent()
    torch.set_num_threads(1)
    set_default_device(resolve_device(device))
    logging.getLogger("labelleak").setLevel(logging.WARNING)
    _WORKER = Context(config, store_root=store_root, results_dir=results_dir)


def _work(cell: Cell) -> dict[str, Any]:
    assert _WORKER is not None
    return cells.run_cell(_WORKER, cell)


def _prepare_work(dataset: str) -> dict[str, Any]:
    assert _WORKER is not None
    return _prepared_summary(_WORKER, dataset)


def _prepared_summary(ctx: Context, dataset: str) -> dict[str, Any]:
    """:func:`prepare_dataset` in a worker, returning what it tallied for the runner to merge."""
    summary = RunSummary(results_dir=ctx.results_dir)
    prepare_dataset(ctx, dataset, summary)
    return summary.to_dict()


# ---------------------------------------------------------------------------------------------
# Ray tasks: each worker process keeps one Context per (config, store, results) it served

_RAY_CONTEXTS: dict[tuple[str, str, str], Context] = {}


def _ray_context(config: ExperimentConfig, store_root: str, results_dir: str, threads: int, device: str) -> Context:
    torch.set_num_threads(threads)
    set_default_device(resolve_device(device))
    key = (json.dumps(config.to_dict(), sort_keys=True, default=str), store_root, results_dir)
    if key not in _RAY_CONTEXTS:
        logging.getLogger("labelleak").setLevel(logging.WARNING)
        _RAY_CONTEXTS[key] = Context(config, store_root=store_root, results_dir=results_dir)
    return _RAY_CONTEXTS[key]


def _ray_prepare(
    config: ExperimentConfig, store_root: str, results_dir: str, threads: int, device: str, dataset: str
) -> dict:
    return _prepared_summary(_ray_context(config, store_root, results_dir, threads, device), dataset)


def _ray_cell(
    config: ExperimentConfig, store_root: str, results_dir: str, threads: int, device: str, cell: Cell
) -> dict:
    return cells.run_cell(_ray_context(config, store_root, results_dir, threads, device), cell)
