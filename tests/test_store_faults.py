"""The artifact store under faults: unwritable roots, failed writes, corrupt artifacts, leftovers of
killed writers and two processes computing the same artifact (issue 19, "Bad input" 1, 3 and 7)."""

from __future__ import annotations

import errno
import json
import logging
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as save_bytes

from labelleak.store import ArtifactStore, StoreError, temp_prefix

CONFIG = {"stage": "fake", "value": 1}


def _never():
    raise AssertionError("computed although the store cannot keep the result")


@pytest.mark.parametrize("where", ["under a regular file", "under /proc"])
def test_unwritable_root_fails_before_computing(tmp_path, where):
    if where == "under a regular file":
        (tmp_path / "file").write_text("x")
        root = tmp_path / "file" / "cache"
        reason = "is not a directory"
    else:
        root = Path("/proc/labelleak-no-such-dir/cache")
        reason = "cannot create directory /proc/labelleak-no-such-dir"
    with pytest.raises(StoreError) as info:
        ArtifactStore(root).cached("fake", CONFIG, _never)
    message = str(info.value)
    assert f"the artifact store {root} is not writable" in message and reason in message and "\n" not in message


@pytest.mark.parametrize("made", ["a directory", "a file"])
def test_a_root_made_by_another_process_during_the_check(tmp_path, monkeypatch, made):
    root = tmp_path / "cache"
    mkdir = Path.mkdir

    def race(path, *args, **kwargs):
        # another process creates the root between the check's "missing?" and its mkdir
        if path == root and not root.exists():
            mkdir(root) if made == "a directory" else root.write_text("x")
        return mkdir(path, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", race)
    store = ArtifactStore(root)
    if made == "a directory":
        assert store.cached("fake", CONFIG, lambda: 7)[0] == 7
    else:
        with pytest.raises(StoreError, match=f"the artifact store {root} is not writable: {root} is not a directory"):
            store.cached("fake", CONFIG, _never)


def test_failed_write_is_one_line_and_leaves_no_artifact_folder(tmp_path):
    class FullDisk:
        def load(self, directory):
            return None

        def save(self, directory, value, config):
            directory.mkdir(parents=True)
            (directory / "half.json").write_text("{")
            raise OSError(errno.EFBIG, "File too large")

    store = ArtifactStore(tmp_path / "cache")
    with pytest.raises(StoreError, match=r"cannot write the fake artifact to the store at .*: File too large"):
        store.cached("fake", CONFIG, lambda: 1, codec=FullDisk())
    assert list((tmp_path / "cache").iterdir()) == []  # neither the artifact nor its kind folder is left


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda text: text[: len(text) // 2],  # truncated
        lambda text: "[1, 2]",  # valid JSON of another shape
        lambda text: text.replace('"answer": 42', '"answer": 43'),  # a changed value: the sha256 no longer matches
    ],
    ids=["truncated", "wrong-shape", "tampered"],
)
def test_corrupt_result_json_is_warned_about_and_recomputed(tmp_path, caplog, corrupt):
    store = ArtifactStore(tmp_path)
    value, hit = store.cached("fake", CONFIG, lambda: {"answer": 42})
    path = store.path("fake", CONFIG) / "result.json"
    assert not hit and json.loads(path.read_text())["sha256"]
    path.write_text(corrupt(path.read_text()))
    calls = []
    with caplog.at_level(logging.WARNING, logger="labelleak.store"):
        value, hit = store.cached("fake", CONFIG, lambda: calls.append(1) or {"answer": 42})
    assert value == {"answer": 42} and not hit and calls == [1]
    assert "ignoring unreadable cached result" in caplog.text and "it is recomputed" in caplog.text
    assert caplog.text.count("ignoring unreadable") == 1
    assert store.cached("fake", CONFIG, _never) == ({"answer": 42}, True)


def test_result_json_without_a_digest_still_loads(tmp_path):
    store = ArtifactStore(tmp_path)
    path = store.path("fake", CONFIG) / "result.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"config": CONFIG, "result": [1, 2]}))  # written before digests existed
    assert store.cached("fake", CONFIG, _never) == ([1, 2], True)


def test_truncated_or_tampered_tensors_are_warned_about(tmp_path, caplog):
    store = ArtifactStore(tmp_path)
    tensors = {"prototypes": torch.arange(200.0).reshape(2, 100)}
    path = store.save_tensors("prototypes", CONFIG, tensors)
    assert torch.equal(store.load_tensors("prototypes", CONFIG)["prototypes"], tensors["prototypes"])
    data = path.read_bytes()
    for broken in (data[: len(data) // 2], data[:-4] + b"\x00\x00\x80\x7f"):
        path.write_bytes(broken)
        with caplog.at_level(logging.WARNING, logger="labelleak.store"):
            assert store.load_tensors("prototypes", CONFIG) is None
        assert "ignoring unreadable cached tensors" in caplog.text and store.has_tensors("prototypes", CONFIG)
        caplog.clear()
    path.write_bytes(save_bytes(tensors))  # a file written before digests existed
    assert torch.equal(store.load_tensors("prototypes", CONFIG)["prototypes"], tensors["prototypes"])


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_opening_the_store_removes_stale_temporaries_only(tmp_path):
    artifact = tmp_path / "original" / "0123456789abcdef01234567"
    artifact.mkdir(parents=True)
    live = artifact / f"{temp_prefix('model')}abcd1234.tmp"  # this process: a concurrent writer
    dead = artifact / f"{temp_prefix('model').rsplit('-', 1)[0]}-{_dead_pid()}.abcd1234.tmp"
    old = artifact / ".model.k1t2m3x4.tmp"  # an older writer's name, two hours old
    fresh = artifact / ".model.q9w8e7r6.tmp"  # same, but fresh: it may still be written
    done = artifact / "model.json"
    for path in (live, dead, old, fresh, done):
        path.write_bytes(b"")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    ArtifactStore(tmp_path)
    assert sorted(p.name for p in artifact.iterdir()) == sorted([live.name, fresh.name, done.name])


def test_an_artifact_emptied_of_stale_temporaries_is_removed(tmp_path):
    artifact = tmp_path / "original" / "0123456789abcdef01234567"
    artifact.mkdir(parents=True)
    (artifact / f"{temp_prefix('model').rsplit('-', 1)[0]}-{_dead_pid()}.abcd1234.tmp").write_bytes(b"")
    ArtifactStore(tmp_path)
    assert not artifact.exists()


def test_a_killed_writers_temporary_goes_when_its_artifact_is_written_again(tmp_path):
    (tmp_path / ".cleaned").touch()  # swept a moment ago: opening does not sweep again
    store = ArtifactStore(tmp_path)
    artifact = store.path("fake", CONFIG)
    artifact.mkdir(parents=True)
    left = artifact / f"{temp_prefix('result.json').rsplit('-', 1)[0]}-{_dead_pid()}.abcd1234.tmp"
    left.write_bytes(b"")
    assert store.cached("fake", CONFIG, lambda: 7) == (7, False)
    assert sorted(p.name for p in artifact.iterdir()) == ["result.json"]


def _compute_in_child(root: str, marks: str, results) -> None:
    def compute():
        (Path(marks) / str(os.getpid())).touch()
        time.sleep(1.5)
        return {"by": os.getpid()}

    value, hit = ArtifactStore(root).cached("fake", CONFIG, compute)
    results.put((value["by"], hit))


def test_a_second_process_waits_for_the_first_then_loads(tmp_path):
    context = multiprocessing.get_context("fork")
    marks = tmp_path / "marks"
    marks.mkdir()
    results = context.Queue()
    first = context.Process(target=_compute_in_child, args=(str(tmp_path / "cache"), str(marks), results))
    first.start()
    deadline = time.time() + 30
    while not any(marks.iterdir()) and time.time() < deadline:  # the first one is computing
        time.sleep(0.05)
    second = context.Process(target=_compute_in_child, args=(str(tmp_path / "cache"), str(marks), results))
    second.start()
    outcomes = sorted([results.get(timeout=60), results.get(timeout=60)], key=lambda r: r[1])
    first.join(10)
    second.join(10)
    assert len(list(marks.iterdir())) == 1  # computed once
    assert outcomes == [(first.pid, False), (first.pid, True)]  # the second loaded the first one's result
    assert not list((tmp_path / "cache").rglob("*.lock"))
