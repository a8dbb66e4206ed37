"""The counts of RUN.md: exact sets named by each attack and by the verdict on the seed-26 BN CNN
targets that forgot (forget-class test accuracy ≤ 10%), MNIST and Fashion-MNIST, audited with
shadow models trained at one torch thread (the seed-26 zoo's own audits,
docs/results/zoo-seed26/before) and with shadow models trained at two (this folder's two-threads/),
by dataset and |C|; then every target whose decided set changed, and how many per dataset.

usage: python docs/results/shadow-threads/count.py
"""

import sys
from pathlib import Path

# the records' reader is the seed-25 count's: same files, same "forgot" filter
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "zoo-seed25"))
from count import SHOWN, VERDICT, audited, exact_by_group

HERE = Path(__file__).resolve().parent

FOLDERS = ("mnist-singles", "mnist-multiclass", "fashion-mnist-singles", "fashion-mnist-multiclass")


def main() -> None:
    both = {}
    for folder in FOLDERS:
        one, two = audited(HERE.parent / "zoo-seed26", "before", folder), audited(HERE, "two-threads", folder)
        both.update({name: (one[name], two[name]) for name in sorted(one.keys() & two.keys())})
    exact_by_group(
        both,
        lambda row: f"{row['dataset']} |C|={len(row['forget'])}",
        SHOWN,
        audited_as="both ways",
        compared="shadows at one thread -> at two threads",
    )
    print("\ntargets whose decided set changed, per attack: forgot, one thread -> two threads")
    changed: dict[str, dict[str, int]] = {}
    for name, (one, two) in both.items():
        counts = changed.setdefault(one["dataset"], dict.fromkeys(SHOWN, 0))
        for attack in SHOWN:
            if one["named"].get(attack) != two["named"].get(attack):
                counts[attack] += 1
                print(f"  {attack:16s} {name}: {sorted(one['forget'])}, "
                      f"{sorted(one['named'].get(attack, []))} -> {sorted(two['named'].get(attack, []))}")  # fmt: skip
    for dataset, counts in changed.items():
        total = sum(row["dataset"] == dataset for row, _ in both.values())
        print(f"\n{dataset}: targets whose decided set changed, of {total}:")
        print("  " + ", ".join(f"{attack} {n}" for attack, n in counts.items()))
    print(f"  ({VERDICT}: the audit's fused verdict)")


if __name__ == "__main__":
    main()
