"""PNG grid of inversion prototypes: what a model still "believes" each class looks like.

One row per class k: the prototype x_k, labelled with its achieved confidence p_k(x_k), and (when
given) a bar chart of its prediction profile p(x_k) with bar k highlighted and the forgotten
classes marked. A prototype that cannot be driven to its class, or whose profile is flat, is the
visual form of the threshold and entropy criteria.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from labelleak.validation import ParameterError


def save_prototype_grid(
    path: str | os.PathLike,
    *,
    prototypes: torch.Tensor | np.ndarray,
    confidence: Sequence[float] | np.ndarray,
    profiles: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    highlight: Sequence[int] = (),
    title: str = "",
) -> Path:
    """Write the grid to ``path`` (PNG, written to a temporary file then renamed) and return it.

    Args:
        prototypes: (K, C, H, W) images in [0, 1] (C = 1 or 3).
        confidence: (K,) achieved p_k(x_k).
        profiles: optional (K, K) prediction profiles p(x_k), drawn as bar charts.
        class_names: K names (default: the indices).
        highlight: classes to mark (e.g. the decided Ĉ or the true forgotten classes).
        title: figure title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = prototypes.detach().cpu().numpy() if isinstance(prototypes, torch.Tensor) else np.asarray(prototypes)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ParameterError(f"prototypes must have shape (K, 1 or 3, H, W), got {images.shape}")
    k = images.shape[0]
    confidence = np.asarray(confidence, dtype=np.float64)
    if confidence.shape != (k,):
        raise ParameterError(f"confidence must have shape ({k},), got {confidence.shape}")
    if profiles is not None and np.asarray(profiles).shape != (k, k):
        raise ParameterError(f"profiles must have shape ({k}, {k}), got {np.asarray(profiles).shape}")
    names = [str(c) for c in range(k)] if class_names is None else [str(n) for n in class_names]
    if len(names) != k:
        raise ParameterError(f"class_names must name {k} classes, got {len(names)}")
    marked = {int(c) for c in highlight}

    cols = 2 if profiles is not None else 1
    fig, axes = plt.subplots(
        k,
        cols,
        figsize=(2.2 + 2.6 * (cols - 1), 1.15 * k + 0.6),
        squeeze=False,
        gridspec_kw={"width_ratios": [1, 2.4][:cols]},
    )
    for row in range(k):
        ax = axes[row, 0]
        img = images[row].transpose(1, 2, 0).clip(0.0, 1.0)
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0.0, vmax=1.0)
        ax.set_xticks([])
        ax.set_yticks([])
        colour = "crimson" if row in marked else "black"
        ax.set_ylabel(names[row], rotation=0, ha="right", va="center", fontsize=8, color=colour)
        ax.set_title(f"p={confidence[row]:.3f}", fontsize=7, color=colour, pad=2)
        if profiles is not None:
            bar = axes[row, 1]
            colours = ["crimson" if c == row else "0.6" for c in range(k)]
            bar.bar(range(k), np.asarray(profiles)[row], color=colours)
            bar.set_ylim(0, 1)
            bar.set_xticks(range(k))
            bar.set_xticklabels(names if row == k - 1 else [], fontsize=6, rotation=90)
            bar.tick_params(axis="y", labelsize=6)
    if title:
        fig.suptitle(title, fontsize=8, wrap=True)
    fig.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=target.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110, format="png")
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a report is meant to be read by others
        os.replace(tmp, target)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
