"""Single classes named exactly on the targets that forgot (forget-class test accuracy ≤ 10%), per
attack, per dataset and architecture and pooled, and each first audit's wall time: the counts of
RUN.md, from the committed zoo records.

usage: python docs/results/zoo-seed22/count.py [FOLDER]   (default: this file's folder)
"""

import json
import sys
from collections import Counter
from pathlib import Path

DATASETS = ("mnist", "fashion-mnist", "cifar10")
ARCHS = ("resnet", "vgg_bn")


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
    rows = [
        row
        for d in DATASETS
        if (root / d / "zoo.json").exists()
        for row in json.loads((root / d / "zoo.json").read_text())
    ]
    groups = {f"{d}/{a}": [r for r in rows if (r["dataset"], r["arch"]) == (d, a)] for d in DATASETS for a in ARCHS}
    groups = {name: group for name, group in groups.items() if group} | {"pooled": rows}
    for name, group in groups.items():
        forgot = [r for r in group if r["forget_test_acc"] <= 0.10]
        named = Counter(attack for r in forgot for attack, hit in r["success"].items() if hit)
        attacks = sorted({attack for r in forgot for attack in r["success"]})
        print(f"{name}: {len(forgot)} of {len(group)} forgot")
        print("    " + ", ".join(f"{attack} {named[attack]}" for attack in attacks))
        if name != "pooled":
            seconds = sorted(r["audit_seconds"] for r in group)
            print(f"    audit seconds: slowest {max(seconds):.1f}, median {seconds[len(seconds) // 2]:.1f}")


if __name__ == "__main__":
    main()
