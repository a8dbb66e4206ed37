"""The ``labelleak`` command. Each verb lives in its own module exposing ``register(subparsers)``;
the handler it sets receives the parsed arguments and returns an exit code."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import torch

from labelleak import LabelleakError, __version__
from labelleak.cli import attack, audit, datasets, demo, methods, report, reproduce, run, train, unlearn

#: verb modules, in the order ``--help`` lists them
VERBS = [demo, datasets, train, methods, unlearn, attack, run, report, reproduce, audit]

DESCRIPTION = """\
labelleak measures label leakage in machine unlearning: after a whole class was unlearned from an
image classifier, can an attacker tell which class it was?

Typical session:
  labelleak demo                                          # whole pipeline on digits (no download)
  labelleak datasets                                      # which datasets are available, and where
  labelleak train --dataset fashion-mnist                 # train (or load) the original model
  labelleak unlearn --dataset fashion-mnist --method scrub --forget 3
  labelleak attack --dataset fashion-mnist --method scrub --forget 3 --attack param-diff --decider kmeans
  labelleak reproduce --profile quick                     # a whole grid, then its report
  labelleak audit --model-factory my_model.py:build --weights unlearned.pt --dataset mnist

Models and results are cached under ~/.cache/labelleak (--cache DIR) by the hash of their config."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labelleak", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"labelleak {__version__}")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", title="verbs")
    for module in VERBS:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.WARNING if getattr(args, "quiet", False) else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
    )
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    try:
        return int(args.handler(args) or 0)
    except LabelleakError as err:
        print(f"labelleak: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("labelleak: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
