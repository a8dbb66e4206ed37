"""Where a run's numbers come from: the source revision and the machine that computed them."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import torch


def git_revision() -> str:
    """The git revision of the labelleak source tree (with ``+dirty`` when ``src/`` or ``pyproject.toml``
    has local changes; results written into the checkout, e.g. under ``docs/results``, do not count), or ''."""
    root = Path(__file__).resolve().parents[3]
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--", "src", "pyproject.toml"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return rev + ("+dirty" if dirty else "")


def machine() -> str:
    return (
        f"{platform.platform()}; {os.cpu_count()} CPUs; python {platform.python_version()}; "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
    )
