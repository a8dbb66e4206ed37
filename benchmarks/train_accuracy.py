"""Train the default model on every available dataset; print test accuracy and seconds per epoch.

    python benchmarks/train_accuracy.py [--datasets digits mnist ...] [--cache DIR] [--threads N]

Models land in the artifact store (default ``~/.cache/labelleak``), so later stages reuse them;
pass ``--fresh`` to time training in a throw-away store.
"""

from __future__ import annotations

import argparse
import tempfile

import torch

from labelleak.data import DataError, dataset_names, load_dataset
from labelleak.report.markdown import markdown_header, markdown_row
from labelleak.store import ArtifactStore
from labelleak.targets import train_original

TARGETS = {"digits": 0.95, "mnist": 0.985, "fashion-mnist": 0.89, "cifar10": 0.65, "svhn": 0.85}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=dataset_names())
    parser.add_argument("--cache", default=None, help="artifact store root (default: ~/.cache/labelleak)")
    parser.add_argument("--fresh", action="store_true", help="train in a temporary store, ignoring cached models")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    store = ArtifactStore(tempfile.mkdtemp() if args.fresh else args.cache)
    print(markdown_header(["dataset", "arch", "epochs", "test accuracy", "target", "s/epoch", "cached"]))
    for name in args.datasets:
        try:
            dataset = load_dataset(name)
        except DataError as err:
            print(markdown_row([name, "-", "-", f"not available: {err}", "", "", ""]))
            continue
        result = train_original(dataset, seed=args.seed, store=store, verbose=True)
        acc = result.metrics["test_accuracy"]
        target = TARGETS.get(name)
        verdict = "" if target is None else (f">= {target:.1%} met" if acc >= target else f">= {target:.1%} MISSED")
        print(
            markdown_row(
                [
                    name,
                    result.config["spec"]["arch"],
                    result.config["train"]["epochs"],
                    f"{acc:.2%}",
                    verdict,
                    f"{result.metrics['seconds_per_epoch']:.2f}",
                    result.cached,
                ]
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
