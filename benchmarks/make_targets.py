"""Produce and cache unlearned target models (one forgotten class each) for the attack experiments.

Resumable: every target goes through the shared artifact store, so a re-run loads what exists
and only computes what is missing. Attack code later gets the same models with
``unlearn_original(train_original(load_dataset(D), store=ArtifactStore()), ..., seed=S,
store=ArtifactStore())``.

    python benchmarks/make_targets.py --dataset fashion-mnist \
        --methods gradient_ascent,random_labels,finetune,retrain --classes 0-9 --threads 1
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

import torch

from labelleak.data import load_dataset
from labelleak.store import ArtifactStore
from labelleak.targets import train_original, unlearn_original
from labelleak.unlearning import UNLEARNERS


def parse_classes(text: str) -> list[int]:
    """ "0-9" or "0,3,7" (or a mix: "0-2,7")."""
    classes: list[int] = []
    for part in text.split(","):
        if "-" in part:
            low, high = part.split("-")
            classes.extend(range(int(low), int(high) + 1))
        elif part:
            classes.append(int(part))
    return classes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument(
        "--methods",
        default="gradient_ascent,random_labels,finetune,retrain",
        help="comma-separated registered methods, run in this order (method-major)",
    )
    parser.add_argument("--classes", default="0-9", help="classes to forget, one target each (e.g. 0-9 or 0,3,7)")
    parser.add_argument("--seeds", default="0", help="unlearning seeds (e.g. 0 or 0-2)")
    parser.add_argument("--original-seed", type=int, default=0, help="seed of the original model")
    parser.add_argument("--cache", help="artifact store root (default: the shared store)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    log = logging.getLogger("make_targets")

    methods = [m for m in args.methods.split(",") if m]
    for method in methods:
        UNLEARNERS.get(method)
    store = ArtifactStore(args.cache)
    dataset = load_dataset(args.dataset)
    original = train_original(dataset, seed=args.original_seed, store=store, verbose=False)
    log.info(
        "original %s (%s): test accuracy %.4f",
        args.dataset,
        "cached" if original.cached else "trained",
        original.metrics["test_accuracy"],
    )
    jobs = [(m, c, s) for m in methods for c in parse_classes(args.classes) for s in parse_classes(args.seeds)]
    start = time.perf_counter()
    for i, (method, cls, seed) in enumerate(jobs, 1):
        result = unlearn_original(original, dataset, method=method, forget_classes=[cls], seed=seed, store=store)
        m = result.metrics
        log.info(
            "[%d/%d] %s forget=%d seed=%d %s: forget %.4f retain %.4f test %.4f (%.1f s) %s",
            i,
            len(jobs),
            method,
            cls,
            seed,
            "cached" if result.cached else "computed",
            m["forget_test_acc"],
            m["retain_test_acc"],
            m["test_acc"],
            m["seconds"],
            result.path,
        )
    log.info("done: %d targets in %.0f s", len(jobs), time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
