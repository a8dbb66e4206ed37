"""How fast inference runs per image at each batch size, on this machine's CPU.

labelleak evaluates models, queries them and reads their features in batches of
``labelleak.device.CPU_INFERENCE_BATCH`` images on the CPU. This prints the measurement behind
that choice: microseconds per image of a forward pass in ``eval()`` mode, for labelleak's own
architectures and the foreign zoo's (``benchmarks/zoo_models.py``), at each batch size, best of
``--repeats`` passes over ``--images`` random images.

    python benchmarks/inference_batch.py --threads 2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import zoo_models
from labelleak.models import ModelSpec, build_model
from labelleak.report.markdown import markdown_header, markdown_row

BATCHES = (32, 64, 128, 256, 512, 1024, 2048)


def networks() -> dict[str, torch.nn.Module]:
    def own(arch: str) -> torch.nn.Module:
        return build_model(ModelSpec(arch=arch, in_channels=1, image_size=28, num_classes=10), seed=0)

    return {
        **{f"labelleak {arch}": own(arch) for arch in ("mlp", "lenet", "smallcnn")},
        **{f"zoo {name}": getattr(zoo_models, f"{name}_g28")() for name in ("mlp", "bn_cnn", "resnet", "vgg_bn")},
    }


@torch.no_grad()
def microseconds_per_image(model: torch.nn.Module, x: torch.Tensor, batch: int, repeats: int) -> float:
    model(x[:batch])  # warm-up: the first call of a shape allocates
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(x), batch):
            model(x[i : i + batch])
        best = min(best, time.perf_counter() - start)
    return best / len(x) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x = torch.rand(args.images, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    print(f"µs per image, {args.threads} torch thread(s), 1×28×28 inputs, best of {args.repeats}")
    print(markdown_header(["network", *map(str, BATCHES), "best"]))
    for name, model in networks().items():
        times = [microseconds_per_image(model.eval(), x, b, args.repeats) for b in BATCHES]
        best = BATCHES[min(range(len(times)), key=times.__getitem__)]
        print(markdown_row([name, *(f"{t:.0f}" for t in times), best]))


if __name__ == "__main__":
    main()
