"""Seconds per training step and per forward pass of an architecture, to size a grid before running it.

    python benchmarks/step_cost.py [--archs resnet18 smallcnn] [--dataset cifar10] [--batch 128] [--threads 1]

Random inputs of the dataset's shape (no data needed); the median of ``--repeats`` steps after one
warm-up step. One θ_o costs about epochs x ceil(n_train / batch) training steps.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from labelleak.models.architectures import ModelSpec, build_model
from labelleak.report.markdown import markdown_header, markdown_row

SHAPES = {"digits": (1, 8), "mnist": (1, 28), "fashion-mnist": (1, 28), "cifar10": (3, 32), "svhn": (3, 32)}


def _median_seconds(step, repeats: int) -> float:
    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _cost(arch: str, x: torch.Tensor, y: torch.Tensor, *, repeats: int) -> tuple[int, float, float]:
    """(parameters, seconds per training step, seconds per forward pass) of ``arch`` on the batch ``x``."""
    channels, side = x.shape[1], x.shape[2]
    spec = ModelSpec(
        arch=arch, in_channels=channels, image_size=side, num_classes=10, mean=(0.0,) * channels, std=(1.0,) * channels
    )
    model = build_model(spec, seed=0)
    optimizer = torch.optim.Adam(model.parameters())

    def train_step() -> None:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    model.train()
    train = _median_seconds(train_step, repeats)
    model.eval()
    with torch.no_grad():
        forward = _median_seconds(lambda: model(x), repeats)
    return sum(p.numel() for p in model.parameters()), train, forward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", nargs="+", default=["resnet18", "smallcnn"])
    parser.add_argument("--dataset", default="cifar10", choices=sorted(SHAPES))
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    channels, side = SHAPES[args.dataset]
    x = torch.randn(args.batch, channels, side, side)
    y = torch.randint(0, 10, (args.batch,))
    arch_header = f"arch ({args.dataset}, batch {args.batch}, {args.threads} thread(s))"
    print(markdown_header([arch_header, "parameters", "train step s", "forward s"]))
    for arch in args.archs:
        params, train, forward = _cost(arch, x, y, repeats=args.repeats)
        print(markdown_row([arch, f"{params / 1e6:.2f} M", f"{train:.2f}", f"{forward:.2f}"]))


if __name__ == "__main__":
    main()
