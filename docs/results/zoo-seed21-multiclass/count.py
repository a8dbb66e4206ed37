"""The counts of RUN.md, from the committed zoo records and audit JSONs: per dataset and pooled,
on the targets that forgot (forget-class test accuracy ≤ 10%), each attack's and the verdict's
exact-set rate by |C|, its precision and recall over the named classes, how often its |C| most
probable classes are the forgotten ones (the set it would name if told |C|), the confusion of |C|
against |Ĉ|, and every target whose set the verdict missed.

usage: python docs/results/zoo-seed21-multiclass/count.py [FOLDER]   (default: this file's folder)
"""

import json
import sys
from collections import Counter
from pathlib import Path

DATASETS = ("mnist", "fashion-mnist", "cifar10")
FORGOT = 0.10
VERDICT = "verdict"
#: the attacks that read the weights (or gradients): the candidates for "the best weights-access attack"
WEIGHTS_ACCESS = ("param-diff", "param-dot", "param-diff-orig", "invert-wb")


def records(root: Path) -> list[dict]:
    """Every audited target of the folder, as the zoo recorded it."""
    return [
        row
        for dataset in DATASETS
        if (root / dataset / "zoo.json").exists()
        for row in json.loads((root / dataset / "zoo.json").read_text())
    ]


def targets(root: Path, every: list[dict]) -> list[dict]:
    """The targets of ``every`` that forgot, with each attack's and the verdict's named set."""
    rows = []
    for row in every:
        if row["forget_test_acc"] <= FORGOT:
            audit = json.loads((root / row["dataset"] / "audits" / f"{row['name']}.json").read_text())
            named = {a["name"]: sorted(a["predicted"]) for a in audit["attacks"]}
            named[VERDICT] = sorted(audit["verdict"]["forgotten"])
            probabilities = {a["name"]: a["probabilities"] for a in audit["attacks"]}
            probabilities[VERDICT] = audit["verdict"]["confidence"]
            rows.append({**row, "named": named, "probabilities": probabilities})
    return rows


def rates(rows: list[dict], attack: str) -> str:
    """Exact sets named per |C|, then precision and recall over all named and forgotten classes."""
    exact = Counter()
    ranked = Counter()
    total = Counter()
    hits = named = forgotten = 0
    for row in rows:
        truth, guess = set(row["forget"]), set(row["named"][attack])
        total[len(truth)] += 1
        exact[len(truth)] += truth == guess
        top = sorted(range(len(row["probabilities"][attack])), key=lambda k: -row["probabilities"][attack][k])
        ranked[len(truth)] += set(top[: len(truth)]) == truth
        hits += len(truth & guess)
        named += len(guess)
        forgotten += len(truth)
    sizes = " / ".join(f"{exact[n]}/{total[n]}" for n in sorted(total))
    told = " / ".join(f"{ranked[n]}" for n in sorted(total))
    return f"{sizes}; precision {hits / max(named, 1):.1%}, recall {hits / max(forgotten, 1):.1%}; told |C|: {told}"


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
    every = records(root)
    rows = targets(root, every)
    print(f"targets {len(every)}, forgot {len(rows)} (forget-class test accuracy <= {FORGOT:.0%})")
    methods = Counter(r["method"] for r in rows)
    print("forgot per method:", dict(sorted(methods.items())))
    groups = {**{d: [r for r in rows if r["dataset"] == d] for d in DATASETS}, "pooled": rows}
    attacks = sorted({a for r in rows for a in r["named"]} - {VERDICT}) + [VERDICT]
    print("\nexact sets named by |C| (the sizes present, smallest first); precision and recall of the named classes")
    for attack in attacks:
        print(f"  {attack}:")
        for where, group in groups.items():
            if group:
                print(f"      {where:14s} {rates(group, attack)}")
    best = max(
        WEIGHTS_ACCESS,
        key=lambda a: sum(set(r["forget"]) == set(r["named"][a]) for r in rows if a in r["named"]),
    )
    print(f"\nbest weights-access attack (most exact sets, pooled): {best}")
    print("\nconfusion of |C| (rows) against |Ĉ| (columns), verdict, pooled:")
    confusion = Counter((len(r["forget"]), len(r["named"][VERDICT])) for r in rows)
    sizes = sorted({n for pair in confusion for n in pair})
    print("        " + " ".join(f"{n:>4}" for n in sizes))
    for truth in sorted({t for t, _ in confusion}):
        print(f"  |C|={truth} " + " ".join(f"{confusion[truth, n]:>4}" for n in sizes))
    print("\nverdict misses (target, forget / retain test accuracy, named):")
    for row in rows:
        if set(row["forget"]) != set(row["named"][VERDICT]):
            print(
                f"  {row['name']}: {row['forget_test_acc']:.1%} / {row['retain_test_acc']:.1%},"
                f" named {row['named'][VERDICT]}"
            )


if __name__ == "__main__":
    main()
