"""The counts of RUN.md, from the committed zoo records and audit JSONs: exact sets named by each
attack and by the verdict, before and after the change under test, on the targets that forgot
(forget-class test accuracy ≤ 10%), by dataset and |C| and, for `param-diff` and the verdict, by
unlearning method; the targets whose exact-set outcome changed; the plan's keep rule, evaluated.

usage: python docs/results/zoo-seed25/count.py [FOLDER]   (default: this file's folder)
"""

import json
import sys
from pathlib import Path

FOLDERS = ("mnist-singles", "mnist-multiclass", "fashion-mnist-singles", "fashion-mnist-multiclass")
VERSIONS = ("before", "after")
FORGOT = 0.10
VERDICT = "verdict"
SHOWN = (VERDICT, "param-diff", "param-dot", "param-diff-orig", "invert-wb", "invert-cma", "label-reach",
         "accuracy-probe", "hu-probe", "noise-frequency", "noise-logprob")  # fmt: skip


def audited(root: Path, version: str, folder: str) -> dict[str, dict]:
    """Target name -> its record and the set each attack and the verdict named; targets that forgot
    and whose audit this version wrote."""
    rows = {}
    records = root / version / folder / "zoo.json"
    if not records.exists():
        return rows
    for row in json.loads(records.read_text()):
        audit_file = root / version / folder / "audits" / f"{row['name']}.json"
        if row["forget_test_acc"] > FORGOT or not audit_file.exists():
            continue
        audit = json.loads(audit_file.read_text())
        named = {a["name"]: set(a["predicted"]) for a in audit["attacks"]}
        named[VERDICT] = set(audit["verdict"]["forgotten"])
        rows[row["name"]] = {**row, "named": named}
    return rows


def exact(row: dict, attack: str) -> bool:
    return row["named"].get(attack) == set(row["forget"])


def paired(root: Path, folders: tuple[str, ...]) -> dict[str, tuple[dict, dict]]:
    """Target name -> (before, after) rows of the targets that forgot and both versions audited."""
    both = {}
    for folder in folders:
        before, after = (audited(root, v, folder) for v in VERSIONS)
        for name in sorted(before.keys() & after.keys()):
            both[name] = (before[name], after[name])
    return both


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
    both = paired(root, FOLDERS)
    groups: dict[str, list[str]] = {}
    for name, (row, _) in both.items():
        groups.setdefault(f"{row['dataset']} |C|={len(row['forget'])}", []).append(name)
    keys = sorted(groups)
    print("targets that forgot, audited by both versions:", ", ".join(f"{k}: {len(groups[k])}" for k in keys))
    print("\nexact sets named, before -> after")
    for attack in SHOWN:
        cells = [
            f"{k}: {sum(exact(both[n][0], attack) for n in groups[k])}->{sum(exact(both[n][1], attack) for n in groups[k])}"
            for k in keys
        ]
        print(f"  {attack:16s} " + "  ".join(cells))
    print("\nparam-diff and the verdict by method and |C|, before -> after (n)")
    methods = sorted({(row["method"], len(row["forget"])) for row, _ in both.values()})
    for attack in ("param-diff", VERDICT):
        for method, size in methods:
            names = [n for n, (row, _) in both.items() if (row["method"], len(row["forget"])) == (method, size)]
            counts = [sum(exact(both[n][i], attack) for n in names) for i in (0, 1)]
            print(f"  {attack:10s} {method:14s} |C|={size}: {counts[0]} -> {counts[1]} ({len(names)})")
    print("\ntargets whose exact-set outcome changed (param-diff, verdict)")
    for name, (old, new) in both.items():
        for attack in ("param-diff", VERDICT):
            if exact(old, attack) != exact(new, attack):
                print(f"  {attack:10s} {name}: forgot {sorted(old['forget'])}, "
                      f"named {sorted(old['named'][attack])} -> {sorted(new['named'][attack])}")  # fmt: skip

    def pooled(attack: str, multi: bool, version: int) -> int:
        return sum(exact(pair[version], attack) for pair in both.values() if (len(pair[0]["forget"]) > 1) == multi)

    a = (pooled("param-diff", True, 0), pooled("param-diff", True, 1))
    b = (pooled(VERDICT, True, 0), pooled(VERDICT, True, 1))
    singles = {attack: (pooled(attack, False, 0), pooled(attack, False, 1)) for attack in (VERDICT, "param-diff")}
    met = {"a": a[1] > a[0], "b": b[1] >= b[0], "c": all(new >= old - 1 for old, new in singles.values())}
    print("\nkeep rule (targets that forgot, both datasets pooled):")
    print(f"  (a) param-diff pairs+triples {a[0]} -> {a[1]}, strictly higher: {'met' if met['a'] else 'not met'}")
    print(f"  (b) verdict pairs+triples {b[0]} -> {b[1]}, not lower: {'met' if met['b'] else 'not met'}")
    print(f"  (c) singles: verdict {singles[VERDICT][0]} -> {singles[VERDICT][1]}, param-diff "
          f"{singles['param-diff'][0]} -> {singles['param-diff'][1]}, each at most 1 lower: "
          f"{'met' if met['c'] else 'not met'}")  # fmt: skip
    print(f"  -> {'keep' if all(met.values()) else 'revert'} the change")


if __name__ == "__main__":
    main()
