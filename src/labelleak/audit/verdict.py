"""Where the attacks agree: the score margin of one result and the verdict over all of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from labelleak.attacks.base import AttackResult


def score_margin(scores: np.ndarray, predicted: Sequence[int]) -> float:
    """Gap between the decided set and the rest, in units of the scores' spread across classes:
    (min over Ĉ − max over the other classes) / std(s). Positive = Ĉ stands above every other class;
    comparable across attacks whose raw scores live on different scales. 0 when scores are flat."""
    scores = np.asarray(scores, dtype=np.float64)
    inside = [int(c) for c in predicted]
    outside = [k for k in range(len(scores)) if k not in inside]
    spread = float(scores.std())
    if not inside or not outside or spread == 0 or not np.isfinite(spread):
        return 0.0
    return float((scores[inside].min() - scores[outside].max()) / spread)


@dataclass
class AuditVerdict:
    forgotten: list[int]
    agreeing_attacks: int
    attacks_run: int


def votes_in_verdict(result: AttackResult) -> bool:
    """False for a chance reference: a query-level attack that asked the model nothing (e.g.
    ``random-guess``) carries no evidence about it, so it is shown but does not vote."""
    return not (result.access == "queries" and result.queries == 0)


def verdict(results: Sequence[AttackResult], *, num_classes: int) -> AuditVerdict:
    """The classes a majority of the attacks name, and how many attacks named each of them at least.

    Every attack that looked at the model votes for each class in its predicted set; a class is in
    the verdict when more than half of those attacks name it, so a set of forgotten classes is named
    when most attacks name it. When no class has a majority, the most-named classes are the verdict
    (ties all reported). ``attacks_run`` counts every attack run, chance references included.
    """
    votes = np.zeros(num_classes, dtype=int)
    voting = [result for result in results if votes_in_verdict(result)]
    for result in voting:
        for c in result.predicted:
            votes[int(c)] += 1
    if votes.max(initial=0) == 0:
        return AuditVerdict(forgotten=[], agreeing_attacks=0, attacks_run=len(results))
    named = np.flatnonzero(2 * votes > len(voting))
    if not len(named):
        named = np.flatnonzero(votes == votes.max())
    return AuditVerdict(
        forgotten=[int(c) for c in named], agreeing_attacks=int(votes[named].min()), attacks_run=len(results)
    )
