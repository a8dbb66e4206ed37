"""benchmarks/foreign_zoo.py: what each run hands the audit, and where its audits go."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import benchmark_script


@pytest.fixture(scope="module")
def foreign_zoo():
    with benchmark_script("foreign_zoo.py") as module:
        yield module


def _run_audit(foreign_zoo, monkeypatch, tmp_path: Path, *flags: str) -> tuple[list[list[str]], Path, dict]:
    """One run of the zoo's audit of target "t" under ``flags``: the ``labelleak audit`` command
    lines it started (none when its stored audit is current), where its JSON is, and the audit."""
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
    args = foreign_zoo.parse_args(["--out", str(tmp_path), *flags])
    data = foreign_zoo.audit(target, args, tmp_path)
    return commands, tmp_path / f"audits{foreign_zoo.variant(args)}" / "t.json", data


def test_the_default_audit_hands_over_the_weights_and_the_original(foreign_zoo, monkeypatch, tmp_path):
    (command,), result, _ = _run_audit(foreign_zoo, monkeypatch, tmp_path)
    assert command[command.index("--original") + 1] == "o.safetensors"
    assert "--access" not in command and "--query-budget" not in command
    assert command[command.index("--json") + 1] == str(result) and result.parent.name == "audits"


def test_an_api_audit_gets_queries_no_original_and_a_budget_in_its_own_folder(foreign_zoo, monkeypatch, tmp_path):
    flags = ("--access", "queries", "--without-original", "--query-budget", "400", "--attacks", "invert-cma")
    (command,), result, _ = _run_audit(foreign_zoo, monkeypatch, tmp_path, *flags)
    assert "--original" not in command
    assert command[command.index("--access") + 1] == "queries"
    assert command[command.index("--query-budget") + 1] == "400"
    assert command[command.index("--attacks") + 1] == "invert-cma"
    assert command[command.index("--json") + 1] == str(result)
    assert result.parent.name == "audits-access-queries-without-original-budget-400-attacks-invert-cma"


def test_shadow_originals_combine_with_an_api_audit_in_their_own_folder(foreign_zoo, monkeypatch, tmp_path):
    flags = ("--access", "queries", "--without-original", "--shadow-originals", "3", "--shadow-recipes", "varied")
    (command,), result, _ = _run_audit(foreign_zoo, monkeypatch, tmp_path, *flags)
    assert command[command.index("--shadow-originals") + 1] == "3"
    assert command[command.index("--shadow-recipes") + 1] == "varied"
    assert result.parent.name == "audits-access-queries-without-original-shadow-originals-3-recipes-varied"
    # without the options, one original by the dataset's recipe, named: the folders without a suffix
    # hold such audits, whatever the audit's own default for an API audit without θ_o
    (default,), result, _ = _run_audit(foreign_zoo, monkeypatch, tmp_path, "--access", "queries", "--without-original")
    assert default[default.index("--shadow-originals") + 1] == "1"
    assert default[default.index("--shadow-recipes") + 1] == "same"
    assert default[default.index("--shadow-methods-per-set") + 1] == "all"
    assert result.parent.name == "audits-access-queries-without-original"


def test_one_shadow_method_per_set_combines_with_an_api_audit_in_its_own_folder(foreign_zoo, monkeypatch, tmp_path):
    flags = ("--access", "queries", "--without-original", "--shadow-originals", "3", "--shadow-methods-per-set", "one")
    (command,), result, _ = _run_audit(foreign_zoo, monkeypatch, tmp_path, *flags)
    assert command[command.index("--shadow-methods-per-set") + 1] == "one"
    assert result.parent.name == "audits-access-queries-without-original-shadow-originals-3-methods-per-set-one"
    # alone, the ablation keeps its own name
    (command,), result, _ = _run_audit(foreign_zoo, monkeypatch, tmp_path, "--shadow-methods-per-set", "one")
    assert command[command.index("--shadow-methods-per-set") + 1] == "one"
    assert result.parent.name == "audits-shadow-methods-per-set-one"
    onnx = foreign_zoo.parse_args(["--onnx", "--shadow-methods-per-set", "one"])
    assert foreign_zoo.variant(onnx) == "-onnx-methods-per-set-one"


@pytest.mark.parametrize(
    "flags",
    [
        ("--onnx", "--without-original"),  # an ONNX audit has no original to withhold
        ("--access", "queries", "--shadow-methods", "finetune"),  # two ablations at once
        ("--access", "root"),
        ("--shadow-originals", "0"),  # not read as "the default"
        ("--methods", "retrain,unsir"),  # a method the zoo's own code does not implement
    ],
)
def test_flags_that_cannot_go_together_are_refused(foreign_zoo, flags):
    with pytest.raises(SystemExit) as exit_info:
        foreign_zoo.parse_args(list(flags))
    assert exit_info.value.code == 2


def test_an_audit_made_under_an_older_verdict_rule_is_made_again(foreign_zoo, monkeypatch, tmp_path):
    _, result, data = _run_audit(foreign_zoo, monkeypatch, tmp_path)
    assert data["verdict_revision"] == foreign_zoo.VERDICT_REVISION
    commands, _, _ = _run_audit(foreign_zoo, monkeypatch, tmp_path)
    assert commands == []  # current: read back, nothing run
    # a JSON without the record predates the revision: audited again, and recorded
    result.write_text(json.dumps({"verdict": {"forgotten": [1, 2]}}))
    assert foreign_zoo.stored(result) is None
    commands, _, data = _run_audit(foreign_zoo, monkeypatch, tmp_path)
    assert len(commands) == 1 and data == json.loads(result.read_text())
    assert data["verdict"]["forgotten"] == [1] and data["verdict_revision"] == foreign_zoo.VERDICT_REVISION


def test_a_forget_set_drawn_twice_is_audited_once(foreign_zoo):
    # seed 17 + len("fashion-mnist") draws the pair {5, 9} twice
    sets = foreign_zoo.forget_sets(17 + len("fashion-mnist"))
    assert sets.count([5, 9]) == 1 and len(sets) == 4
    for seed in range(40):
        drawn = foreign_zoo.forget_sets(seed)
        assert len({tuple(s) for s in drawn}) == len(drawn)
        assert [len(s) for s in drawn[:2]] == [1, 1] and len(drawn[-1]) == 3


def test_the_multiclass_draw_holds_ten_distinct_pairs_then_five_distinct_triples(foreign_zoo):
    for seed in range(40):
        drawn = foreign_zoo.multiclass_sets(seed)
        assert [len(s) for s in drawn] == [2] * 10 + [3] * 5
        assert len({tuple(s) for s in drawn}) == 15
        assert all(s == sorted(set(s)) and 0 <= s[0] and s[-1] <= 9 for s in drawn)
    assert foreign_zoo.multiclass_sets(1) == foreign_zoo.multiclass_sets(1) != foreign_zoo.multiclass_sets(2)


def test_amnesiac_trains_on_all_of_the_retained_data_and_relabelled_forget_images(foreign_zoo, monkeypatch):
    y = torch.arange(4).repeat_interleave(25)
    x = torch.randn(100, 1, 2, 2)
    seen = {}

    def fit(model, xs, ys, **options):
        seen.update(x=xs, y=ys, **options)
        return model

    monkeypatch.setattr(foreign_zoo, "fit", fit)
    original = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 4))
    foreign_zoo.unlearn(
        "amnesiac",
        original,
        lambda: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 4)),
        x,
        y,
        [1, 3],
        epochs=1,
        seed=0,
    )
    forget = torch.isin(y, torch.tensor([1, 3]))
    assert len(seen["y"]) == 100 and seen["epochs"] == 3 and seen["lr"] == 1e-4
    # the forget images come first, each under a label other than its own (several labels in all)
    relabelled = seen["y"][: int(forget.sum())]
    assert torch.equal(seen["x"][: len(relabelled)], x[forget]) and not (relabelled == y[forget]).any()
    assert set(relabelled.tolist()) <= {0, 1, 2, 3} and len(set(relabelled.tolist())) > 2
    assert torch.equal(seen["y"][len(relabelled) :], y[~forget])


def _tiny_problem():
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(4).repeat_interleave(25)
    x = torch.randn(100, 1, 2, 2, generator=gen) + y[:, None, None, None].float()
    return x, y


def _tiny_net():
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))


def test_salun_changes_only_the_salient_half_of_the_weights(foreign_zoo):
    x, y = _tiny_problem()
    torch.manual_seed(0)
    original = _tiny_net()
    model = foreign_zoo.unlearn("salun", original, _tiny_net, x, y, [1], epochs=1, seed=0)
    before = torch.cat([p.reshape(-1) for p in original.parameters()])
    after = torch.cat([p.reshape(-1) for p in model.parameters()])
    changed = (before != after).float().mean().item()
    assert 0.2 < changed <= 0.5


def test_saliency_mask_ranks_gradients_across_layers(foreign_zoo):
    x, y = _tiny_problem()
    torch.manual_seed(0)
    net = _tiny_net()
    mask = foreign_zoo.saliency_mask(net, x[y == 1], y[y == 1], fraction=0.5)
    kept = sum(int(m.sum()) for m in mask)
    total = sum(m.numel() for m in mask)
    assert kept == total // 2 and [m.shape for m in mask] == [p.shape for p in net.parameters()]
    assert len({m.float().mean().item() for m in mask}) > 1  # not half of each layer: one global ranking


def test_scrub_alternates_forget_steps_away_from_the_teacher_with_retain_steps(foreign_zoo, monkeypatch):
    x, y = _tiny_problem()
    torch.manual_seed(0)
    teacher = _tiny_net().eval()
    frozen = {name: value.clone() for name, value in teacher.state_dict().items()}
    assert foreign_zoo.divergence(teacher(x), teacher, x).item() == pytest.approx(0.0, abs=1e-6)
    losses = []
    step = foreign_zoo.step

    def recorded(opt, loss):
        losses.append(loss.item())
        step(opt, loss)

    monkeypatch.setattr(foreign_zoo, "step", recorded)
    foreign_zoo.unlearn("scrub", teacher, _tiny_net, x, y, [1], epochs=1, seed=0)
    # per epoch: one batch of the 25 forget images (epochs 1-2 only), one of the 75 retained images kept
    signs = ["max" if loss <= 0 else "min" for loss in losses]
    assert signs == ["max", "min", "max", "min", "min"]
    assert all(torch.equal(value, frozen[name]) for name, value in teacher.state_dict().items())
