"""How an inversion attack's calibration chooses its checkpoint, on the attacker's own shadow runs
(the JSON files beside this script, written by dump_shadow_runs.py): labelleak's rule (the
checkpoint whose unraised cut names the most shadow sets, ties to the larger margin, then the cut
raised to the minimum drop; ``fit_calibration``), "before", against the change tested on the
seed-26 zoo (the checkpoint whose raised cut names the most), "after". Printed: the raised
decision's exact-set rate per checkpoint by shadow method and |C|; for each rule, the checkpoint it
chooses on all runs and its out-of-fold exact-set rate (five folds over whole forget sets, every
method's shadow of a set held out together, 20 random fold draws).

usage: python docs/results/zoo-seed26/shadows/checkpoint_choice.py [ATTACK.json ...]
"""

import json
import sys
from pathlib import Path

import numpy as np

from labelleak.attacks.criteria import MIN_CONFIDENCE_DROP, _margin, forgotten_labels
from labelleak.attacks.setsize import best_exact_cut

FOLDS, REPEATS = 5, 20


def scores(run: list, original: list) -> np.ndarray:
    """(checkpoints, K): the drop in log-confidence from the run on the shadow's own original."""
    return np.log(np.clip(original, 1e-12, 1)) - np.log(np.clip(run, 1e-12, 1))


def choose_checkpoint(normalised: np.ndarray, labels: np.ndarray, *, by_raised: bool) -> tuple[int, float]:
    """The checkpoint and raised cut of a calibration: chosen by the unraised cut's exact-set rate,
    ties to the larger margin (labelleak's rule), or ``by_raised`` by the raised cut's rate, ties to
    the unraised one's, then the margin (the change tested)."""
    keys = []
    for c in range(normalised.shape[0]):
        cut, rate = best_exact_cut(normalised[c], labels)
        raised = max(cut, MIN_CONFIDENCE_DROP)
        raised_rate = float(named_exactly(normalised[c], labels, raised).mean())
        margin = _margin(normalised[c], labels)
        key = (raised_rate, rate, margin) if by_raised else (rate, margin)
        keys.append((key, -c, raised))
    best = max(keys)
    return -best[1], best[2]


def named_exactly(normalised: np.ndarray, labels: np.ndarray, cut: float) -> np.ndarray:
    """Per run, whether flagging every class above ``cut`` (none: the top class) names its set."""
    flagged = normalised > cut
    none = ~flagged.any(axis=1)
    flagged[none, normalised[none].argmax(axis=1)] = True
    return (flagged == labels).all(axis=1)


def out_of_fold(choose, normalised: np.ndarray, labels: np.ndarray, sets: np.ndarray) -> np.ndarray:
    """Mean exact-set rate of the decisions ``choose`` fits on the other folds: all, |C|=1, 2, 3."""
    everything = np.arange(len(labels))
    sizes = labels.sum(axis=1)
    rates = []
    for repeat in range(REPEATS):
        order = np.random.default_rng(repeat).permutation(np.unique(sets))
        fold_of = {s: i % FOLDS for i, s in enumerate(order)}
        fold = np.array([fold_of[s] for s in sets])
        hits = np.zeros(len(labels), dtype=bool)
        for k in range(FOLDS):
            fit_on, score_on = everything[fold != k], everything[fold == k]
            c, t = choose(fit_on)
            hits[score_on] = named_exactly(normalised[c, score_on], labels[score_on], t)
        rates.append([hits.mean()] + [hits[sizes == s].mean() for s in (1, 2, 3)])
    return np.mean(rates, axis=0)


def compare(path: Path) -> None:
    data = json.loads(path.read_text())
    confidence = np.asarray(data["confidence"])  # (runs, checkpoints, K)
    own = np.asarray(data["original_confidence"])
    normalised = np.stack([scores(r, o) for r, o in zip(confidence, own, strict=True)], axis=1)
    labels = forgotten_labels(data["forgotten"], confidence.shape[2])
    methods = np.array([i.split(":", 1)[1].rsplit(":", 1)[0] for i in data["ids"]])
    sets = np.array([i.rsplit(":", 1)[1] for i in data["ids"]])
    sizes = labels.sum(axis=1)
    print(f"{path.stem}: {len(labels)} shadow runs, {normalised.shape[0]} checkpoints")
    print("  checkpoint: unraised cut and rate; raised cut's rate, all and per method |C|=1/2/3")
    for c in range(normalised.shape[0]):
        cut, rate = best_exact_cut(normalised[c], labels)
        hits = named_exactly(normalised[c], labels, max(cut, MIN_CONFIDENCE_DROP))
        per_method = "  ".join(
            f"{m}: " + "/".join(f"{hits[(methods == m) & (sizes == s)].mean():.2f}" for s in (1, 2, 3))
            for m in sorted(set(methods))
        )
        print(f"  {c}: {cut:.3f} {rate:.3f}; {hits.mean():.3f}  {per_method}")
    rules = {
        "before": lambda runs: choose_checkpoint(normalised[:, runs], labels[runs], by_raised=False),
        "after": lambda runs: choose_checkpoint(normalised[:, runs], labels[runs], by_raised=True),
    }
    for name, choose in rules.items():
        checkpoint, cut = choose(np.arange(len(labels)))
        rate = out_of_fold(choose, normalised, labels, sets)
        print(
            f"  {name:6s} chooses checkpoint {checkpoint} (cut {cut:.3f}); out of fold: all {rate[0]:.3f}, "
            f"|C|=1 {rate[1]:.3f}, pairs {rate[2]:.3f}, triples {rate[3]:.3f}"
        )


def main() -> None:
    for path in [Path(p) for p in sys.argv[1:]] or sorted(Path(__file__).parent.glob("*.json")):
        compare(path)


if __name__ == "__main__":
    main()
