"""``labelleak run CONFIG``: run an experiment grid (resumable) into a results directory."""

from __future__ import annotations

import shlex
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labelleak.cli.common import CACHE_ENV, add_device_option, add_verb, int_at_least, store_from

if TYPE_CHECKING:
    from labelleak.experiments.config import ExperimentConfig


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
        "--pilot", type=int_at_least(1), metavar="N", help="timing run: only the first N forget sets of every dataset"
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
        type=int_at_least(1),
        default=1,
        metavar="N",
        help="run independent targets in N worker processes, 1 torch thread each (default: 1)",
    )
    parser.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="local: this process or --jobs local worker processes (default); ray: every cell a Ray task, "
        "on a local Ray with --jobs CPUs or on the cluster at --address (pip install 'labelleak[ray]'; "
        "docs/runner.md)",
    )
    parser.add_argument(
        "--address",
        metavar="ADDR",
        help="with --executor ray: the Ray cluster to run on (e.g. auto or ray://head:10001); its nodes must "
        "see --cache at the same path",
    )
    parser.add_argument(
        "--cache",
        metavar="DIR",
        help=f"artifact store for models and results (default: ${CACHE_ENV} or ~/.cache/labelleak)",
    )
    parser.add_argument(
        "--threads",
        type=int_at_least(1),
        default=1,
        metavar="N",
        help="torch CPU threads of the main process (default: 1)",
    )
    add_device_option(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar or info messages")
    parser.add_argument(
        "--data-root",
        metavar="DIR",
        help="directory holding the datasets' files, for every dataset of the config (default: each "
        "dataset's data_root, else $LABELLEAK_DATA, else the known offline copies)",
    )
    parser.add_argument(
        "--datasets",
        metavar="NAMES",
        help="run only these of the config's datasets (comma-separated, e.g. mnist,fashion-mnist): the part of "
        "a grid that fits the machine; a later run without it adds the rest to the same --out",
    )
    parser.add_argument(
        "--seeds",
        metavar="SEEDS",
        help="run only these of the config's θ_o seeds (comma-separated, e.g. 0 or 0,1): like --datasets, "
        "a part of the grid; the forget sets do not depend on which seeds run",
    )
    parser.add_argument(
        "--download",
        action="store_true",
        help="first download the official files of every missing (non-optional) dataset into --data-root "
        "(default: ~/.cache/labelleak/data); needs internet",
    )


def load_experiment(path: str, args) -> ExperimentConfig:
    """The validated config, restricted to ``--datasets`` and ``--seeds`` and with ``--data-root`` as every
    dataset's data_root (each when given)."""
    from labelleak.experiments.config import load_config
    from labelleak.validation import ParameterError

    config = load_config(path)
    only = getattr(args, "datasets", None)
    if only is not None:
        names = [d.name for d in config.datasets]
        wanted = [w.strip() for w in only.split(",") if w.strip()]
        unknown = [w for w in wanted if w not in names]
        if not wanted or unknown:
            raise ParameterError(f"--datasets must name datasets of {config.name!r} ({', '.join(names)}), got {only!r}")
        config = replace(config, datasets=tuple(d for d in config.datasets if d.name in wanted))
    seeds = getattr(args, "seeds", None)
    if seeds is not None:
        words = [w.strip() for w in seeds.split(",") if w.strip()]
        chosen = [int(w) for w in words if w.isdigit()]
        if not words or len(chosen) != len(words) or not set(chosen) <= set(config.seeds):
            raise ParameterError(
                f"--seeds must name seeds of {config.name!r} ({', '.join(map(str, config.seeds))}), got {seeds!r}"
            )
        config = replace(config, seeds=tuple(s for s in config.seeds if s in chosen))
    root = getattr(args, "data_root", None)
    if root is not None:
        config = replace(config, datasets=tuple(replace(d, data_root=root) for d in config.datasets))
    return config


def dataset_status(config: ExperimentConfig) -> list[tuple[Any, Path | None]]:
    """(dataset config, where its files are or None) for every file-backed dataset of ``config``."""
    from labelleak.data import file_datasets, locate_dataset

    return [(d, locate_dataset(d.name, d.data_root)) for d in config.datasets if d.name in file_datasets()]


def fetch_command(name: str, root: str | None) -> str:
    """The command that downloads ``name`` where a dataset with data_root ``root`` is looked for."""
    from labelleak.data.discovery import FETCH_SIZE
    from labelleak.data.discovery import fetch_command as command

    return f"{command(name, shlex.quote(root) if root else None)} ({FETCH_SIZE[name]})"


def fetch_missing(config: ExperimentConfig, *, quiet: bool) -> None:
    """``--download``: the official files of every missing dataset the run needs (optional ones stay skipped)."""
    from labelleak.data import fetch_dataset

    for d, place in dataset_status(config):
        if place is None and not d.optional:
            print(f"{d.name}: missing; downloading its official files")
            print(f"{d.name}: fetched into {fetch_dataset(d.name, d.data_root, progress=not quiet)}")


def command_line(args) -> str:
    """The command that regenerates this run (recorded in run.json and the report)."""
    words = ["labelleak", args.verb]
    words += ["--profile", args.profile] if args.verb == "reproduce" else [args.config]
    # --threads always: its default depends on the machine, and the thread count can change the last
    # digits of what torch computes
    for option in ("out", "jobs", "threads", "executor", "address", "device", "cache", "pilot", "datasets", "seeds"):
        value = getattr(args, option, None)
        if value is not None and (option, value) not in (("jobs", 1), ("executor", "local"), ("device", "auto")):
            words += [f"--{option}", str(value)]
    return shlex.join(words)


def execute(config_path: str, args) -> Path:
    """Validate and run ``config_path`` with the execution options in ``args``; return the results directory."""

    from labelleak.experiments.grid import describe
    from labelleak.experiments.runner import available_datasets, run_experiment

    config = load_experiment(config_path, args)
    if getattr(args, "download", False):
        fetch_missing(config, quiet=args.quiet)
    available = available_datasets(config)
    out = Path(args.out) if args.out else Path("results") / config.name
    from labelleak.store import check_output_dir

    # both checked before any work: a results folder that cannot be made, a store that cannot be written
    check_output_dir(out, what="--out" if args.out else "results directory")
    store = store_from(args)
    print(f"{config.name}: {describe(available)}")
    summary = run_experiment(
        config,
        results_dir=out,
        store=store,
        jobs=args.jobs,
        verbose=not args.quiet,
        command=command_line(args),
        pilot=getattr(args, "pilot", None),
        executor=args.executor,
        address=args.address,
    )
    print(summary.describe())
    print(f"wall time {summary.wall_seconds / 60:.1f} min; results in {out}/results.csv, utility in {out}/utility.csv")
    return out


def run(args) -> int:
    if args.dry_run:
        return dry_run(args)
    execute(args.config, args)
    return 0


def dry_run(args) -> int:
    """Validate the config, say where each dataset is (or the command that gets it), print the grid's size."""
    from labelleak.experiments.estimate import estimate_seconds
    from labelleak.experiments.grid import attack_variants, describe
    from labelleak.store import ArtifactStore

    config = load_experiment(args.config, args)
    status = dataset_status(config)
    for d, place in status:
        if place is not None:
            print(f"dataset {d.name}: {place}")
        elif d.optional:
            print(
                f"dataset {d.name}: missing (optional: the run skips it); get it with: {fetch_command(d.name, d.data_root)}"
            )
        else:
            print(
                f"dataset {d.name}: MISSING, the run would stop here; get it with: "
                f"{fetch_command(d.name, d.data_root)}, or run with --download"
            )
    skipped = {d.name for d, place in status if place is None and d.optional}
    config = replace(config, datasets=tuple(d for d in config.datasets if d.name not in skipped))
    if config.datasets:
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
    else:
        print(f"{config.name}: none of the config's datasets is available")
    return 0
