"""Executors: how the cells of a run are scheduled. The runner hands an executor the datasets to
prepare and the cells to run; the executor calls ``finish`` with each cell's output, in any order.

* :class:`InProcessExecutor` — everything in this process, dataset by dataset.
* :class:`ProcessPoolExecutor` — spawned local worker processes with one torch thread each; the
  workers prepare the other datasets while this process prepares the first.

A distributed engine plugs in here by implementing :class:`Executor`.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent import futures
from typing import Any, Protocol

import torch

from labelleak.attacks import ATTACKS
from labelleak.experiments import cells
from labelleak.experiments.config import ExperimentConfig
from labelleak.experiments.context import Context, RunSummary
from labelleak.experiments.grid import Cell, knowledge_settings_for

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
            for setting in knowledge_settings_for(ATTACKS.get(variant.name), ctx.config.knowledge):
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
            initargs=(ctx.config, str(ctx.store.root), str(ctx.results_dir)),
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


def local_executor(jobs: int, *, cells_to_run: int) -> InProcessExecutor | ProcessPoolExecutor:
    """In this process for one job (or at most one cell to run), else a pool of ``jobs`` workers."""
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


def _init_worker(config: ExperimentConfig, store_root: str, results_dir: str) -> None:
    global _WORKER
    _die_with_parent()
    torch.set_num_threads(1)
    logging.getLogger("labelleak").setLevel(logging.WARNING)
    _WORKER = Context(config, store_root=store_root, results_dir=results_dir)


def _work(cell: Cell) -> dict[str, Any]:
    assert _WORKER is not None
    return cells.run_cell(_WORKER, cell)


def _prepare_work(dataset: str) -> dict[str, Any]:
    assert _WORKER is not None
    summary = RunSummary(results_dir=_WORKER.results_dir)
    prepare_dataset(_WORKER, dataset, summary)
    return summary.to_dict()
