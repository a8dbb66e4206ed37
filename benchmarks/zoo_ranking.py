"""Ranking versus naming: does an attack that misses the forgotten set rank it first, and how far
do the owner's unlearning methods move the classes they did not forget?

An attack's exact-set decision has two parts: per-class scores (higher = more likely forgotten,
every attack's convention) and how many classes to name. This script separates them on a zoo run
by ``benchmarks/foreign_zoo.py``, from its record (``zoo.json``) and its audit JSONs, on the targets
that forgot (forget-class test accuracy ≤ 10%):

* **ranked**: the |C| top-scored classes are exactly the forgotten set C (the decision an attacker
  told |C| would make);
* **exact**: the audit named exactly C (what ``zoo.md`` reports);
* with ``--min-drop D``, for the inversion attacks, **raised**: the exact-set decision recomputed
  with the audit's cut raised to D (the decided classes scoring above D, else the top class), which
  is what an audit whose calibrated threshold is at least D decides at the same checkpoint; how the
  minimum drop of ``labelleak.attacks.criteria`` was checked on audits made before it;
* per owner method, for the inversion attacks: the median over targets of the largest score of a
  *retained* class and the smallest score of a forgotten one. A calibrated threshold separates the
  two only where the first stays below the second, and it was fitted on the attacker's shadows,
  whose retained classes barely move (docs/audit.md).

    python benchmarks/zoo_ranking.py docs/results/zoo-fashion-mnist-seed9/shadows-read-entries

writes ``ranking.md`` into that folder, ``ranking-min-drop.md`` with ``--min-drop`` (``zoo.json``
and ``audits/`` are read from it; ``--zoo-json`` names another record of the same targets).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from labelleak.report.markdown import markdown_table

#: a target "forgot" when its forget-class test accuracy is at most this (as in foreign_zoo.py)
FORGOT = 0.10
INVERSION = ("invert-wb", "invert-bb", "invert-cma", "label-reach")


def load(folder: Path, zoo_json: Path) -> list[dict]:
    """Targets that forgot and were audited, each with its audit's per-attack scores and decided
    sets (``attacks``) and the verdict's set (``verdict``)."""
    targets = []
    for row in json.loads(zoo_json.read_text()):
        path = folder / "audits" / f"{row['name']}.json"
        if row["forget_test_acc"] > FORGOT or not path.exists():
            continue
        audit = json.loads(path.read_text())
        attacks = {a["name"]: (np.asarray(a["scores"], dtype=float), sorted(a["predicted"])) for a in audit["attacks"]}
        targets.append({**row, "attacks": attacks, "verdict": sorted(audit["verdict"]["forgotten"])})
    return targets


def ranked(scores: np.ndarray, truth: list[int]) -> bool:
    return sorted(np.argsort(-scores, kind="stable")[: len(truth)].tolist()) == truth


def raised(scores: np.ndarray, decided: list[int], min_drop: float) -> list[int]:
    kept = [int(k) for k in decided if scores[k] > min_drop]
    return kept or [int(np.argmax(scores))]


def ranking_table(targets: list[dict], column_of, min_drop: float | None = None) -> str:
    columns = sorted({column_of(t) for t in targets})
    attacks = sorted({a for t in targets for a in t["attacks"]} - {"random-guess"})
    heading = "exact / ranked" if min_drop is None else "exact / raised / ranked"
    body = []
    for attack in attacks:
        cells = []
        for column in columns:
            chosen = [t for t in targets if column_of(t) == column and attack in t["attacks"]]
            counts = [sum(t["attacks"][attack][1] == sorted(t["forget"]) for t in chosen)]
            if min_drop is not None:
                counts.append(
                    sum(raised(*t["attacks"][attack], min_drop) == sorted(t["forget"]) for t in chosen)
                    if attack in INVERSION
                    else counts[0]
                )
            counts.append(sum(ranked(t["attacks"][attack][0], sorted(t["forget"])) for t in chosen))
            cells.append(" / ".join(map(str, counts)) + f" of {len(chosen)}")
        body.append([attack, *cells])
    return markdown_table(["attack", *(f"{c}: {heading}" for c in columns)], body)


def collateral_table(targets: list[dict]) -> str:
    cells: dict[tuple[str, str, str], list[tuple[float, float]]] = defaultdict(list)
    for t in targets:
        for attack in INVERSION:
            if attack not in t["attacks"]:
                continue
            scores = t["attacks"][attack][0]
            forgotten = np.zeros(len(scores), dtype=bool)
            forgotten[t["forget"]] = True
            cells[(t["arch"], attack, t["method"])].append((scores[~forgotten].max(), scores[forgotten].min()))
    methods = sorted({m for _, _, m in cells})
    body = []
    for arch, attack in sorted({(a, k) for a, k, _ in cells}):
        row = []
        for method in methods:
            values = cells.get((arch, attack, method))
            if not values:
                row.append("–")
                continue
            retained, forgotten = np.median(np.asarray(values), axis=0)
            row.append(f"{retained:.2f} / {forgotten:.2f} (n={len(values)})")
        body.append([arch, attack, *row])
    return markdown_table(["architecture", "attack", *methods], body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="a foreign_zoo.py output folder (zoo.json and audits/)")
    parser.add_argument("--zoo-json", type=Path, help="the zoo record (default: FOLDER/zoo.json)")
    parser.add_argument(
        "--min-drop",
        type=float,
        help="also count the inversion attacks' decisions with their cut raised to this score (e.g. 0.693 = log 2)",
    )
    args = parser.parse_args(argv)
    targets = load(args.folder, args.zoo_json or args.folder / "zoo.json")
    if not targets:
        parser.error(f"no audited target that forgot under {args.folder}")
    singles = [t for t in targets if len(t["forget"]) == 1]
    raised_heading = "" if args.min_drop is None else f" / named with the cut raised to {args.min_drop:g}"
    report = [
        f"Targets that forgot (forget-class test accuracy ≤ {FORGOT:.0%}): {len(targets)}, "
        f"{len(singles)} of them single-class.",
        "",
        "### Single-class targets: exact set named" + raised_heading + " / forgotten class ranked first",
        "",
        ranking_table(singles, lambda t: f"{t['dataset']}/{t['arch']}", args.min_drop),
        "",
        "### All targets that forgot, by |C|: exact set named"
        + raised_heading
        + " / the |C| top-scored classes are the set",
        "",
        ranking_table(targets, lambda t: f"\\|C\\|={len(t['forget'])}", args.min_drop),
        "",
        "### Inversion attacks, per owner method: median largest retained score / median smallest forgotten score",
        "",
        collateral_table(targets),
        "",
    ]
    (args.folder / ("ranking.md" if args.min_drop is None else "ranking-min-drop.md")).write_text("\n".join(report))
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
