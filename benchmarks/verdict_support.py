"""The verdict's support rule applied to stored audits: how many verdicts it changes, and how many
of those it gets right.

Since ``labelleak.audit.verdict.VERDICT_REVISION`` 2 the fused verdict names a class only when at
least one attack named it itself (docs/audit.md). An audit JSON written before holds everything that
rule needs: each attack's decided set, whether it abstained, and the fused confidence per class,
above 0.5 exactly for the classes above the fused cut. This script recomputes the verdict of every
fused audit under ``FOLDER/audits*/`` with :func:`labelleak.audit.verdict.supported_classes` and
compares both verdicts with the forgotten set in the audit's file name (``…_f3-5.json``: classes 3
and 5). Where the folder records the targets' forget-class test accuracy (``audit.json`` of
``benchmarks/grid_audit.py``, ``zoo*.json`` of ``benchmarks/foreign_zoo.py``), the counts are over
the targets that forgot (≤ 10%); else over every target.

    python benchmarks/verdict_support.py docs/results/multiclass-methods docs/results/zoo-mnist-seed14
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from labelleak.attacks.base import AttackResult
from labelleak.attacks.setsize import log_odds
from labelleak.audit.verdict import supported_classes, vote_counts
from labelleak.report.markdown import markdown_table

#: a target "forgot" when its forget-class test accuracy is at most this (as the zoo and grid audits)
FORGOT = 0.10
TRUTH = re.compile(r"_f(\d+(?:-\d+)*)\.json$")


def forget_accuracies(folder: Path) -> dict[str, float]:
    """Target name -> forget-class test accuracy, from the folder's grid-audit or zoo records."""
    accuracies = {}
    for record in [folder / "audit.json", *sorted(folder.glob("zoo*.json"))]:
        if record.is_file():
            for row in json.loads(record.read_text()):
                name = row.get("cell") or row.get("name")
                if name and "forget_test_acc" in row:
                    accuracies[name] = float(row["forget_test_acc"])
    return accuracies


def revised(audit: dict) -> list[int] | None:
    """The verdict of ``audit`` under the support rule (None for an audit without the fused rule)."""
    v = audit["verdict"]
    if v.get("rule") != "fused" or not v.get("confidence"):
        return None
    num_classes = len(v["confidence"])
    results = [
        AttackResult(
            attack=a["name"],
            access=a["access"],
            scores=np.zeros(num_classes),  # the vote reads only the decided sets
            predicted=tuple(a["predicted"]),
            queries=a["queries"],
            seconds=0.0,
            abstains=a.get("abstains", ""),
        )
        for a in audit["attacks"]
    ]
    votes = vote_counts(results, num_classes=num_classes)
    named, _ = supported_classes(log_odds(np.asarray(v["confidence"])), cut=0.0, votes=votes)
    return named


def compare(folder: Path) -> list[list[str]]:
    """One row per audit folder under ``folder`` and set size: audits, verdicts changed, exact before → after."""
    accuracies = forget_accuracies(folder)
    rows = []
    for audits in sorted(p for p in folder.glob("audits*") if p.is_dir()):
        counts: dict[int, list[int]] = {}
        for path in sorted(audits.glob("*.json")):
            match = TRUTH.search(path.name)
            name = path.name.removesuffix(".json")
            if match is None or (accuracies and accuracies.get(name, 1.0) > FORGOT):
                continue
            audit = json.loads(path.read_text())
            after = revised(audit)
            if after is None:
                continue
            truth = sorted(int(c) for c in match.group(1).split("-"))
            before = sorted(audit["verdict"]["forgotten"])
            n = counts.setdefault(len(truth), [0, 0, 0, 0])
            n[0] += 1
            n[1] += before != after
            n[2] += before == truth
            n[3] += after == truth
        scope = "targets that forgot" if accuracies else "every target"
        for size, (audited, changed, right_before, right_after) in sorted(counts.items()):
            rows.append(
                [
                    f"{folder.name}/{audits.name}",
                    scope,
                    str(size),
                    str(audited),
                    str(changed),
                    f"{right_before} → {right_after}",
                ]
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path, help="results folders holding audits*/ of audit JSONs")
    args = parser.parse_args(argv)
    rows = [row for folder in args.folders for row in compare(folder)]
    header = ["audits", "counted", "|C|", "fused audits", "verdicts changed", "exact set, before → support rule"]
    print(markdown_table(header, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
