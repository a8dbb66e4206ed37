"""Wall time of one fixed grid under each executor: local (1 and 2 worker processes) against Ray
(a local Ray with 1 and 2 CPUs), each from an empty artifact store, and Ray's overhead per cell.

    python benchmarks/executors.py [--config configs/quick.toml] [--workdir DIR]

Every run computes everything (θ_o, shadows, every cell) in a fresh store, so the rows compare
executors, not caches. The overhead per cell is (Ray's wall time − the local executor's with the
same number of CPUs) / cells, which includes Ray's start-up. The results of every run are checked
to be identical to the first one's (timing columns aside). Needs ``pip install -e ".[ray]"``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from labelleak.experiments.config import load_config
from labelleak.experiments.runner import run_experiment
from labelleak.report.markdown import markdown_header, markdown_row
from labelleak.store import ArtifactStore

RUNS = (("local", 1), ("local", 2), ("ray", 1), ("ray", 2))


def results(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path / "results.csv").drop(columns=["seconds", "cpu_seconds"])
    return frame.sort_values(["cell", "attack_label"]).reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=Path(__file__).parent.parent / "configs" / "quick.toml")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.mkdtemp(prefix="labelleak_executors_")))
    args = parser.parse_args()
    torch.set_num_threads(1)  # as `labelleak run` does: one thread per process, whatever the executor
    config = load_config(args.config)
    print(f"{config.name}, load average before: {os.getloadavg()[0]:.2f}")
    walls: dict[tuple[str, int], float] = {}
    first = None
    for executor, jobs in RUNS:
        out = args.workdir / f"{executor}-{jobs}"
        start = time.perf_counter()
        summary = run_experiment(
            config, results_dir=out, store=ArtifactStore(out / "cache"), jobs=jobs, executor=executor
        )
        walls[executor, jobs] = time.perf_counter() - start
        cells = summary.cells_total
        frame = results(out)
        if first is None:
            first = frame
        pd.testing.assert_frame_equal(first, frame)
        print(f"{executor} x{jobs}: {walls[executor, jobs]:.1f} s wall, load {os.getloadavg()[0]:.2f}", flush=True)
    print()
    print(markdown_header(["executor", "CPUs", "wall s", "Ray overhead per cell s"]))
    for executor, jobs in RUNS:
        overhead = (walls[executor, jobs] - walls["local", jobs]) / cells if executor == "ray" else None
        print(
            markdown_row(
                [executor, jobs, f"{walls[executor, jobs]:.1f}", "" if overhead is None else f"{overhead:.2f}"]
            )
        )
    print(f"\n{cells} cells; every run's results.csv identical to the first's (timing columns aside)")


if __name__ == "__main__":
    main()
