"""``labelleak datasets``: which datasets are available, and where."""

from __future__ import annotations

from labelleak.cli.common import add_verb, print_table
from labelleak.data import DataError, dataset_names, fetch_dataset, file_datasets, load_dataset, locate_dataset
from labelleak.data.discovery import ENV_VAR, FETCH_SIZE, candidate_locations, download_root, fetch_command


def register(subparsers) -> None:
    parser = add_verb(
        subparsers,
        "datasets",
        help="list datasets and where their files were found; fetch the missing ones",
        description="List every named dataset, whether it is available, and where it was found (or\n"
        "where it was looked for). Use --data-root (or $LABELLEAK_DATA) to point at your own copies.\n\n"
        "--fetch NAME downloads a dataset's official files, checks them against their published\n"
        "md5 sums and unpacks them into --data-root (default: $LABELLEAK_DATA, else\n"
        "~/.cache/labelleak/data, which every verb searches). It needs internet access.\n\n"
        "example: labelleak datasets --fetch mnist",
        handler=run,
    )
    parser.add_argument("--data-root", metavar="DIR", help="directory to search instead of the known offline copies")
    parser.add_argument("--check", action="store_true", help="also load and validate each available dataset")
    parser.add_argument(
        "--fetch",
        action="append",
        metavar="NAME",
        help=f"download the official files of NAME ({', '.join(FETCH_SIZE)}); repeatable",
    )
    parser.add_argument("--quiet", action="store_true", help="no download progress bar")


def run(args) -> int:
    if args.fetch:
        return fetch(args)
    rows = []
    missing = []
    for name in dataset_names():
        if name == "digits":
            check = [load_dataset(name).describe()] if args.check else []
            rows.append([name, "yes", "bundled with scikit-learn", *check])
            continue
        place = locate_dataset(name, args.data_root)
        if place is None:
            searched = ", ".join(str(p) for p in candidate_locations(name, args.data_root))
            rows.append([name, "no", f"not found in: {searched}"] + (["–"] if args.check else []))
            missing.append(name)
            continue
        row = [name, "yes", str(place)]
        if args.check:
            try:
                row.append(load_dataset(name, root=args.data_root).describe())
            except DataError as err:
                row.append(f"INVALID: {err}")
        rows.append(row)
    print_table(
        ["dataset", "available", "location (or where it was looked for)"] + (["check"] if args.check else []), rows
    )
    if missing:
        print("\nto get a missing dataset (downloads the official files, checked by md5):")
        for name in missing:
            print(f"  {fetch_command(name, args.data_root)}    # {FETCH_SIZE[name]}")
    return 0


def fetch(args) -> int:
    """``--fetch NAME``: download what is missing, validate it, and say how to use it."""
    for name in args.fetch:  # every name checked before anything is downloaded
        if name in dataset_names() and name not in file_datasets():
            raise DataError(f"dataset {name!r} is bundled with scikit-learn: there is nothing to fetch")
        if name not in file_datasets():
            raise DataError(f"cannot fetch unknown dataset {name!r}; choose one of: {', '.join(file_datasets())}")
    for name in args.fetch:
        place = locate_dataset(name, args.data_root)
        if place is not None:
            where = "" if args.data_root else " (pass --data-root DIR to fetch the official files into DIR anyway)"
            print(f"{name}: already available at {place}; nothing fetched{where}")
            continue
        print(f"{name}: downloading the official files ({FETCH_SIZE[name]}) into {download_root(args.data_root)}")
        place = fetch_dataset(name, args.data_root, progress=not args.quiet)
        dataset = load_dataset(name, root=args.data_root)
        print(f"{name}: fetched into {place}: {dataset.describe()}")
        if locate_dataset(name, None) != place:
            print(f"{name}: use this copy with --data-root {download_root(args.data_root)} (or ${ENV_VAR})")
    return 0
