"""The ``labelleak`` command. Each verb lives in its own module exposing ``register(subparsers)``;
the handler it sets receives the parsed arguments and returns an exit code."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Sequence
from typing import Any

from labelleak import LabelleakError, __version__
from labelleak.cli import attack, attacks, audit, datasets, demo, methods, report, reproduce, run, train, tune, unlearn
from labelleak.cli.common import VerbParser

#: verb modules, in the order ``--help`` lists them
VERBS = [demo, datasets, train, methods, unlearn, tune, attacks, attack, run, report, reproduce, audit]

DESCRIPTION = """\
labelleak measures label leakage in machine unlearning: after a whole class was unlearned from an
image classifier, can an attacker tell which class it was?

Typical session:
  labelleak demo                                          # whole pipeline on digits (no download)
  labelleak datasets                                      # which datasets are available, and where
  labelleak datasets --fetch mnist                        # download a dataset's official files
  labelleak train --dataset fashion-mnist                 # train (or load) the original model
  labelleak unlearn --dataset fashion-mnist --method scrub --forget 3
  labelleak attacks                                       # the attacks, and what each one needs
  labelleak attack --dataset fashion-mnist --method scrub --forget 3 --attack param-diff --decider kmeans
  labelleak reproduce --profile quick                     # a whole grid, then its report
  labelleak audit --model-factory my_model.py:build --weights unlearned.pt --dataset mnist

Models and results are cached under ~/.cache/labelleak (--cache DIR) by the hash of their config."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labelleak", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"labelleak {__version__}")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", title="verbs", parser_class=VerbParser)
    for module in VERBS:
        module.register(subparsers)
    return parser


class TqdmHandler(logging.Handler):
    """Writes log lines through ``tqdm.write`` to the current ``sys.stderr``, so that a line logged while
    a progress bar is shown appears above the bar instead of on it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


def configure_logging(*, quiet: bool) -> None:
    """Log lines (INFO, or WARNING with ``quiet``) as plain messages through :class:`TqdmHandler`.

    Like ``logging.basicConfig``, it leaves a root logger that someone else already configured (a
    test runner, an application embedding labelleak) alone."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, TqdmHandler)]
    if len(ours) < len(root.handlers):
        return
    if not ours:
        handler = TqdmHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
    root.setLevel(logging.WARNING if quiet else logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return 2
    configure_logging(quiet=getattr(args, "quiet", False))
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
    try:
        with device_of(args):
            return int(args.handler(args) or 0)
    except LabelleakError as err:
        print(f"labelleak: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("labelleak: interrupted", file=sys.stderr)
        return 130


def device_of(args: argparse.Namespace) -> contextlib.AbstractContextManager[Any]:
    """The verb's ``--device`` as the default device while its handler runs (nothing for a verb
    without the option); ``cuda`` on a machine without CUDA is a one-line error."""
    if getattr(args, "device", None) is None:
        return contextlib.nullcontext()
    import torch

    from labelleak.device import resolve_device, use_device

    device = resolve_device(args.device)
    if device.type == "cuda":
        logging.getLogger(__name__).info("models run on %s (%s)", device, torch.cuda.get_device_name(device))
    return use_device(device)


if __name__ == "__main__":
    sys.exit(main())
