"""A newcomer's first hour (issue 19): discoverable attacks, data that can be fetched (offline tests
with local files and a closed port), readable output, honest progress, fast help."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from labelleak.cli import configure_logging, main
from labelleak.data import _cached_load, discovery

REPO = Path(__file__).resolve().parents[2]
MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _table_rows(text: str) -> list[list[str]]:
    """The cells of every Markdown table line in ``text`` (escaped pipes are not separators)."""
    rows = []
    for line in text.splitlines():
        if line.startswith("| "):
            cells = line.replace("\\|", "\0").strip().strip("|").split("|")
            rows.append([c.strip() for c in cells])
    return rows


# -- 1. attacks are discoverable --------------------------------------------------------------------


def test_attacks_lists_every_attack_with_family_access_knowledge_and_calibration(capsys):
    from labelleak.attacks import ATTACKS

    code, out, err = _run(capsys, "attacks")
    assert code == 0 and err == ""
    rows = _table_rows(out)
    assert rows[0] == [
        "attack",
        "family",
        "access",
        "needs A",
        "needs N",
        "needs θ_o",
        "fit on shadows",
        "what it does",
    ]
    by_name = {row[0]: row for row in rows[2:]}
    assert sorted(by_name) == sorted(ATTACKS.names())
    assert all(len(row) == len(rows[0]) and all(row) for row in rows)
    assert by_name["param-diff"][1:7] == [
        "parameter",
        "weights",
        "yes",
        "yes",
        "no",
        "with decider youden, tree or calibrated",
    ]
    assert by_name["param-diff-orig"][1:6] == ["parameter", "weights", "no", "no", "yes"]
    assert by_name["invert-wb"][1:7] == ["inversion", "gradients", "no", "no", "no", "optional (calibrate = true)"]
    assert by_name["invert-bb"][1:3] == ["inversion", "queries"]
    assert by_name["hu-probe"][1:6] == ["baseline", "queries", "no", "no", "yes"]
    assert by_name["random-guess"][6] == "no"
    # parameter attacks first, baselines last
    names = [row[0] for row in rows[2:]]
    assert names.index("param-diff") < names.index("invert-wb") < names.index("random-guess")
    assert "labelleak attacks NAME" in out


def test_attacks_name_shows_the_options_and_an_unknown_name_is_one_line(capsys):
    code, out, _ = _run(capsys, "attacks", "invert-bb")
    assert code == 0 and out.startswith("invert-bb (inversion): Black-box inversion attack")
    assert "| query_budget |" in out and "| criterion | 'threshold' |" in out
    assert "run by labelleak audit: only when named (--attacks all or NAME)" in out
    code, out, _ = _run(capsys, "attacks", "invert-cma")
    assert code == 0 and "run by labelleak audit: yes" in out
    code, _, err = _run(capsys, "attacks", "param-magic")
    assert code == 2 and "unknown attack 'param-magic'; choose one of:" in err and err.count("\n") == 1


def test_attack_help_lists_the_attack_names(capsys, monkeypatch):
    from labelleak.attacks import ATTACKS

    monkeypatch.setenv("COLUMNS", "1000")  # argparse would wrap (and hyphen-break) long lines
    with pytest.raises(SystemExit) as info:
        main(["attack", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.strip().startswith("--attack NAME"))
    for name in ATTACKS.names():
        assert name in line
    assert "labelleak attacks" in line


# -- 7. help and `datasets` answer at once: nothing heavy is imported ---------------------------------


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["datasets"], ["run", "--help"], ["reproduce", "--help"], ["audit", "--help"], ["attacks", "--help"]],
)
def test_help_and_datasets_do_not_import_torch(argv):
    """They answer in well under a second; the help of a verb that lists a registry's names (attack,
    train, unlearn, tune) imports that registry when, and only when, it is shown."""
    code = (
        "import sys\n"
        "from labelleak.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('torch', 'sklearn', 'pandas', 'matplotlib', 'scipy') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in result.stderr, result.stderr[-2000:]


@pytest.mark.parametrize(
    "verb,option,registry",
    [
        ("train", "--arch", "labelleak.models:ARCHITECTURES"),
        ("unlearn", "--method", "labelleak.unlearning:UNLEARNERS"),
        ("tune", "--method", "labelleak.unlearning:UNLEARNERS"),
    ],
)
def test_verb_help_lists_the_registry_names(capsys, monkeypatch, verb, option, registry):
    import importlib

    module, name = registry.split(":")
    monkeypatch.setenv("COLUMNS", "1000")
    with pytest.raises(SystemExit):
        main([verb, "--help"])
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.strip().startswith(option + " "))
    for entry in getattr(importlib.import_module(module), name).names():
        assert entry in line


def test_parsing_a_command_does_not_import_the_registries_its_help_lists():
    code = (
        "import sys\n"
        "from labelleak.cli import build_parser\n"
        "build_parser().parse_args(['attack', '--method', 'retrain', '--forget', '3'])\n"
        "print('HEAVY', [m for m in ('torch', 'sklearn') if m in sys.modules], file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in result.stderr, result.stderr[-2000:]


def test_the_cache_variable_the_parser_names_is_the_stores():
    from labelleak.cli.common import CACHE_ENV
    from labelleak.store import ENV_VAR

    assert CACHE_ENV == ENV_VAR


# -- 2. real data: datasets, --fetch, --data-root / --download on every data verb ---------------------


@pytest.fixture()
def no_data(tmp_path, monkeypatch):
    """A machine with no dataset anywhere: no $LABELLEAK_DATA, no Debian package, no shared/data, an empty home."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("LABELLEAK_DATA", raising=False)
    monkeypatch.setattr(discovery, "shared_data_dirs", lambda: [])
    monkeypatch.setattr(discovery, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian-package")
    _cached_load.cache_clear()  # datasets loaded by earlier tests, from elsewhere
    yield home
    _cached_load.cache_clear()


def _serve_mnist_locally(tmp_path, monkeypatch) -> Path:
    """The four MNIST files as file:// URLs with their md5 sums, in place of the official ones."""
    from tests.data.fixtures import write_mnist_idx

    source = tmp_path / "mirror"
    write_mnist_idx(source, gz=True)
    entries = [
        (
            (source / name).as_uri(),
            name,
            hashlib.md5((source / name).read_bytes()).hexdigest(),
        )
        for name in MNIST_FILES
    ]
    monkeypatch.setitem(discovery.DOWNLOADS, "mnist", entries)
    return source


def test_datasets_titles_every_column_and_says_how_to_fetch_what_is_missing(capsys, no_data):
    code, out, _ = _run(capsys, "datasets")
    assert code == 0
    rows = _table_rows(out)
    assert rows[0] == ["dataset", "available", "location (or where it was looked for)"]
    assert all(len(row) == 3 and all(row) for row in rows)
    assert "searched:" not in out
    mnist = next(row for row in rows if row[0] == "mnist")
    assert mnist[1] == "no" and str(no_data / ".cache" / "labelleak" / "data" / "MNIST" / "raw") in mnist[2]
    for name in ("mnist", "fashion-mnist", "cifar10", "svhn"):
        assert f"labelleak datasets --fetch {name}    #" in out
    code, out, _ = _run(capsys, "datasets", "--check")
    rows = _table_rows(out)
    assert code == 0 and rows[0][-1] == "check" and all(len(row) == 4 and all(row) for row in rows)


def test_fetch_downloads_checks_and_the_copy_is_found(capsys, tmp_path, no_data, monkeypatch):
    _serve_mnist_locally(tmp_path, monkeypatch)
    code, out, err = _run(capsys, "datasets", "--fetch", "mnist", "--quiet")
    assert code == 0, err
    raw = no_data / ".cache" / "labelleak" / "data" / "MNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(MNIST_FILES)  # no partial file left over
    assert all((p.stat().st_mode & 0o777) == 0o644 for p in raw.iterdir())
    assert f"mnist: fetched into {raw}: mnist: 20 train / 10 test, 1x28x28, 10 classes" in out
    # every verb now finds it without --data-root, and a second fetch downloads nothing
    code, out, _ = _run(capsys, "datasets")
    assert f"| mnist | yes | {raw} |" in out
    code, out, _ = _run(capsys, "datasets", "--fetch", "mnist")
    assert code == 0 and f"mnist: already available at {raw}; nothing fetched" in out


def test_fetch_into_a_data_root(capsys, tmp_path, no_data, monkeypatch):
    _serve_mnist_locally(tmp_path, monkeypatch)
    root = tmp_path / "data"
    code, out, _ = _run(capsys, "datasets", "--fetch", "mnist", "--data-root", str(root), "--quiet")
    assert code == 0 and f"use this copy with --data-root {root}" in out
    code, out, _ = _run(capsys, "datasets", "--data-root", str(root))
    assert f"| mnist | yes | {root / 'MNIST' / 'raw'} |" in out


def test_a_verb_with_download_fetches_what_is_missing_then_works(capsys, tmp_path, no_data, monkeypatch):
    _serve_mnist_locally(tmp_path, monkeypatch)
    root = tmp_path / "data"
    argv = ["train", "--dataset", "mnist", "--data-root", str(root), "--epochs", "1", "--cache", str(tmp_path / "c")]
    code, out, err = _run(capsys, *argv, "--quiet")
    assert code == 2 and "dataset 'mnist' not found" in err and "--data-root" in err  # nothing without --download
    assert not root.exists()
    code, out, err = _run(capsys, *argv, "--download", "--quiet")
    assert code == 0, err
    assert f"mnist: 20 train / 10 test, 1x28x28, 10 classes ({root / 'MNIST' / 'raw'})" in out


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fetch_without_network_is_one_clear_line_and_leaves_nothing(capsys, tmp_path, no_data, monkeypatch):
    port = _closed_port()
    entries = [(f"http://127.0.0.1:{port}/{name}", name, "0" * 32) for name in MNIST_FILES]
    monkeypatch.setitem(discovery.DOWNLOADS, "mnist", entries)
    root = tmp_path / "data"
    code, _, err = _run(capsys, "datasets", "--fetch", "mnist", "--data-root", str(root), "--quiet")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"labelleak: error: could not download mnist from http://127.0.0.1:{port}/train-images")
    assert "refused" in err.lower() and "--data-root" in err
    assert not root.exists()  # not even the directories it would have made
    # the same through a verb's --download, into the default location
    code, _, err = _run(capsys, "train", "--dataset", "mnist", "--download", "--quiet")
    assert code == 2 and "could not download mnist" in err and err.count("\n") == 1
    assert not (no_data / ".cache").exists()


def test_fetch_with_a_wrong_checksum_keeps_nothing(capsys, tmp_path, no_data, monkeypatch):
    source = _serve_mnist_locally(tmp_path, monkeypatch)
    entries = list(discovery.DOWNLOADS["mnist"])
    entries[2] = (entries[2][0], entries[2][1], "0" * 32)  # the third file is "corrupt"
    monkeypatch.setitem(discovery.DOWNLOADS, "mnist", entries)
    root = tmp_path / "data"
    code, _, err = _run(capsys, "datasets", "--fetch", "mnist", "--data-root", str(root), "--quiet")
    assert code == 2 and "failed its md5 check" in err and err.count("\n") == 1
    raw = root / "MNIST" / "raw"
    # the two files checked before stay (a re-run keeps them); no partial or unchecked file is left
    assert sorted(p.name for p in raw.iterdir()) == sorted(MNIST_FILES[:2])
    assert (source / MNIST_FILES[2]).is_file()


def test_fetch_unpacks_the_cifar_archive(capsys, tmp_path, no_data, monkeypatch):
    from tests.data.fixtures import write_cifar_batches

    write_cifar_batches(tmp_path / "build" / "cifar-10-batches-py")
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "build" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    monkeypatch.setitem(discovery.DOWNLOADS, "cifar10", [(archive.as_uri(), "cifar-10-python.tar.gz", md5)])
    root = tmp_path / "data"
    code, out, err = _run(capsys, "datasets", "--fetch", "cifar10", "--data-root", str(root), "--quiet")
    assert code == 0, err
    assert "cifar10: 50 train / 10 test, 3x32x32" in out
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no scratch directory left


@pytest.mark.parametrize(
    "name,needle",
    [("digits", "'digits' is bundled with scikit-learn"), ("imagenet", "cannot fetch unknown dataset 'imagenet'")],
)
def test_fetch_of_what_cannot_be_fetched_is_one_line(capsys, name, needle):
    code, _, err = _run(capsys, "datasets", "--fetch", name)
    assert code == 2 and needle in err and err.count("\n") == 1


@pytest.mark.parametrize("verb", [["run", "configs/quick.toml"], ["reproduce", "--profile", "quick"]])
def test_grid_verbs_take_data_root_and_download(verb):
    from labelleak.cli import build_parser

    args = build_parser().parse_args([*verb, "--data-root", "/data", "--download"])
    assert args.data_root == "/data" and args.download is True


TINY_MNIST = """\
name = "tiny-mnist"
seeds = [0]
[[datasets]]
name = "mnist"
epochs = 1
singles = [0]
[unlearning]
methods = ["random_labels"]
[[knowledge]]
name = "default"
aux_per_class = 1
unrelated_size = 4
[[attacks]]
name = "random-guess"
"""


def test_dry_run_names_the_missing_datasets_and_the_command_that_gets_them(capsys, tmp_path, no_data):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_MNIST)
    code, out, _ = _run(capsys, "run", str(config), "--dry-run")
    assert code == 0
    assert (
        "dataset mnist: MISSING, the run would stop here; get it with: labelleak datasets --fetch mnist (11 MB), "
        "or run with --download" in out
    )
    assert "tiny-mnist: 1 targets (1 forget set of mnist x 1 seed x 1 method)" in out
    root = tmp_path / "my data"
    code, out, _ = _run(capsys, "run", str(config), "--dry-run", "--data-root", str(root))
    assert f"get it with: labelleak datasets --fetch mnist --data-root '{root}' (11 MB)" in out
    # an optional dataset is reported as skipped
    config.write_text(TINY_MNIST.replace('name = "mnist"', 'name = "mnist"\noptional = true'))
    code, out, _ = _run(capsys, "run", str(config), "--dry-run")
    assert code == 0 and "dataset mnist: missing (optional: the run skips it); get it with:" in out
    # and the real run stops with one line naming the same command
    config.write_text(TINY_MNIST)
    code, _, err = _run(capsys, "run", str(config), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "c"))
    assert code == 2 and "run `labelleak datasets --fetch mnist` (11 MB) or pass --download" in err
    assert err.count("\n") == 1


def test_run_with_download_fetches_then_runs(capsys, tmp_path, no_data, monkeypatch):
    _serve_mnist_locally(tmp_path, monkeypatch)
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_MNIST)
    root = tmp_path / "data"
    argv = ["run", str(config), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "c"), "--quiet"]
    code, out, err = _run(capsys, *argv, "--data-root", str(root), "--download")
    assert code == 0, err
    assert f"mnist: fetched into {root / 'MNIST' / 'raw'}" in out
    assert (tmp_path / "out" / "results.csv").is_file()


# -- 3. output meant for users -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


@pytest.mark.parametrize(
    "options,line",
    [
        (
            ["--attack", "invert-bb", "--queries", "640"],
            "attack invert-bb(query_budget=640) with queries access; knowledge: ",
        ),
        (
            ["--attack", "invert-wb", "--criterion", "entropy"],
            "attack invert-wb(criterion='entropy') with gradients access; knowledge: ",
        ),
    ],
)
def test_attacks_print_as_the_options_given(capsys, cache, options, line):
    argv = ["attack", "--dataset", "digits", "--method", "retrain", "--forget", "3", *options]
    code, out, _ = _run(capsys, *argv, "--cache", cache, "--threads", "1", "--quiet")
    assert code == 0
    printed = next(x for x in out.splitlines() if x.startswith("attack "))
    assert printed.startswith(line) and " object at 0x" not in out and len(printed) < 120


# -- 4. progress: logs through tqdm, one labelled bar for the shadows, a cells bar after preparation --


def test_log_lines_are_written_above_a_progress_bar(capsys, monkeypatch):
    from tqdm import tqdm

    from labelleak.cli import TqdmHandler

    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    configure_logging(quiet=False)
    assert [type(h) for h in root.handlers] == [TqdmHandler] and root.level == logging.INFO
    configure_logging(quiet=True)  # a second call (another verb in the same process) adds no handler
    assert len(root.handlers) == 1 and root.level == logging.WARNING
    configure_logging(quiet=False)
    with tqdm(total=3, desc="bar", file=sys.stderr, ascii=True) as bar:
        bar.update()
        logging.getLogger("labelleak.test").info("a log line")
        bar.update()
    err = capsys.readouterr().err
    # the bar's line was cleared before the message, which ends its own line, then the bar came back
    before, after = err.split("a log line\n")
    assert before.endswith("\r") and "bar" in after


def test_a_root_logger_configured_by_someone_else_is_left_alone(monkeypatch):
    root = logging.getLogger()
    other = logging.NullHandler()
    monkeypatch.setattr(root, "handlers", [other])
    monkeypatch.setattr(root, "level", logging.ERROR)
    configure_logging(quiet=False)
    assert root.handlers == [other] and root.level == logging.ERROR


def test_shadow_models_get_one_bar_and_labelled_log_lines(capsys, caplog, digits, store):
    from labelleak.attacks import ShadowConfig, Shadows
    from labelleak.attacks.knowledge import draw_knowledge

    caplog.set_level(logging.INFO, logger="labelleak")
    draw = draw_knowledge(digits, seed=0)
    config = ShadowConfig(methods=("random_labels",), forget_sets=((0,), (1,), (2,)), epochs=2)
    shadows = Shadows(digits, draw, config=config, eval_seeds=[0], store=store, verbose=True)
    assert len(list(shadows.targets())) == 3
    messages = [r.getMessage() for r in caplog.records]
    assert (
        "calibrating the attacker's shadow models on digits, 3 of them "
        "(shadow seeds [1000] x methods random_labels x 3 forget sets)" in messages
    )
    unlearned = [m for m in messages if " forgot [" in m]
    assert len(unlearned) == 3 and all(
        m.startswith("shadow model (seed 1000): random_labels forgot [") for m in unlearned
    )
    err = capsys.readouterr().err
    assert "shadow models" in err and "3/3" in err
    # the filter that labels them is gone: the target's own lines are not labelled
    caplog.clear()
    logging.getLogger("labelleak.targets").info("retrain forgot [0]: x")
    assert caplog.records[-1].getMessage() == "retrain forgot [0]: x"


def test_cells_bar_appears_once_preparation_is_done_and_pauses_for_the_next():
    from labelleak.experiments.runner import _CellBar

    stream = io.StringIO()
    bar = _CellBar(total=4, initial=1, desc="x cells", file=stream, ascii=True)
    assert bar.bar is None and stream.getvalue() == ""  # nothing while θ_o and the shadows are prepared
    bar.prepared("digits")
    start = bar.bar.start_t
    assert "1/4" in stream.getvalue()
    bar.update()
    bar.bar.last_print_t -= 100  # 100 s "preparing" the next dataset since the last print...
    bar.prepared("mnist")
    assert bar.bar.start_t >= start + 99  # ...are left out of the elapsed time and the rate
    bar.close()


# -- 7. small things -----------------------------------------------------------------------------------


def test_run_header_counts_the_forget_sets(capsys):
    code, out, _ = _run(capsys, "run", str(REPO / "configs" / "quick.toml"), "--dry-run")
    assert code == 0
    assert (
        "quick: 20 targets (5 forget sets of digits x 1 seed x 4 methods), 15 attack variants, 1 knowledge setting"
        in out
    )


def test_run_header_with_several_datasets():
    from labelleak.experiments.config import parse_config
    from labelleak.experiments.grid import describe

    config = parse_config(
        {
            "name": "two",
            "seeds": [0, 1],
            "datasets": [{"name": "digits", "singles": [0, 1], "pairs": 1}, {"name": "mnist", "singles": [3]}],
            "unlearning": {"methods": ["retrain", "finetune"]},
            "attacks": [{"name": "random-guess"}],
        }
    )
    assert describe(config).startswith("16 targets (4 forget sets [digits 3, mnist 1] x 2 seeds x 2 methods), ")


def test_results_of_a_run_without_out_are_ignored_by_git():
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    for path in ("results/quick/report.md", "results/quick/cells/x.json"):
        assert subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO).returncode == 0, path
    # the committed results stay tracked
    assert subprocess.run(["git", "check-ignore", "-q", "docs/results/paper/report.md"], cwd=REPO).returncode == 1


def test_written_files_get_the_usual_permissions(tmp_path):
    from labelleak.store import atomic_write_bytes, atomic_write_json

    umask = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "report.md", b"x")
        atomic_write_json(tmp_path / "run.json", {})
    finally:
        os.umask(umask)
    for name in ("report.md", "run.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(("cores", "threads"), [(1, 1), (2, 1), (4, 2), (8, 4), (64, 4)])
def test_verbs_default_to_half_the_cores_at_most_four(monkeypatch, cores, threads):
    from labelleak.cli import build_parser
    from labelleak.cli.common import default_threads

    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    assert default_threads() == threads
    commands = {
        "demo": [],
        "train": ["--dataset", "digits"],
        "unlearn": ["--dataset", "digits", "--method", "retrain", "--forget", "1"],
        "attack": ["--dataset", "digits", "--method", "retrain", "--forget", "1"],
        "audit": ["--dataset", "digits", "--onnx", "m.onnx"],
    }
    for verb, rest in commands.items():
        assert build_parser().parse_args([verb, *rest]).threads == threads, verb


@pytest.mark.parametrize(("cores", "workers"), [(1, 1), (2, 2), (4, 4), (64, 4)])
def test_an_audit_builds_its_shadows_on_every_core_at_most_four_whatever_its_threads(monkeypatch, cores, workers):
    from labelleak.cli import build_parser
    from labelleak.cli.common import default_workers

    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    assert default_workers() == workers
    for extra, expected in (([], workers), (["--threads", "1"], workers), (["--workers", "3"], 3)):
        args = build_parser().parse_args(["audit", "--dataset", "digits", "--onnx", "m.onnx", *extra])
        assert args.workers == expected, extra


def test_run_datasets_option_restricts_the_grid(capsys, tmp_path):
    config = tmp_path / "two.toml"
    config.write_text(
        'name = "two"\n[[datasets]]\nname = "digits"\nsingles = [0, 1]\n[[datasets]]\nname = "mnist"\nsingles = [3]\n'
        '[unlearning]\nmethods = ["retrain"]\n[[attacks]]\nname = "random-guess"\n'
    )
    code, out, _ = _run(capsys, "run", str(config), "--dry-run", "--datasets", "digits")
    assert code == 0
    assert "two: 2 targets (2 forget sets of digits x 1 seed x 1 method)" in out
    assert "mnist" not in out
    code, _, err = _run(capsys, "run", str(config), "--dry-run", "--datasets", "digits,svhn")
    assert code == 2
    assert "--datasets must name datasets of 'two' (digits, mnist), got 'digits,svhn'" in err


def test_run_seeds_option_restricts_the_grid(capsys, tmp_path):
    config = tmp_path / "seeded.toml"
    config.write_text(
        'name = "seeded"\nseeds = [0, 1, 2]\n[[datasets]]\nname = "digits"\nsingles = [0, 1]\n'
        '[unlearning]\nmethods = ["retrain"]\n[[attacks]]\nname = "random-guess"\n'
    )
    code, out, _ = _run(capsys, "run", str(config), "--dry-run", "--seeds", "0,2")
    assert code == 0
    assert "seeded: 4 targets (2 forget sets of digits x 2 seeds x 1 method)" in out
    for bad in ("3", "x", ","):
        code, _, err = _run(capsys, "run", str(config), "--dry-run", "--seeds", bad)
        assert code == 2
        assert f"--seeds must name seeds of 'seeded' (0, 1, 2), got {bad!r}" in err
