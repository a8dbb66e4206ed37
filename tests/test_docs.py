"""The committed documentation and results carry no local folders of the machine that made them,
and their Markdown tables render."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from labelleak.experiments.provenance import portable_path
from tests.conftest import markdown_tables

ROOT = Path(__file__).resolve().parents[1]
#: an absolute path into a temporary, home or working folder (not a URL's path, not ``~/...``)
LOCAL_PATH = re.compile(r"(?<![\w.:/~-])/(?:tmp|root|home|work|Users|mnt|private|var/folders)/|[A-Za-z]:\\Users\\")
SCANNED = ("README.md", "docs", "configs", "benchmarks")
SUFFIXES = {".md", ".json", ".csv", ".toml", ".py", ".html", ".txt"}


def _files() -> list[Path]:
    out = []
    for name in SCANNED:
        path = ROOT / name
        out += [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES)
    return out


def test_no_local_absolute_paths_in_docs_configs_and_results():
    hits = []
    for path in _files():
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if LOCAL_PATH.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert not hits, "local absolute paths:\n" + "\n".join(hits)


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ('"store": "/root/.cache/labelleak"', True),
        ("--out /tmp/qb/x.json", True),
        ("ran in `/work/grid_src`", True),
        ('"store": "~/.cache/labelleak"', False),
        ("see https://example.org/home/page", False),
        ("docs/results/paper/run.json", False),
    ],
)
def test_the_path_pattern(line, found):
    assert bool(LOCAL_PATH.search(line)) is found


def test_runs_record_portable_paths(tmp_path, monkeypatch):
    (tmp_path / "home").mkdir()
    (tmp_path / "repo").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path / "repo")
    assert portable_path(tmp_path / "repo" / "configs" / "a.toml") == "configs/a.toml"
    assert portable_path(tmp_path / "home" / ".cache" / "labelleak") == "~/.cache/labelleak"
    assert portable_path("~/.cache/labelleak") == "~/.cache/labelleak"
    assert portable_path(tmp_path / "elsewhere") == str(tmp_path / "elsewhere")
    assert portable_path("") == ""


def test_every_committed_markdown_table_has_as_many_cells_in_each_row_as_in_its_header():
    broken = []
    for path in _files():
        if path.suffix != ".md":
            continue
        for table in markdown_tables(path.read_text()):
            header = len(table[0])
            bad = [row for row in table[1:] if len(row) != header]
            if bad:
                broken.append(f"{path.relative_to(ROOT)}: header {header} cells, row {' | '.join(bad[0])[:80]}")
    assert not broken, "Markdown tables that do not render:\n" + "\n".join(broken)


@pytest.mark.parametrize(
    ("text", "counts"),
    [
        ("| a | b |\n| --- | --- |\n| 1 | 2 |\n", [[2, 2, 2]]),
        ("| a \\| b | c |\n| --- | --- |\n", [[2, 2]]),
        ("```\n| a |\n| --- |\n```\ntext\n| x | y |\n|---|---|\n", [[2, 2]]),
        ("| only a line |\n", []),
    ],
)
def test_the_table_scanner(text, counts):
    assert [[len(row) for row in table] for table in markdown_tables(text)] == counts
