"""Run ``labelleak audit`` (arguments as on the command line) and write, for every calibrated
inversion attack whose calibration the store lacks, the inputs its calibration is fitted on:
each shadow run's best achieved confidence per class at every checkpoint, the same on the run's
shadow original, its forgotten classes and its identity (seed:method:classes). The attacker's own
shadows only; no target's result is read.

usage: DUMP_OUT=FOLDER python dump_shadow_runs.py audit --model-factory ... --original ... --cache STORE
"""

import json
import os
import sys
from pathlib import Path

import labelleak.attacks.criteria as criteria
from labelleak.cli import main

OUT = Path(os.environ["DUMP_OUT"])
calibrating: dict = {}
calibrate = criteria.InversionAttack._calibrate
fit_calibration = criteria.fit_calibration


def record(readings, forgotten, originals, ids) -> dict:
    """The JSON record of one calibration's inputs (confidences only: the threshold criterion's statistic)."""

    def confidences(runs):
        return [[[float(f"{v:.10g}") for v in reading.confidence] for reading in run] for run in runs]

    return {
        "ids": list(ids),
        "forgotten": [list(map(int, f)) for f in forgotten],
        "confidence": confidences(readings),
        "original_confidence": None if originals is None else confidences(originals),
    }


def calibrate_and_remember(self, shadows):
    calibrating.update(attack=self.name, shadows=shadows)
    return calibrate(self, shadows)


def fit_and_dump(readings, forgotten, **options):
    ids = [t.identity for t in calibrating["shadows"].targets()]
    data = record(readings, forgotten, options.get("originals"), ids)
    (OUT / f"{calibrating['attack']}.json").write_text(json.dumps(data))
    return fit_calibration(readings, forgotten, **options)


if __name__ == "__main__":
    criteria.InversionAttack._calibrate = calibrate_and_remember
    criteria.fit_calibration = fit_and_dump
    sys.exit(main(sys.argv[1:]))
