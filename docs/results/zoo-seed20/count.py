"""Exact sets named on the targets that forgot (forget-class test accuracy ≤ 10%), per |C|, per
audit setting and attack, per dataset and pooled: the counts of RUN.md.

usage: python docs/results/zoo-seed20/count.py [FOLDER]   (default: this file's folder)
"""

import json
import sys
from pathlib import Path

API = (
    "zoo-access-queries-without-original-budget-400-attacks-invert-cma-label-reach-noise-frequency-noise-logprob"
    "-shadow-originals-3-recipes-varied-methods-per-set-one.json"
)
SETTINGS = {
    "D: the default audit, weights and θ_o": "zoo.json",
    "E: D with one shadow method per forget set": "zoo-shadow-methods-per-set-one.json",
    "API: queries, no θ_o": API,
}
DATASETS = ("mnist", "fashion-mnist", "cifar10")


def count(root: Path, name: str, key: str) -> dict[str, dict[int, list[int]]]:
    """Per dataset and pooled: {|C|: [named exactly, targets that forgot]}."""
    counts: dict[str, dict[int, list[int]]] = {"pooled": {1: [0, 0], 2: [0, 0], 3: [0, 0]}}
    for dataset in DATASETS:
        path = root / dataset / name
        if not path.exists():
            continue
        counts[dataset] = {1: [0, 0], 2: [0, 0], 3: [0, 0]}
        for row in json.loads(path.read_text()):
            if row["forget_test_acc"] > 0.10 or key not in row["success"]:
                continue
            for where in (dataset, "pooled"):
                counts[where][len(row["forget"])][0] += bool(row["success"][key])
                counts[where][len(row["forget"])][1] += 1
    return counts


def line(counts: dict[str, dict[int, list[int]]]) -> str:
    return "; ".join(
        f"{where} " + " / ".join(f"{a}/{n}" for a, n in by_size.values()) for where, by_size in counts.items()
    )


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
    for label, name in SETTINGS.items():
        rows = [
            row for d in DATASETS if (root / d / name).exists() for row in json.loads((root / d / name).read_text())
        ]
        verdict = count(root, name, "verdict (as run)")
        named = sum(a for a, _ in verdict["pooled"].values())
        total = sum(n for _, n in verdict["pooled"].values())
        print(f"{label}: {named} of {total}; {line(verdict)}")
        for key in sorted({key for row in rows for key in row["success"]} - {"verdict (as run)"}):
            print(f"    {key}: {line(count(root, name, key))}")


if __name__ == "__main__":
    main()
