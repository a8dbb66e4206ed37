"""The counts of RUN.md, from the committed zoo records and audit JSONs: exact sets named by each
attack and by the verdict, before and after the change under test, on the targets that forgot
(forget-class test accuracy ≤ 10%), by dataset and |C| and, for `param-diff` and the verdict, by
unlearning method; the targets whose exact-set outcome changed; the plan's keep rule, evaluated.

usage: python docs/results/zoo-seed25/count.py [FOLDER]   (default: this file's folder)
"""

import sys
from pathlib import Path

# the zoo's records and audits are read as benchmarks/zoo_ranking.py reads them
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from zoo_ranking import load

FOLDERS = ("mnist-singles", "mnist-multiclass", "fashion-mnist-singles", "fashion-mnist-multiclass")
VERSIONS = ("before", "after")
VERDICT = "verdict"
SHOWN = (VERDICT, "param-diff", "param-dot", "param-diff-orig", "invert-wb", "invert-cma", "label-reach",
         "accuracy-probe", "hu-probe", "noise-frequency", "noise-logprob")  # fmt: skip


def audited(root: Path, version: str, folder: str) -> dict[str, dict]:
    """Target name -> its record and the set each attack and the verdict named; targets that forgot
    and whose audit this version wrote (read by benchmarks/zoo_ranking.py's ``load``)."""
    records = root / version / folder / "zoo.json"
    if not records.exists():
        return {}
    return {
        row["name"]: {
            **row,
            "named": {**{a: set(named) for a, (_, named) in row["attacks"].items()}, VERDICT: set(row["verdict"])},
        }
        for row in load(records.parent, records)
    }


def exact(row: dict, attack: str) -> bool:
    return row["named"].get(attack) == set(row["forget"])


def exact_table(both: dict[str, tuple[dict, dict]], groups: dict[str, list[str]], attacks: tuple[str, ...]) -> None:
    """Per attack, how many targets of each group it named exactly, before -> after."""
    for attack in attacks:
        cells = [
            f"{k}: {sum(exact(both[n][0], attack) for n in names)}->{sum(exact(both[n][1], attack) for n in names)}"
            for k, names in sorted(groups.items())
        ]
        print(f"  {attack:16s} " + "  ".join(cells))


def exact_by_group(
    both: dict[str, tuple[dict, dict]], key, attacks: tuple[str, ...], *, audited_as: str, compared: str
) -> dict[str, list[str]]:
    """Group the paired targets by ``key(row)`` of their first row, print each group's size and the
    exact-set table of ``attacks`` (:func:`exact_table`); returns the groups (target names by key)."""
    groups: dict[str, list[str]] = {}
    for name, (row, _) in both.items():
        groups.setdefault(key(row), []).append(name)
    print(f"targets that forgot, audited {audited_as}:", ", ".join(f"{k}: {len(v)}" for k, v in sorted(groups.items())))
    print(f"\nexact sets named, {compared}")
    exact_table(both, groups, attacks)
    return groups


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
    exact_by_group(
        both,
        lambda row: f"{row['dataset']} |C|={len(row['forget'])}",
        SHOWN,
        audited_as="by both versions",
        compared="before -> after",
    )
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
