"""benchmarks/foreign_zoo.py: what each run hands the audit, and where its audits go."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import benchmark_script


@pytest.fixture(scope="module")
def foreign_zoo():
    with benchmark_script("foreign_zoo.py") as module:
        yield module


def _audit_command(foreign_zoo, monkeypatch, tmp_path: Path, *flags: str) -> tuple[list[str], Path]:
    """The ``labelleak audit`` command line the zoo runs for one target under ``flags``, and where
    its JSON goes (the audit itself is not run)."""
    target = {
        "name": "t",
        "factory": "f.py:build",
        "weights": "w.safetensors",
        "original": "o.safetensors",
        "dataset": "mnist",
    }
    commands = []

    def run(command, **_):
        commands.append(command)
        Path(command[command.index("--json") + 1]).write_text(json.dumps({"verdict": {"forgotten": [1]}}))
        return type("Done", (), {"returncode": 0, "stdout": "", "stderr": ""})()

    monkeypatch.setattr(foreign_zoo.subprocess, "run", run)
    parser_args = foreign_zoo.parse_args(["--out", str(tmp_path), *flags])
    foreign_zoo.audit(target, parser_args, tmp_path)
    (command,) = commands
    return command, Path(command[command.index("--json") + 1])


def test_the_default_audit_hands_over_the_weights_and_the_original(foreign_zoo, monkeypatch, tmp_path):
    command, result = _audit_command(foreign_zoo, monkeypatch, tmp_path)
    assert command[command.index("--original") + 1] == "o.safetensors"
    assert "--access" not in command and "--query-budget" not in command
    assert result.parent.name == "audits"


def test_an_api_audit_gets_queries_no_original_and_a_budget_in_its_own_folder(foreign_zoo, monkeypatch, tmp_path):
    flags = ("--access", "queries", "--without-original", "--query-budget", "400", "--attacks", "invert-cma")
    command, result = _audit_command(foreign_zoo, monkeypatch, tmp_path, *flags)
    assert "--original" not in command
    assert command[command.index("--access") + 1] == "queries"
    assert command[command.index("--query-budget") + 1] == "400"
    assert command[command.index("--attacks") + 1] == "invert-cma"
    assert result.parent.name == "audits-access-queries-without-original-budget-400-attacks-invert-cma"


@pytest.mark.parametrize(
    "flags",
    [
        ("--onnx", "--without-original"),  # an ONNX audit has no original to withhold
        ("--access", "queries", "--shadow-methods", "finetune"),  # two ablations at once
        ("--access", "root"),
    ],
)
def test_flags_that_cannot_go_together_are_refused(foreign_zoo, flags):
    with pytest.raises(SystemExit) as exit_info:
        foreign_zoo.parse_args(list(flags))
    assert exit_info.value.code == 2
