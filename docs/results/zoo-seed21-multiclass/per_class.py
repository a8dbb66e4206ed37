"""Per-class test accuracy of θ_o and θ_u for the targets whose set the verdict missed (the
misses of count.py), from the zoo's models, which are not committed (rebuild them with RUN.md's
commands): what the unlearning left of each class.

usage: python docs/results/zoo-seed21-multiclass/per_class.py OUT [FOLDER]
    OUT: the folder the zoo was built into (OUT/D/models); FOLDER: the committed records (default:
    this file's folder). Prints one line per miss.
"""

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from labelleak.data import load_dataset
from labelleak.models import per_class_accuracy
from zoo_models import ZOO

DATASETS = ("mnist", "fashion-mnist", "cifar10")


def main() -> None:
    out = Path(sys.argv[1])
    root = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).parent
    torch.set_num_threads(1)
    for dataset in DATASETS:
        if not (root / dataset / "zoo.json").exists():
            continue
        data = load_dataset(dataset)
        factory = ZOO["bn_cnn"][1]["g28" if data.input_shape[0] == 1 else "c32"]
        original = factory()
        original.load_state_dict(load_file(str(out / dataset / "models" / f"{dataset}_bn_cnn_original.safetensors")))
        before = per_class_accuracy(original, data.x_test, data.y_test, data.num_classes)
        for row in json.loads((root / dataset / "zoo.json").read_text()):
            audit = json.loads((root / dataset / "audits" / f"{row['name']}.json").read_text())
            named = sorted(audit["verdict"]["forgotten"])
            if row["forget_test_acc"] > 0.10 or named == sorted(row["forget"]):
                continue
            model = factory()
            model.load_state_dict(load_file(str(out / dataset / "models" / f"{row['name']}.safetensors")))
            after = per_class_accuracy(model, data.x_test, data.y_test, data.num_classes)
            cells = ", ".join(
                f"{k}{'*' if k in row['forget'] else ''}: {before[k]:.0%} → {after[k]:.0%}"
                for k in range(len(after))
                if k in row["forget"] or k in named
            )
            print(f"{row['name']}: named {named}; {cells}")


if __name__ == "__main__":
    main()
