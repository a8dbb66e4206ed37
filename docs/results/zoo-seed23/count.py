"""The counts of RUN.md, from the committed zoo records and audit JSONs: exact sets named by each
attack and by the verdict, before and after the change under test, on the targets that forgot
(forget-class test accuracy ≤ 10%), by dataset and |C|; the plan's keep rule, evaluated; and the
SCRUB and SalUn targets of the amendment, by method and |C|.

usage: python docs/results/zoo-seed23/count.py [FOLDER]   (default: this file's folder)
"""

import json
import sys
from collections import Counter
from pathlib import Path

#: the folders of the plan's 170 targets (the five methods)
PLANNED = ("mnist-multiclass", "mnist-singles", "fashion-mnist-multiclass", "fashion-mnist-singles")
#: the amendment's SCRUB and SalUn targets, audited by labelleak as it stands (the change reverted)
SCRUB_SALUN = ("scrub-salun", "mnist-multiclass")
VERSIONS = ("before", "after")
FORGOT = 0.10
VERDICT = "verdict"
SHOWN = (VERDICT, "param-diff", "param-dot", "param-diff-orig", "invert-wb", "invert-cma", "label-reach",
         "accuracy-probe", "hu-probe", "noise-frequency", "noise-logprob")  # fmt: skip


def exact_sets(root: Path, version: str, folder: str) -> dict[str, dict]:
    """Target name -> its record and, per attack and the verdict, whether the named set is exact;
    targets that forgot only."""
    rows = {}
    for row in json.loads((root / version / folder / "zoo.json").read_text()):
        if row["forget_test_acc"] > FORGOT:
            continue
        audit = json.loads((root / version / folder / "audits" / f"{row['name']}.json").read_text())
        named = {a["name"]: sorted(a["predicted"]) for a in audit["attacks"]}
        named[VERDICT] = sorted(audit["verdict"]["forgotten"])
        rows[row["name"]] = {**row, "exact": {a: set(s) == set(row["forget"]) for a, s in named.items()}}
    return rows


def count(rows: list[dict], attack: str) -> int:
    return sum(r["exact"].get(attack, False) for r in rows)


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
    data = {v: {f: exact_sets(root, v, f) for f in PLANNED} for v in VERSIONS}
    for v in VERSIONS:
        assert data[v].keys() == data[VERSIONS[0]].keys()
    groups: dict[str, dict[str, list[dict]]] = {v: {} for v in VERSIONS}
    for v in VERSIONS:
        for folder, rows in data[v].items():
            dataset = folder.split("-multiclass")[0].split("-singles")[0]
            for row in rows.values():
                key = f"{dataset} |C|={len(row['forget'])}"
                groups[v].setdefault(key, []).append(row)
    sizes = Counter({k: len(r) for k, r in groups["before"].items()})
    print("targets that forgot:", ", ".join(f"{k}: {n}" for k, n in sorted(sizes.items())))
    print("\nexact sets named, before -> after")
    header = sorted(groups["before"])
    for attack in SHOWN:
        cells = [f"{count(groups['before'][k], attack)}->{count(groups['after'][k], attack)}" for k in header]
        print(f"  {attack:16s} " + "  ".join(f"{k}: {c}" for k, c in zip(header, cells)))

    def pooled(version: str, attack: str, multi: bool) -> int:
        return sum(count(groups[version][k], attack) for k in header if ("|C|=1" not in k) == multi)

    a = (pooled("before", "param-diff", True), pooled("after", "param-diff", True))
    b = (pooled("before", VERDICT, True), pooled("after", VERDICT, True))
    c_verdict = (pooled("before", VERDICT, False), pooled("after", VERDICT, False))
    c_diff = (pooled("before", "param-diff", False), pooled("after", "param-diff", False))
    print("\nkeep rule (pairs + triples, and singles, both datasets pooled):")
    print(f"  (a) param-diff pairs+triples {a[0]} -> {a[1]}: {'met' if a[1] >= a[0] else 'not met'}")
    print(f"  (b) verdict pairs+triples {b[0]} -> {b[1]}: {'met' if b[1] >= b[0] else 'not met'}")
    met_c = c_verdict[1] >= c_verdict[0] - 1 and c_diff[1] >= c_diff[0] - 1
    print(f"  (c) singles: verdict {c_verdict[0]} -> {c_verdict[1]}, param-diff {c_diff[0]} -> {c_diff[1]}: "
          f"{'met' if met_c else 'not met'}")  # fmt: skip
    met_d = a[1] > a[0] or b[1] > b[0]
    print(f"  (d) (a) or (b) strictly higher: {'met' if met_d else 'not met'}")
    keep = a[1] >= a[0] and b[1] >= b[0] and met_c and met_d
    print(f"  -> {'keep' if keep else 'revert'} the change")

    extra = exact_sets(root, *SCRUB_SALUN).values()
    print(f"\nSCRUB and SalUn, MNIST, targets that forgot: {len(extra)}; exact sets by method and |C|")
    kinds = sorted({(r["method"], len(r["forget"])) for r in extra})
    for attack in SHOWN:
        cells = [
            f"{m} |C|={n}: {count([r for r in extra if (r['method'], len(r['forget'])) == (m, n)], attack)}/"
            f"{sum((r['method'], len(r['forget'])) == (m, n) for r in extra)}"
            for m, n in kinds
        ]
        print(f"  {attack:16s} " + "  ".join(cells))


if __name__ == "__main__":
    main()
