"""The calibrated inversion attacks' fitted choices in an artifact store: per stored calibration, the
attack, the checkpoint it reads, its cut (threshold) and the share of shadow sets that cut names
exactly at that checkpoint; then the seconds each stored shadow original θ_o′ took to train; each
line starts with the dataset and architecture (and a calibration's with its record number: 3 is
labelleak's; a tested change that was not kept stored its own under another).

usage: python docs/results/shadow-threads/calibrations.py STORE
"""

import json
import sys
from pathlib import Path


def main() -> None:
    rows = []
    for path in Path(sys.argv[1]).glob("inversion-calibration/*/result.json"):
        record = json.loads(path.read_text())
        config, result = record["config"], record["result"]
        attack = config.get("attack") or config.get("name")
        rows.append(
            f"{config['dataset']} {config['arch']} {attack} (record {config['record']}): checkpoint {result['checkpoint']}, threshold {result['threshold']:.4f}, "
            f"shadow sets named {result['shadow_asr']:.3f} of {result['n_shadow']}"
        )
    for path in Path(sys.argv[1]).glob("original/*/model.json"):
        record = json.loads(path.read_text())
        config = record["config"]
        if config["dataset"].endswith("-shadow"):
            rows.append(
                f"{config['dataset']} {config['spec']['arch']} shadow original θ_o′ seed {config['seed']}: "
                f"trained in {record['metrics']['train_seconds']:.1f} s"
            )
    print("\n".join(sorted(rows)))


if __name__ == "__main__":
    main()
