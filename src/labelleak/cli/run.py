"""``labelleak run CONFIG``: run an experiment grid (resumable) into a results directory."""

from __future__ import annotations

import shlex
from pathlib import Path

from labelleak.cli.common import add_verb
from labelleak.experiments.config import load_config
from labelleak.experiments.estimate import estimate_seconds
from labelleak.experiments.grid import attack_variants, describe
from labelleak.experiments.runner import available_datasets, run_experiment
from labelleak.store import ENV_VAR as CACHE_ENV
from labelleak.store import ArtifactStore


def register(subparsers) -> None:
    parser = add_verb(
        subparsers,
        "run",
        help="run an experiment grid from a TOML config (resumable)",
        description="Expand CONFIG (a TOML experiment file, see docs/runner.md) into targets\n"
        "(dataset x seed x forget set x unlearning method), run every attack on each and\n"
        "write results.csv, utility.csv and run.json into --out. Every stage is cached;\n"
        "re-running after an interruption skips finished cells and says so.",
        handler=run,
    )
    parser.add_argument("config", metavar="CONFIG", help="TOML experiment file")
    add_execution_options(parser)
    parser.add_argument("--dry-run", action="store_true", help="validate CONFIG and print the grid's size only")
    parser.add_argument(
        "--pilot", type=int, metavar="N", help="timing run: only the first N forget sets of every dataset"
    )
    parser.add_argument(
        "--estimate-from",
        metavar="PILOT_DIR",
        help="with --dry-run: predict the full run's wall time from a pilot run's results",
    )


def add_execution_options(parser) -> None:
    """Options of every verb that runs a grid (``run`` and ``reproduce``)."""
    parser.add_argument("--out", metavar="DIR", help="results directory (default: results/<experiment name>)")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="run independent targets in N worker processes, 1 torch thread each (default: 1)",
    )
    parser.add_argument(
        "--cache",
        metavar="DIR",
        help=f"artifact store for models and results (default: ${CACHE_ENV} or ~/.cache/labelleak)",
    )
    parser.add_argument(
        "--threads", type=int, default=1, metavar="N", help="torch CPU threads of the main process (default: 1)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar or info messages")


def command_line(args) -> str:
    """The command that regenerates this run (recorded in run.json and the report)."""
    words = ["labelleak", args.verb]
    words += ["--profile", args.profile] if args.verb == "reproduce" else [args.config]
    for option in ("out", "jobs", "cache", "pilot"):
        value = getattr(args, option, None)
        if value is not None and not (option == "jobs" and value == 1):
            words += [f"--{option}", str(value)]
    return shlex.join(words)


def execute(config_path: str, args) -> Path:
    """Validate and run ``config_path`` with the execution options in ``args``; return the results directory."""

    config = available_datasets(load_config(config_path))
    out = Path(args.out) if args.out else Path("results") / config.name
    print(f"{config.name}: {describe(config)}")
    summary = run_experiment(
        config,
        results_dir=out,
        store=ArtifactStore(args.cache),
        jobs=args.jobs,
        verbose=not args.quiet,
        command=command_line(args),
        pilot=getattr(args, "pilot", None),
    )
    print(summary.describe())
    print(f"wall time {summary.wall_seconds / 60:.1f} min; results in {out}/results.csv, utility in {out}/utility.csv")
    return out


def run(args) -> int:
    if args.dry_run:
        config = available_datasets(load_config(args.config))
        print(f"{config.name}: {describe(config)}")
        for variant in attack_variants(config):
            print(f"  attack {variant.label}")
        if args.estimate_from:
            e = estimate_seconds(config, args.estimate_from, jobs=args.jobs, store=ArtifactStore(args.cache))
            state = "finished" if e["pilot_finished"] else "unfinished"
            print(
                f"estimate from the {state} pilot in {args.estimate_from} ({e['pilot_cells']} targets): "
                f"{e['cells']} targets; unlearning {e['unlearning'] / 60:.0f} min + attacks {e['attacks'] / 60:.0f} "
                f"min of single-thread work over {e['jobs']} job(s), plus θ_o training {e['originals'] / 60:.0f} min "
                f"(0 when cached) and shadow calibration {e['calibration'] / 60:.0f} min (as the pilot measured it): "
                f"about {e['total'] / 3600:.1f} h"
            )
            print(
                "single-thread work per dataset: "
                + ", ".join(f"{d} {t / 60:.0f} min" for d, t in e["by_dataset"].items())
            )
            if e["extrapolated"]:
                print(f"extrapolated, not measured by the pilot: {', '.join(e['extrapolated'])}")
        return 0
    execute(args.config, args)
    return 0
