"""Check labelleak's GPU path end to end, and time each step (docs/runner.md, "GPU").

What it does, on ``--device`` (default ``auto``: cuda when available, else cpu), with no artifact
store so that every step is computed:

1. trains θ_o on ``--dataset`` (scikit-learn's bundled digits by default: no download; ``mnist``
   when its files are on this machine);
2. unlearns class ``--forget`` from it with each of ``--methods``;
3. runs every registered attack on the first method's θ_u, and ``param-diff`` twice more: with its
   reference models fine-tuned in full (the one attack that trains a copy of the target) and with
   the Youden decider, fit on shadow models trained and unlearned on the same device;
4. prints one row per step: the device the step's models ran on, its wall seconds and its outcome.

Run:  python benchmarks/gpu_check.py                    # on a machine with a GPU
      python benchmarks/gpu_check.py --device cpu --fast  # anywhere, in about a minute

Without CUDA, ``--device auto`` says so in one line and runs on the CPU; ``--device cuda`` stops
with a one-line error and exit status 2. The numbers of a GPU run may differ from a CPU run's in
the last digits; the predicted classes are what to compare.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

from labelleak import LabelleakError
from labelleak.access import GradientAccess
from labelleak.attacks import ATTACKS, ShadowConfig, Shadows
from labelleak.attacks.knowledge import draw_knowledge
from labelleak.data import load_dataset
from labelleak.device import DEVICE_CHOICES, module_device, resolve_device, use_device
from labelleak.models import recipe_for
from labelleak.report.markdown import markdown_table
from labelleak.targets import access_view, train_original, unlearn_original

#: attack options that keep ``--fast`` short (the demo's settings, ``labelleak demo``)
FAST_OPTIONS: dict[str, dict[str, Any]] = {
    "invert-wb": {"steps": 30, "read_step": 10},
    "invert-bb": {"query_budget": 2560},
}


def timed(device: torch.device, step: Callable[[], Any]) -> tuple[Any, float]:
    """``step()`` and its wall seconds, with the GPU's queued work finished inside the timing."""
    start = time.perf_counter()
    value = step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return value, time.perf_counter() - start


def check(args: argparse.Namespace, device: torch.device) -> list[list[str]]:
    rows: list[list[str]] = []

    def row(step: str, where: torch.device, seconds: float, outcome: str) -> None:
        rows.append([step, str(where), f"{seconds:.2f}", outcome])
        print(f"  {step}: {seconds:.2f} s on {where}; {outcome}", file=sys.stderr)

    dataset, seconds = timed(device, lambda: load_dataset(args.dataset, root=args.data_root))
    row(f"load {dataset.name}", torch.device("cpu"), seconds, f"{len(dataset.y_train)} training images")
    recipe = recipe_for(dataset.name, epochs=max(1, recipe_for(dataset.name).epochs // 4) if args.fast else None)
    original, seconds = timed(device, lambda: train_original(dataset, seed=0, train_config=recipe))
    row(
        f"train θ_o ({recipe.epochs} epochs)",
        module_device(original.model),
        seconds,
        f"test accuracy {original.metrics['test_accuracy']:.1%}",
    )
    targets = {}
    for method in args.methods:
        result, seconds = timed(
            device, lambda m=method: unlearn_original(original, dataset, method=m, forget_classes=[args.forget], seed=0)
        )
        targets[method] = result.model
        row(
            f"unlearn {method}",
            module_device(result.model),
            seconds,
            f"forget test acc {result.metrics['forget_test_acc']:.1%}, "
            f"retain test acc {result.metrics['retain_test_acc']:.1%}",
        )
    target = targets[args.methods[0]]
    draw = draw_knowledge(dataset, original=access_view(original.model, "weights"), seed=0)
    shadows = Shadows(
        dataset,
        draw,
        config=ShadowConfig(methods=("random_labels",), epochs=recipe.epochs, seed=1000),
        eval_seeds=[0],
    )
    runs = [(name, name, FAST_OPTIONS.get(name, {}) if args.fast else {}) for name in ATTACKS.names()]
    runs.append(("param-diff (full fine-tune)", "param-diff", {"full_finetune": True, "finetune_epochs": 1}))
    runs.append(("param-diff (youden, shadow-calibrated)", "param-diff", {"decider": "youden"}))
    for label, name, options in runs:
        attack = ATTACKS.build(name, **options)
        if attack.needs_calibration:
            _, seconds = timed(device, lambda a=attack: a.calibrate(shadows))
            row(f"calibrate {label}", device, seconds, attack.calibration_.describe())
        view = access_view(target, ATTACKS.get(name).requires)
        outcome, seconds = timed(device, lambda a=attack, v=view: a.infer(v, knowledge=draw.knowledge))
        success = "SUCCESS" if set(outcome.predicted) == {args.forget} else "failure"
        where = view.device if isinstance(view, GradientAccess) else device
        row(f"attack {label}", where, seconds, f"predicted {list(outcome.predicted)}: {success}")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="auto (default), cpu or cuda")
    parser.add_argument("--dataset", choices=("digits", "mnist"), default="digits", help="default: digits")
    parser.add_argument("--data-root", metavar="DIR", help="where mnist's files are (default: the usual places)")
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["random_labels", "salun", "scrub"],
        metavar="METHOD",
        help="unlearning methods (default: random_labels salun scrub); attacks run on the first one's θ_u",
    )
    parser.add_argument("--forget", type=int, default=3, help="the class to forget (default: 3)")
    parser.add_argument("--fast", action="store_true", help="a quarter of θ_o's epochs and short inversions")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    print(f"torch {torch.__version__}; CUDA available: {torch.cuda.is_available()}")
    if not torch.cuda.is_available() and args.device != "cuda":
        print(f"no CUDA on this machine: --device {args.device} runs on the CPU")
    try:
        device = resolve_device(args.device)
        if device.type == "cuda":
            print(f"GPU: {torch.cuda.get_device_name(device)}")
        start = time.perf_counter()
        with use_device(device):
            rows = check(args, device)
    except LabelleakError as err:
        print(f"gpu_check: error: {err}", file=sys.stderr)
        return 2
    print(f"\nlabelleak on {device} ({args.dataset}, {'fast' if args.fast else 'full'} settings)\n")
    print(markdown_table(["step", "device", "seconds", "outcome"], rows))
    print(f"\n{time.perf_counter() - start:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
