"""benchmarks/peers.py without IBM ART: its install hint and its pure reporting helpers."""

from __future__ import annotations

import sys

import pytest

from tests.conftest import benchmark_script


@pytest.fixture(scope="module")
def peers():
    with benchmark_script("peers.py") as module:
        yield module


def test_without_art_exits_with_one_line_naming_the_extra(peers, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "art", None)  # makes `import art` raise ImportError
    with pytest.raises(SystemExit) as exit_info:
        peers.main(["--datasets", "digits", "--out", str(tmp_path / "out")])
    message = str(exit_info.value.code)
    assert "pip install labelleak[peers]" in message
    assert "\n" not in message
    assert not (tmp_path / "out").exists()


def test_cheapest_reaching_picks_the_fewest_queries_at_or_above_the_level(peers):
    points = [(16_000, 0.9), (1_000, 0.5), (4_000, 0.8), (8_000, 0.85)]
    assert peers.cheapest_reaching(points=points, level=0.8) == (4_000, 0.8)
    assert peers.cheapest_reaching(points=points, level=0.3) == (1_000, 0.5)
    assert peers.cheapest_reaching(points=points, level=0.95) is None


def test_argmax_decision_names_one_class(peers):
    assert peers.argmax_decision(scores=[-0.9, -0.1, -0.5]) == (1,)


def _row(*, access, source, attack, setting, asr, seconds, queries):
    return {
        "dataset": "d",
        "access": access,
        "source": source,
        "attack": attack,
        "setting": setting,
        "decision": "own",
        "n": 5,
        "asr": asr,
        "seconds_per_target": seconds,
        "queries_per_target": queries,
    }


def test_comparison_ratio_is_peer_over_labelleak_and_only_when_both_reach_the_level(peers):
    rows = [
        _row(
            access="gradients",
            source="labelleak",
            attack="invert-wb",
            setting="defaults",
            asr=1.0,
            seconds=2.0,
            queries=100,
        ),
        _row(
            access="gradients",
            source="ART",
            attack="MIFace",
            setting="max_iter=100",
            asr=0.2,
            seconds=10.0,
            queries=None,
        ),
        _row(
            access="queries",
            source="labelleak",
            attack="invert-bb",
            setting="b=1000",
            asr=0.6,
            seconds=1.0,
            queries=1_000,
        ),
        _row(
            access="queries",
            source="labelleak",
            attack="invert-bb",
            setting="b=4000",
            asr=0.8,
            seconds=2.0,
            queries=4_000,
        ),
        _row(
            access="queries",
            source="labelleak",
            attack="invert-bb",
            setting="b=16000",
            asr=1.0,
            seconds=8.0,
            queries=16_000,
        ),
        _row(access="queries", source="ART", attack="ZOO probe", setting="z1", asr=0.4, seconds=5.0, queries=6_000),
        _row(access="queries", source="ART", attack="ZOO probe", setting="z2", asr=0.6, seconds=9.0, queries=12_000),
    ]
    white, black = peers.comparison_rows(rows=rows, level=0.8)
    assert white["cost_ratio"] == pytest.approx(5.0)
    assert (black["labelleak_setting"], black["labelleak_reached"]) == ("b=4000", True)
    # the peer never reaches 80%: its best ASR is reported, and no ratio of queries
    assert (black["peer_setting"], black["peer_reached"], black["cost_ratio"]) == ("z2", False, None)

    rows[-1]["asr"] = 0.8
    black = peers.comparison_rows(rows=rows, level=0.8)[1]
    assert black["cost_ratio"] == pytest.approx(12_000 / 4_000)
