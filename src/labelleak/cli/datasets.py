"""``labelleak datasets``: which datasets are available, and where."""

from __future__ import annotations

from labelleak.cli.common import add_verb, print_table
from labelleak.data import DataError, dataset_names, load_dataset, locate_dataset
from labelleak.data.discovery import candidate_locations


def register(subparsers) -> None:
    parser = add_verb(
        subparsers,
        "datasets",
        help="list datasets and where their files were found",
        description="List every named dataset, whether it is available offline, and from where.\n"
        "Use --data-root (or $LABELLEAK_DATA) to point at your own copies.",
        handler=run,
    )
    parser.add_argument("--data-root", metavar="DIR", help="directory to search instead of the known offline copies")
    parser.add_argument("--check", action="store_true", help="also load and validate each available dataset")


def run(args) -> int:
    rows = []
    for name in dataset_names():
        if name == "digits":
            rows.append([name, "yes", "bundled with scikit-learn", ""])
            continue
        place = locate_dataset(name, args.data_root)
        if place is None:
            searched = ", ".join(str(p) for p in candidate_locations(name, args.data_root))
            rows.append([name, "no", f"searched: {searched}", ""])
            continue
        summary = ""
        if args.check:
            try:
                summary = load_dataset(name, root=args.data_root).describe()
            except DataError as err:
                summary = f"INVALID: {err}"
        rows.append([name, "yes", str(place), summary])
    print_table(["dataset", "available", "location", "check" if args.check else ""], rows)
    return 0
