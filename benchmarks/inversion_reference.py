"""Per-class difficulty on foreign models: raw inversion confidence against the same run on θ_o.

For every target of a foreign zoo (``benchmarks/foreign_zoo.py --out DIR``) that forgot (forget-class
test accuracy ≤ 10%), the white-box inversion (``invert-wb``'s search with its defaults) runs on θ_u
and on the zoo's θ_o of the same architecture. At each recorded step count it counts the targets
whose |C| most-forgotten-looking classes are exactly C (|C| given, so no threshold is involved), by

* the raw statistic: the lowest log-confidences on θ_u;
* the difference against the original: log p_k(x_k) on θ_o minus on θ_u, the largest first
  (the reference ``reference="original"`` of :mod:`labelleak.attacks.criteria`).

    python benchmarks/inversion_reference.py --zoo runs/zoo --dataset mnist --archs mlp,bn_cnn
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from labelleak.access import GradientAccess
from labelleak.attacks.inversion import WhiteBoxInversion
from labelleak.data import load_dataset
from labelleak.report.markdown import markdown_table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from foreign_zoo import FORGOT
from zoo_models import ZOO


def top_is_truth(scores: np.ndarray, truth: list[int]) -> bool:
    return sorted(int(k) for k in np.argsort(-scores, kind="stable")[: len(truth)]) == truth


def measure(zoo: Path, dataset: str, arch: str) -> dict:
    data = load_dataset(dataset)
    factory = ZOO[arch][1]["g28" if data.input_shape[0] == 1 else "c32"]

    def run(path: Path):
        model = factory()
        model.load_state_dict(load_file(str(path)))
        view = GradientAccess(model.eval(), num_classes=data.num_classes, input_shape=data.input_shape)
        return WhiteBoxInversion().run(view)

    original = run(zoo / "models" / f"{dataset}_{arch}_original.safetensors")
    steps = [int(s) for s in original.checkpoints]
    log_o = np.log(np.clip(original.confidence, 1e-12, 1.0))
    raw, against = np.zeros(len(steps), dtype=int), np.zeros(len(steps), dtype=int)
    n = 0
    for meta in sorted((zoo / "models").glob(f"{dataset}_{arch}_*_f*.json")):
        if json.loads(meta.read_text())["forget_test_acc"] > FORGOT:
            continue
        truth = sorted(int(c) for c in meta.stem.rsplit("_f", 1)[1].split("-"))
        unlearned = run(meta.with_suffix(".safetensors"))
        n += 1
        log_u = np.log(np.clip(unlearned.confidence, 1e-12, 1.0))
        for i in range(len(steps)):
            raw[i] += top_is_truth(-log_u[i], truth)
            against[i] += top_is_truth(log_o[i] - log_u[i], truth)
    return {"dataset": dataset, "arch": arch, "n": n, "steps": steps, "raw": raw.tolist(), "original": against.tolist()}


def markdown(rows: list[dict]) -> str:
    lines = []
    for row in rows:
        lines += [
            f"{row['dataset']} / {row['arch']}: {row['n']} targets that forgot; |C| top classes exactly C",
            "",
            markdown_table(
                ["step", *row["steps"]],
                [["raw confidence", *row["raw"]], ["against θ_o's run", *row["original"]]],
            ),
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoo", type=Path, required=True, help="the --out folder of benchmarks/foreign_zoo.py")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--archs", default="mlp,bn_cnn")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the counts here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [measure(args.zoo, args.dataset, arch) for arch in args.archs.split(",")]
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
