"""The counts of RUN.md: exact sets named by each attack and by the verdict on the seed-26 MNIST BN CNN
targets that forgot (forget-class test accuracy ≤ 10%), audited with shadow models trained at one
torch thread (the seed-26 zoo's own audits, docs/results/zoo-seed26/before) and with shadow models
trained at two (this folder's two-threads/), by |C|; then every target whose decided set changed.

usage: python docs/results/shadow-threads/count.py
"""

import sys
from pathlib import Path

# the records' reader is the seed-25 count's: same files, same "forgot" filter
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "zoo-seed25"))
from count import SHOWN, VERDICT, audited, exact_table

HERE = Path(__file__).resolve().parent

FOLDERS = ("mnist-singles", "mnist-multiclass")


def main() -> None:
    both = {}
    for folder in FOLDERS:
        one, two = audited(HERE.parent / "zoo-seed26", "before", folder), audited(HERE, "two-threads", folder)
        both.update({name: (one[name], two[name]) for name in sorted(one.keys() & two.keys())})
    groups: dict[str, list[str]] = {}
    for name, (row, _) in both.items():
        groups.setdefault(f"|C|={len(row['forget'])}", []).append(name)
    print("targets that forgot, audited both ways:", ", ".join(f"{k}: {len(v)}" for k, v in sorted(groups.items())))
    print("\nexact sets named, shadows at one thread -> at two threads")
    exact_table(both, groups, SHOWN)
    print("\ntargets whose decided set changed, per attack: forgot, one thread -> two threads")
    changed = dict.fromkeys(SHOWN, 0)
    for name, (one, two) in both.items():
        for attack in SHOWN:
            if one["named"].get(attack) != two["named"].get(attack):
                changed[attack] += 1
                print(f"  {attack:16s} {name}: {sorted(one['forget'])}, "
                      f"{sorted(one['named'].get(attack, []))} -> {sorted(two['named'].get(attack, []))}")  # fmt: skip
    print(f"\ntargets whose decided set changed, of {len(both)}:")
    print("  " + ", ".join(f"{attack} {n}" for attack, n in changed.items()))
    print(f"  ({VERDICT}: the audit's fused verdict)")


if __name__ == "__main__":
    main()
