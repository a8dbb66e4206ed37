"""Every committed results folder says which of its targets today's settings would unlearn
differently, and which shadow models (the calibrated rows' ground) changed or are not recorded, so
a reader knows where a rerun of its command would not give its numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from labelleak.report.staleness import check

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
FOLDERS = sorted(p.parent for p in RESULTS.glob("*/config.json") if (p.parent / "utility.csv").is_file())


def _documents(folder: Path) -> str:
    """What presents a folder's numbers: its report and its RUN.md, those it has."""
    return "\n".join(p.read_text() for p in (folder / "report.md", folder / "RUN.md") if p.is_file())


def test_there_are_committed_results_to_check():
    assert len(FOLDERS) >= 5


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_a_results_folder_lists_exactly_what_a_rerun_would_compute_differently(folder):
    text = _documents(folder)
    stale = check(folder)
    for s in stale.targets:
        assert f"| {s.dataset} | {s.method} | {s.targets} | {s.changes()} |" in text, (
            f"{folder.name}: {s.describe()} is in neither report.md nor RUN.md "
            "(`labelleak report` writes it; `python benchmarks/stale_results.py` prints it for a RUN.md)"
        )
    for s in stale.shadows:
        assert f"| {s.dataset} | {s.method} | {s.rows} | {s.changes()} |" in text, (
            f"{folder.name}: {s.describe()} is in neither report.md nor RUN.md "
            "(`labelleak report` writes it; `python benchmarks/stale_results.py` prints it for a RUN.md)"
        )
    if not stale.targets:
        assert "Settings changed since this run" not in text, f"{folder.name}: its documents list settings changed"
    if not stale.shadows:
        assert "Shadow models' settings" not in text, f"{folder.name}: its documents list shadow settings"
