"""Where a run's numbers come from: the source revision and the machine that computed them."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import torch


def portable_path(path: str | os.PathLike) -> str:
    """``path`` as a run's files record it: relative to the working directory when inside it, else
    under ``~`` when inside the home folder, else unchanged, so that committed results do not
    carry the local folders of the machine that produced them."""
    if not str(path):
        return ""
    resolved = Path(path).expanduser().absolute()
    for base, prefix in ((Path.cwd(), ""), (Path.home(), "~/")):
        try:
            relative = resolved.relative_to(base.absolute())
        except ValueError:
            continue
        return prefix + relative.as_posix() if str(relative) != "." else (prefix.rstrip("/") or ".")
    return str(path)


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
