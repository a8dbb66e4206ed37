"""Every committed results folder says which of its targets today's settings would unlearn
differently, so a reader knows where a rerun of its command would not give its numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from labelleak.report.staleness import stale_methods

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
FOLDERS = sorted(p.parent for p in RESULTS.glob("*/config.json") if (p.parent / "utility.csv").is_file())


def _documents(folder: Path) -> str:
    """What presents a folder's numbers: its report and its RUN.md, those it has."""
    return "\n".join(p.read_text() for p in (folder / "report.md", folder / "RUN.md") if p.is_file())


def test_there_are_committed_results_to_check():
    assert len(FOLDERS) >= 5


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_a_results_folder_lists_exactly_the_targets_a_rerun_would_unlearn_differently(folder):
    text = _documents(folder)
    stale = stale_methods(folder)
    for s in stale:
        assert f"| {s.dataset} | {s.method} | {s.targets} | {s.changes()} |" in text, (
            f"{folder.name}: {s.describe()} is in neither report.md nor RUN.md "
            "(`labelleak report` writes it; `python benchmarks/stale_results.py` prints it for a RUN.md)"
        )
    if not stale:
        assert "Settings changed since this run" not in text, f"{folder.name}: its documents list settings changed"
