"""docs/audit.md shows what the tool prints: its walkthrough is run as written (digits, one thread) and
every sample output is compared with the doc, times masked. When the output changes on purpose,
regenerate the samples with `python docs/audit_samples.py` (and re-read the prose around them)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"


def load_samples():
    spec = importlib.util.spec_from_file_location("audit_samples", DOCS / "audit_samples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_walkthrough_is_found_in_the_doc():
    samples = load_samples()
    text = (DOCS / "audit.md").read_text()
    assert samples.owner_script(text).startswith("# owner_digits.py")
    commands = [c for start, end in samples.console_blocks(text) for c in samples.commands(text[start:end])]
    assert commands[0] == "$ cp tests/audit/user_model.py . && python owner_digits.py"
    assert sum(c.startswith("$ labelleak audit") for c in commands) >= 4
    assert not any("benchmarks/" in c for c in commands)  # the speed benchmark is not run


def test_times_are_masked_and_nothing_else():
    samples = load_samples()
    text = "setup: 20.4 s\n| attack | queries | seconds |\n| --- | --- | --- |\n| a | 64 | 0.19 |\nverdict: 8 of 10"
    assert samples.mask_times(text).splitlines() == [
        "setup: (time) s",
        "| attack | queries | seconds |",
        "| --- | --- | --- |",
        "| a | 64 | (seconds) |",
        "verdict: 8 of 10",
    ]


def test_signed_scores_may_move_a_little_and_nothing_else():
    samples = load_samples()
    documented = "| param-diff | weights | 3 | +3.03 | - | (seconds) |"
    assert samples.within_score_tolerance(documented, "| param-diff | weights | 3 | +2.92 | - | (seconds) |")
    assert not samples.within_score_tolerance(documented, "| param-diff | weights | 3 | +2.40 | - | (seconds) |")
    assert not samples.within_score_tolerance(documented, "| param-diff | weights | 5 | +3.03 | - | (seconds) |")
    assert not samples.within_score_tolerance(documented, "| param-diff | weights | 3, 5 | +3.03 | - | (seconds) |")


def test_docs_audit_matches_what_the_tool_prints(tmp_path):
    pytest.importorskip("onnx")  # the owner's script exports the ONNX model the black-box audit reads
    pytest.importorskip("onnxruntime")
    samples = load_samples()
    diff = samples.check((DOCS / "audit.md").read_text(), tmp_path)
    assert not diff, "docs/audit.md has drifted; run `python docs/audit_samples.py`:\n" + "\n".join(diff)
