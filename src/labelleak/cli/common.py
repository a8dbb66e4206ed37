"""Options shared by several verbs, so each means the same thing everywhere.

The verb modules import torch and the rest of labelleak only inside their handlers, so that
``labelleak --help``, ``labelleak VERB --help`` and ``labelleak datasets`` answer at once; option
help that lists registry entries (attacks, methods, architectures) is filled in by
:func:`late_help` only when the help is shown.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from labelleak.data import dataset_names

if TYPE_CHECKING:
    from labelleak.store import ArtifactStore

#: the artifact store's environment variable (``labelleak.store.ENV_VAR``, which imports torch)
CACHE_ENV = "LABELLEAK_CACHE"

#: ``--device`` values (``labelleak.device.DEVICE_CHOICES``, which imports torch)
DEVICE_CHOICES = ("auto", "cpu", "cuda")


class VerbParser(argparse.ArgumentParser):
    """A parser whose help texts may be computed when help is shown (see :func:`late_help`)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.late: list[Callable[[], None]] = []

    def format_help(self) -> str:
        while self.late:
            self.late.pop(0)()
        return super().format_help()


def _later(parser: argparse.ArgumentParser, fill: Callable[[], None]) -> None:
    if isinstance(parser, VerbParser):
        parser.late.append(fill)
    else:
        fill()


def late_help(parser: argparse.ArgumentParser, action: argparse.Action, text: Callable[[], str]) -> None:
    """Set ``action``'s help to ``text()`` when ``parser``'s help is shown (at once for a plain parser),
    so that listing a registry's names does not import it for every command."""
    _later(parser, lambda: setattr(action, "help", text()))


def late_description(parser: argparse.ArgumentParser, text: Callable[[], str]) -> None:
    """Set ``parser``'s description to ``text()`` when its help is shown (see :func:`late_help`)."""
    _later(parser, lambda: setattr(parser, "description", text()))


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


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse ``type`` accepting integers >= ``low``; anything else is one clear parser error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def usable_cores() -> int:
    """The CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_threads() -> int:
    """torch threads when ``--threads`` is not given: half the CPU cores this process may use, at most
    4 and at least 1. torch's own default (every core) oversubscribes a machine that runs anything
    else: on a busy 2-core machine ``labelleak demo`` took 217–351 s with it and 21 s with one thread."""
    return max(1, min(4, usable_cores() // 2))


def default_workers() -> int:
    """Processes that build an audit's shadow models when ``--workers`` is not given: every core this
    process may use, at most 4 and at least 1. Each runs one torch thread, so they do not spin against
    each other as torch's threads do, and a first audit is mostly the building of its shadows."""
    return max(1, min(4, usable_cores()))


def add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int_at_least(0), default=0, help="seed of every random choice (default: 0)")
    parser.add_argument(
        "--cache",
        metavar="DIR",
        help=f"artifact store for models and results (default: ${CACHE_ENV} or ~/.cache/labelleak)",
    )
    parser.add_argument(
        "--threads",
        type=int_at_least(1),
        default=default_threads(),
        metavar="N",
        help=f"torch CPU threads (default: half the usable CPU cores, 1 to 4: {default_threads()} here)",
    )
    add_device_option(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bars or info messages")


def add_device_option(parser: argparse.ArgumentParser) -> None:
    """``--device``, of every verb that trains or attacks; ``labelleak.cli.main`` applies it to the
    whole command (docs/runner.md, "GPU")."""
    parser.add_argument(
        "--device",
        choices=DEVICE_CHOICES,
        default="auto",
        help="where models train and run: auto (cuda when available, else cpu; the default), cpu or cuda",
    )


def store_from(args: argparse.Namespace) -> ArtifactStore:
    """The artifact store of ``--cache``, checked to be writable before anything is computed."""
    from labelleak.store import ArtifactStore

    store = ArtifactStore(args.cache)
    store.check_writable()
    return store


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A Markdown table on stdout (readable in a terminal, pasteable into docs)."""
    from labelleak.report.markdown import markdown_table

    print(markdown_table(headers, rows))
