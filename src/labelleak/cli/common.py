"""Options shared by several verbs, so each means the same thing everywhere."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from labelleak.data import dataset_names
from labelleak.store import ENV_VAR as CACHE_ENV
from labelleak.store import ArtifactStore


def add_verb(subparsers, name: str, *, help: str, description: str, handler) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        name, help=help, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.set_defaults(handler=handler)
    return parser


def add_data_options(parser: argparse.ArgumentParser, *, default: str | None = "digits") -> None:
    parser.add_argument(
        "--dataset",
        default=default,
        required=default is None,
        metavar="NAME",
        help=f"dataset name: {', '.join(dataset_names())} " + (f"(default: {default})" if default else "(required)"),
    )
    parser.add_argument(
        "--data-root",
        metavar="DIR",
        help="directory holding the dataset files (default: $LABELLEAK_DATA, then known offline copies)",
    )
    parser.add_argument(
        "--download",
        action="store_true",
        help="download the official files into --data-root if they are missing (needs internet)",
    )


def add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice (default: 0)")
    parser.add_argument(
        "--cache",
        metavar="DIR",
        help=f"artifact store for models and results (default: ${CACHE_ENV} or ~/.cache/labelleak)",
    )
    parser.add_argument("--threads", type=int, metavar="N", help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or info messages")


def store_from(args: argparse.Namespace) -> ArtifactStore:
    return ArtifactStore(args.cache)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A Markdown table on stdout (readable in a terminal, pasteable into docs)."""
    print("| " + " | ".join(headers) + " |")
    print("| " + " | ".join("---" for _ in headers) + " |")
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")
