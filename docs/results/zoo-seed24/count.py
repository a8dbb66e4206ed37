"""The counts of RUN.md, from the committed zoo records and audit JSONs: per dataset, unlearning
method (SCRUB, SalUn) and |C|, how many targets forgot (forget-class test accuracy ≤ 10%) and how many
of them each attack and the verdict named exactly; then the same over all targets.

usage: python docs/results/zoo-seed24/count.py [FOLDER]
    FOLDER: the audits to count, ``before/`` (the default: labelleak at 19378de) or ``after/``
    (re-audited by the labelleak of the seed-25 change)
"""

import json
import sys
from pathlib import Path

FORGOT = 0.10
VERDICT = "verdict"
SHOWN = (VERDICT, "param-diff", "param-dot", "param-diff-orig", "invert-wb", "invert-cma", "label-reach",
         "accuracy-probe", "hu-probe", "noise-frequency", "noise-logprob")  # fmt: skip


def targets(root: Path) -> list[dict]:
    """Every audited target of every folder: its record and, per attack and the verdict, whether
    the named set is exact."""
    rows = []
    for records in sorted(root.glob("*/zoo.json")):
        for row in json.loads(records.read_text()):
            audit_file = records.parent / "audits" / f"{row['name']}.json"
            if not audit_file.exists():
                continue
            audit = json.loads(audit_file.read_text())
            named = {a["name"]: set(a["predicted"]) for a in audit["attacks"]}
            named[VERDICT] = set(audit["verdict"]["forgotten"])
            rows.append({**row, "exact": {a: s == set(row["forget"]) for a, s in named.items()}})
    return rows


def table(rows: list[dict], title: str) -> None:
    kinds = sorted({(r["dataset"], r["method"], len(r["forget"])) for r in rows})
    print(f"\n{title}")
    print("  " + " | ".join(["attack", *(f"{d} {m} |C|={n}" for d, m, n in kinds)]))
    sizes = [sum((r["dataset"], r["method"], len(r["forget"])) == k for r in rows) for k in kinds]
    print("  " + " | ".join(["targets", *map(str, sizes)]))
    for attack in SHOWN:
        cells = [
            sum(r["exact"].get(attack, False) for r in rows if (r["dataset"], r["method"], len(r["forget"])) == k)
            for k in kinds
        ]
        print("  " + " | ".join([attack, *map(str, cells)]))


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "before"
    rows = targets(root)
    forgot = [r for r in rows if r["forget_test_acc"] <= FORGOT]
    print(f"{len(rows)} targets audited, {len(forgot)} forgot")
    for r in rows:
        if r["forget_test_acc"] > FORGOT:
            print(f"  did not forget: {r['name']} (forget-class test accuracy {r['forget_test_acc']:.3f})")
    table(forgot, "exact sets named, targets that forgot")
    table(rows, "exact sets named, all targets")


if __name__ == "__main__":
    main()
