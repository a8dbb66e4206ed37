"""Does a BatchNorm-statistics prior (DeepInversion) change what white-box inversion ranks as forgotten?

DeepInversion (Yin et al., CVPR 2020) adds to the inversion loss, for every BatchNorm layer l,
‖μ_l(x) − running_mean_l‖₂ + ‖σ²_l(x) − running_var_l‖₂ over the batch of synthesised inputs, so that
the prototypes' feature statistics match those the model saw in training. It needs the BN buffers,
i.e. weights access. This script measures whether it helps the label-leakage question on the
foreign zoo's BatchNorm architectures: it builds MNIST targets with the zoo's independent
plain-PyTorch code (``benchmarks/foreign_zoo.py``: 20,000 training images, 3 epochs, seed 7), runs
labelleak's inversion loss (Adam on sigmoid-parametrised inputs from grey, lr 0.1, total variation
0.01, L2 0.001, one prototype per class in one batch) with the prior at weights λ, and prints, per
checkpoint step, the three classes with the lowest best-so-far confidence (the forgotten ones
should come first) and the confidences at step 20.

    python benchmarks/bn_prior.py --arch bn_cnn --out runs/bn-prior
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from labelleak.attacks.inversion import total_variation
from labelleak.data import load_dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from foreign_zoo import accuracy, fit, unlearn
from zoo_models import ZOO

CHECKPOINTS = (5, 10, 20, 30, 50, 100, 200)


def invert(model: torch.nn.Module, *, steps: int, bn: float, lr: float = 0.1) -> dict[int, list[float]]:
    """Best-so-far confidence of each class's prototype at each checkpoint, with BN-prior weight ``bn``."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    captured: list[tuple[torch.nn.Module, torch.Tensor]] = []
    hooks = [m.register_forward_hook(lambda m, i, o: captured.append((m, i[0]))) for m in norms]
    z = torch.logit(torch.full((10, 1, 28, 28), 0.5)).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    classes = torch.arange(10)
    best = torch.full((10,), -1.0)
    record = {}
    for step in range(1, steps + 1):
        captured.clear()
        x = torch.sigmoid(z)
        picked = torch.log_softmax(model(x), 1)[classes, classes]
        best = torch.maximum(best, picked.detach().exp())
        if step in CHECKPOINTS:
            record[step] = best.numpy().round(3).tolist()
        prior = torch.zeros(())
        for m, features in captured:
            mean = features.mean((0, 2, 3))
            var = features.var((0, 2, 3), unbiased=False)
            prior = prior + torch.norm(mean - m.running_mean, 2) + torch.norm(var - m.running_var, 2)
        loss = -picked.sum() + 0.01 * total_variation(x).sum() + 0.001 * x.pow(2).flatten(1).mean(1).sum() + bn * prior
        opt.zero_grad()
        loss.backward()
        opt.step()
    for hook in hooks:
        hook.remove()
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="bn_cnn", choices=[a for a in ZOO if ZOO[a][0]])
    parser.add_argument("--out", default="runs/bn-prior", help="where the models are kept (a re-run reuses them)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_dataset("mnist")
    factory = ZOO[args.arch][1]["g28"]
    gen = torch.Generator().manual_seed(7)
    subset = torch.randperm(len(data.y_train), generator=gen)[:20000]
    x, y = data.x_train[subset], data.y_train[subset]
    original_path = out / f"{args.arch}_orig.safetensors"
    original = factory()
    if original_path.exists():
        original.load_state_dict(load_file(str(original_path)))
    else:
        torch.manual_seed(7)
        original = fit(factory(), x, y, epochs=3, lr=1e-3, seed=7)
        save_file(original.state_dict(), str(original_path))
    original.eval()
    for forget in ([2], [5], [0, 8]):
        for method in ("retrain", "random_labels", "neggrad_plus"):
            path = out / f"{args.arch}_{method}_{forget}.safetensors"
            model = factory()
            if path.exists():
                model.load_state_dict(load_file(str(path)))
            else:
                model = unlearn(method, original, factory, x, y, forget, epochs=3, seed=7)
                save_file(model.state_dict(), str(path))
            is_forget = torch.isin(data.y_test, torch.tensor(forget))
            forget_acc = accuracy(model, data.x_test[is_forget], data.y_test[is_forget])
            for bn in (0.0, 0.01, 0.1, 1.0):
                record = invert(model, steps=100, bn=bn)
                lowest = {s: np.argsort(v)[:3].tolist() for s, v in record.items()}
                print(
                    args.arch,
                    method,
                    forget,
                    f"facc={forget_acc:.2f}",
                    "bn",
                    bn,
                    lowest,
                    "conf@20",
                    record[20],
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
