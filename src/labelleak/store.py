"""Content-addressed artifact store: every stage's output lives under the hash of its resolved config.

A changed config hashes differently, so a stale artifact is never reused; a repeated config finds
its artifact and skips the work. Writes are atomic (temp file + rename). This is labelleak's
bottom layer: it knows JSON, tensors and directories, not models or datasets (a caller that
stores something else passes a :class:`Codec`).

Faults are handled here, once for every artifact kind: the store is checked to be writable before
anything is computed, a failed write is one :class:`StoreError` line that leaves no half-written
artifact behind, every stored file carries a sha256 that is checked when it is read (a corrupt
artifact is warned about and recomputed), temporaries a killed writer left are removed when the
store is opened (at most every :data:`CLEAN_INTERVAL_SECONDS`) and before their artifact is written
again, and one artifact is computed by one process at a time (a per-artifact lock file:
a second process waits, then loads what the first stored).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from labelleak import LabelleakError

try:
    import fcntl
except ImportError:  # not on Windows: artifacts are then not locked against concurrent computation
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from labelleak.data import ImageDataset

logger = logging.getLogger(__name__)

T = TypeVar("T")

ENV_VAR = "LABELLEAK_CACHE"
#: bump when the meaning of stored artifacts changes, to invalidate every old entry
SCHEMA = 1
#: a temporary file (``.NAME.<host>-<pid>.XXXXXXXX.tmp``) older than this is a killed writer's leftover
STALE_SECONDS = 3600.0
#: opening a store sweeps it for such leftovers at most this often (a stamp file records the last sweep)
CLEAN_INTERVAL_SECONDS = 600.0
CLEAN_STAMP = ".cleaned"


class StoreError(LabelleakError):
    """The artifact store cannot be written (checked before computing; a failed write says why)."""


class OutputPathError(LabelleakError):
    """An output file or directory cannot be created or written."""


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]


def temp_prefix(name: str) -> str:
    """The prefix of a temporary file written on the way to ``name``: it names this host and process,
    so that :func:`clean_stale_temporaries` can tell a killed writer's leftover from a live one's."""
    return f".{name}.{_host_tag()}-{os.getpid()}."


_TEMP_NAME = re.compile(r"^\..*\.([0-9a-f]{6})-(\d+)\.[^.]*\.tmp$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, owned by someone else
        return True
    return True


def _is_stale_temporary(path: Path, now: float) -> bool:
    """A ``.*.tmp`` file that no live writer will rename: older than :data:`STALE_SECONDS`, or
    written by a process of this host that is gone."""
    name = path.name
    if not (name.startswith(".") and name.endswith(".tmp")):
        return False
    try:
        age = now - path.stat().st_mtime
    except OSError:
        return False
    if age > STALE_SECONDS:
        return True
    match = _TEMP_NAME.match(name)
    return bool(match and match.group(1) == _host_tag() and not _alive(int(match.group(2))))


def describe_os_error(err: BaseException) -> str:
    """A failed write in a few words (the file-size limit named when it was the cause)."""
    if isinstance(err, OSError):
        reason = err.strerror or str(err)
        if err.errno == errno.EFBIG:
            reason += _file_size_limit_note()
        return reason
    text = str(err).strip()
    if "(os error 27)" in text or "File too large" in text:
        return "File too large" + _file_size_limit_note()
    return text.splitlines()[0] if text else type(err).__name__


def _file_size_limit_note() -> str:
    try:
        import resource
    except ImportError:
        return ""
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return "" if soft == resource.RLIM_INFINITY else f" (the file size limit, ulimit -f, is {soft} bytes)"


def _writable_directory(directory: Path, *, keep: bool) -> str | None:
    """None when files can be created in ``directory`` (made if missing), else why not.

    A probe file is created and removed; directories this check made are removed again unless ``keep``.
    """
    missing: list[Path] = []
    probe = directory
    while not probe.exists():
        if probe.is_symlink():
            return f"{probe} is a broken symbolic link"
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        return f"{probe} is not a directory"
    created: list[Path] = []
    try:
        for path in reversed(missing):
            try:
                path.mkdir()
            except FileExistsError:
                if not path.is_dir():
                    return f"{path} is not a directory"
                continue  # made meanwhile by another process opening the same store (shadow workers do)
            except OSError as err:
                return f"cannot create directory {path} ({describe_os_error(err)})"
            created.append(path)
        try:
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=temp_prefix("probe"), suffix=".tmp")
        except OSError as err:
            return f"cannot create a file in {directory} ({describe_os_error(err)})"
        os.close(fd)
        os.unlink(tmp)
        return None
    finally:
        if not keep:
            for path in reversed(created):
                try:
                    path.rmdir()
                except OSError:
                    pass


def check_output_dir(directory: str | os.PathLike, *, what: str) -> Path:
    """Raise :class:`OutputPathError` (naming ``what``, e.g. the flag) unless files can be written into
    ``directory``; checked before any work, and nothing is left behind by the check."""
    path = Path(directory).expanduser()
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{what} {path}: not a directory")
    reason = _writable_directory(path, keep=False)
    if reason is not None:
        raise OutputPathError(f"{what} {path}: {reason}")
    return path


def check_output_file(file: str | os.PathLike, *, what: str) -> Path:
    """Raise :class:`OutputPathError` (naming ``what``) unless ``file`` can be written; see :func:`check_output_dir`."""
    path = Path(file).expanduser()
    if path.is_dir():
        raise OutputPathError(f"{what} {path}: is a directory")
    reason = _writable_directory(path.parent, keep=False)
    if reason is not None:
        raise OutputPathError(f"{what} {path}: {reason}")
    return path


def default_cache_root() -> Path:
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "labelleak"


def config_hash(config: dict[str, Any]) -> str:
    """A stable hash of a JSON-serialisable config (key order does not matter)."""
    text = json.dumps({"schema": SCHEMA, **config}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


_FINGERPRINTS: dict[int, tuple[ImageDataset, str]] = {}


def dataset_fingerprint(dataset: ImageDataset) -> str:
    """Hash of a dataset's content, so a different copy of 'mnist' never shares cached models."""
    hit = _FINGERPRINTS.get(id(dataset))
    if hit is not None and hit[0] is dataset:
        return hit[1]
    digest = hashlib.sha256(dataset.name.encode())
    for tensor in (dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test):
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.contiguous().numpy().tobytes())
    fingerprint = digest.hexdigest()[:16]
    _FINGERPRINTS[id(dataset)] = (dataset, fingerprint)
    return fingerprint


def file_mode() -> int:
    """The mode ``open()`` gives a new file (0o666 less the umask, usually 0o644); ``mkstemp`` makes 0o600."""
    umask = os.umask(0o022)  # read by setting; restored at once
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file and rename, so no half-written file is left.

    The file gets the permissions a plain ``open()`` would give it (reports are meant to be read by others)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path.name), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


class Codec(Protocol):
    """How one kind of artifact is read from and written to its directory."""

    def load(self, directory: Path) -> Any | None:
        """The stored value, or None when the directory holds none (or an unreadable one)."""

    def save(self, directory: Path, value: Any, config: dict[str, Any]) -> None:
        """Write ``value`` (and ``config``, for provenance) atomically."""


def _json_digest(value: Any) -> str:
    """sha256 of ``value`` as it reads back from JSON (so a stored value checks against its own digest)."""
    text = json.dumps(json.loads(json.dumps(value)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class JsonCodec:
    """A JSON-serialisable value in ``result.json``, beside the config it was computed from and its sha256."""

    def load(self, directory: Path) -> Any | None:
        path = directory / "result.json"
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            result = data["result"]
            # files written before the digest was recorded have none: their JSON structure is their check
            if "sha256" in data and data["sha256"] != _json_digest(result):
                raise ValueError("its content does not match its recorded sha256")
        except (ValueError, KeyError, TypeError, OSError) as err:
            logger.warning("ignoring unreadable cached result at %s (%s): it is recomputed", path, err)
            return None
        return result

    def save(self, directory: Path, value: Any, config: dict[str, Any]) -> None:
        atomic_write_json(directory / "result.json", {"config": config, "result": value, "sha256": _json_digest(value)})


JSON = JsonCodec()

TENSORS_FILE = "tensors.safetensors"


def _tensor_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    """safetensors bytes whose metadata holds the sha256 of their data section."""
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    raw = save_bytes(tensors)
    header = int.from_bytes(raw[:8], "little")
    return save_bytes(tensors, metadata={"sha256": hashlib.sha256(raw[8 + header :]).hexdigest()})


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a file written by :func:`_tensor_bytes`; ValueError when it is corrupt."""
    data = path.read_bytes()
    if len(data) < 8:
        raise ValueError("the file is truncated")
    header = int.from_bytes(data[:8], "little")
    try:
        tensors = load_bytes(data)
        metadata = json.loads(data[8 : 8 + header]).get("__metadata__") or {}
    except SafetensorError as err:
        raise ValueError(str(err).strip()) from None
    if "sha256" in metadata and metadata["sha256"] != hashlib.sha256(data[8 + header :]).hexdigest():
        raise ValueError("its content does not match its recorded sha256")
    return tensors


#: store roots already swept for leftovers by this process
_SWEPT: set[Path] = set()


class ArtifactStore:
    """Artifacts under ``root/<kind>/<config hash>/``.

    ``counts`` tallies, per kind, how many artifacts :meth:`cached` computed and how many it
    found already stored, so callers can report cache hits without probing the file system.

    Opening a store removes what killed writers left in it (:meth:`clean`, at most every
    :data:`CLEAN_INTERVAL_SECONDS`, recorded by the file ``root/.cleaned``); computing an artifact
    first checks that the store is writable (:meth:`check_writable`), and holds the artifact's lock
    (``root/<kind>/.<hash>.lock``) so a concurrent process waits for it instead of computing it again.
    """

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_root()
        self.counts: Counter[tuple[str, str]] = Counter()
        self._writable = False
        swept = self.root.absolute()
        if swept not in _SWEPT:
            _SWEPT.add(swept)
            if _old(self.root / CLEAN_STAMP, time.time(), CLEAN_INTERVAL_SECONDS, missing=True):
                self.clean()

    def path(self, kind: str, config: dict[str, Any]) -> Path:
        return self.root / kind / config_hash(config)

    def check_writable(self) -> None:
        """Raise :class:`StoreError` unless artifacts can be written (creates the root when missing)."""
        if self._writable:
            return
        reason = _writable_directory(self.root, keep=True)
        if reason is not None:
            raise StoreError(
                f"the artifact store {self.root} is not writable: {reason} (choose another with --cache DIR or ${ENV_VAR})"
            )
        note = _file_size_limit_note()
        if note:
            logger.warning("storing artifacts may fail%s", note)
        self._writable = True

    def cached(
        self, kind: str, config: dict[str, Any], compute: Callable[[], T], *, codec: Codec = JSON
    ) -> tuple[T, bool]:
        """The artifact of ``config``: loaded when stored, else computed and stored.

        The store is checked to be writable before ``compute`` runs; while it runs the artifact is
        locked, so a second process asking for it waits and then loads it. Returns the value and
        whether it came from the store.
        """
        directory = self.path(kind, config)
        before = _listing(directory)
        hit = codec.load(directory)
        if hit is None:
            self.check_writable()
            with self._lock(directory):
                # stored by another process meanwhile (re-read only when the directory changed, so a
                # corrupt artifact is warned about once)
                if _listing(directory) != before:
                    hit = codec.load(directory)
                if hit is None:
                    value = compute()
                    self._write(kind, directory, lambda: codec.save(directory, value, config))
                    self.counts[(kind, "computed")] += 1
                    return value, False
        logger.info("loaded cached %s %s", kind, directory)
        self.counts[(kind, "cached")] += 1
        return hit, True

    def load_json(self, kind: str, config: dict[str, Any]) -> Any | None:
        return JSON.load(self.path(kind, config))

    def save_json(self, kind: str, config: dict[str, Any], result: Any) -> Path:
        directory = self.path(kind, config)
        self.check_writable()
        with self._lock(directory):
            self._write(kind, directory, lambda: JSON.save(directory, result, config))
        return directory / "result.json"

    def has_tensors(self, kind: str, config: dict[str, Any]) -> bool:
        """Whether a tensors file is stored for ``config`` (readable or not)."""
        return (self.path(kind, config) / TENSORS_FILE).is_file()

    def load_tensors(self, kind: str, config: dict[str, Any]) -> dict[str, torch.Tensor] | None:
        """The stored tensors, or None when there are none or they are corrupt (warned about)."""
        path = self.path(kind, config) / TENSORS_FILE
        if not path.is_file():
            return None
        try:
            return _read_tensors(path)
        except (ValueError, OSError) as err:
            logger.warning("ignoring unreadable cached tensors at %s (%s): they are recomputed", path, err)
            return None

    def save_tensors(self, kind: str, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Path:
        directory = self.path(kind, config)
        path = directory / TENSORS_FILE

        def write() -> None:
            atomic_write_bytes(path, _tensor_bytes(tensors))
            atomic_write_json(directory / "config.json", config)

        self.check_writable()
        with self._lock(directory):
            self._write(kind, directory, write)
        return path

    def _write(self, kind: str, directory: Path, write: Callable[[], None]) -> None:
        """Run ``write``; a failure is one :class:`StoreError` line and leaves no new, half-written artifact."""
        existed = directory.exists()
        if existed:  # what a killed writer of this artifact left (this process holds its lock)
            now = time.time()
            try:
                for path in _files(directory):
                    if _is_stale_temporary(path, now):
                        _unlink(path)
            except OSError:
                pass
        try:
            write()
        except (OSError, SafetensorError) as err:
            if not existed:
                shutil.rmtree(directory, ignore_errors=True)
            raise StoreError(
                f"cannot write the {kind} artifact to the store at {directory}: {describe_os_error(err)}"
            ) from None

    @contextmanager
    def _lock(self, directory: Path) -> Iterator[None]:
        """Hold the lock of the artifact in ``directory`` (waiting for another process that holds it)."""
        lock = directory.with_name(f".{directory.name}.lock")
        try:
            fd = _acquire(lock, blocking=True, what=f"{directory.parent.name} {directory.name}")
        except OSError as err:
            if isinstance(err, FileNotFoundError | NotADirectoryError | PermissionError):
                raise StoreError(f"cannot lock {lock} in the artifact store: {describe_os_error(err)}") from None
            # e.g. a file system without flock (ENOLCK): run unlocked, as before locks existed
            logger.debug("artifact lock %s unavailable: %s", lock, err)
            fd = None
        try:
            yield
        finally:
            if fd is not None:
                _release(lock, fd)
            _rmdir_quietly(directory.parent)

    def clean(self) -> list[Path]:
        """Remove what killed writers left: stale temporaries (older than :data:`STALE_SECONDS`, or
        of a process of this host that is gone), the artifact directories they leave empty, and
        lock files nobody holds that are older than :data:`STALE_SECONDS`. Returns what was removed."""
        removed: list[Path] = []
        now = time.time()
        try:
            kinds = [Path(e.path) for e in os.scandir(self.root) if e.is_dir(follow_symlinks=False)]
            removed += [p for p in _files(self.root) if _is_stale_temporary(p, now) and _unlink(p)]
            (self.root / CLEAN_STAMP).touch()
        except OSError:
            return removed
        for kind in kinds:
            try:
                entries = list(os.scandir(kind))
            except OSError:
                continue
            for entry in entries:
                path = Path(entry.path)
                if entry.is_dir(follow_symlinks=False):
                    stale = [p for p in _files(path) if _is_stale_temporary(p, now)]
                    if stale:
                        removed += self._clean_artifact(path, stale)
                elif entry.name.endswith(".lock"):
                    if _old(path, now, STALE_SECONDS) and _remove_unheld_lock(path):
                        removed.append(path)
                elif _is_stale_temporary(path, now) and _unlink(path):
                    removed.append(path)
        if removed:
            logger.info("removed %d leftover(s) of interrupted writes from the store %s", len(removed), self.root)
        return removed

    def _clean_artifact(self, directory: Path, stale: list[Path]) -> list[Path]:
        """Remove ``stale`` temporaries of one artifact (and the artifact directory, if that empties it),
        unless a live process holds the artifact's lock."""
        lock = directory.with_name(f".{directory.name}.lock")
        try:
            fd = _acquire(lock, blocking=False, what="")
        except OSError:
            return []
        if fd is None:  # being written right now
            return []
        try:
            removed = [p for p in stale if _unlink(p)]
            try:
                directory.rmdir()
                removed.append(directory)
            except OSError:
                pass
            return removed
        finally:
            _release(lock, fd)


def _listing(directory: Path) -> frozenset[tuple[str, int, int]] | None:
    """Names, sizes and mtimes in ``directory`` (None when missing): what a re-read would see differently."""
    try:
        stats = [(e.name, e.stat()) for e in os.scandir(directory)]
    except OSError:
        return None
    return frozenset((name, st.st_size, st.st_mtime_ns) for name, st in stats)


def _files(directory: Path) -> list[Path]:
    return [Path(e.path) for e in os.scandir(directory) if e.is_file(follow_symlinks=False)]


def _old(path: Path, now: float, seconds: float, *, missing: bool = False) -> bool:
    """Whether ``path`` was last modified more than ``seconds`` ago (``missing`` when it does not exist)."""
    try:
        return now - path.stat().st_mtime > seconds
    except OSError:
        return missing


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except OSError:
        return False
    return True


def _rmdir_quietly(directory: Path) -> None:
    """Remove ``directory`` if it is empty (a kind folder made only to hold a lock)."""
    try:
        directory.rmdir()
    except OSError:
        pass


def _acquire(lock: Path, *, blocking: bool, what: str) -> int | None:
    """An open descriptor holding an exclusive ``flock`` on ``lock`` (None when ``blocking`` is False
    and another process holds it). The holder unlinks the file on release, so a waiter that wakes on
    an unlinked file tries again with the new one."""
    if fcntl is None:
        return -1
    waited = False
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # its folder is missing, or was just removed as empty: make it, try again
            lock.parent.mkdir(parents=True, exist_ok=True)
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not blocking:
                    os.close(fd)
                    return None
                if not waited:
                    logger.info("waiting for another process computing %s", what)
                    waited = True
                fcntl.flock(fd, fcntl.LOCK_EX)
            held = os.fstat(fd)
            try:
                current = os.stat(lock)
            except FileNotFoundError:
                current = None
            if current is not None and (current.st_dev, current.st_ino) == (held.st_dev, held.st_ino):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _release(lock: Path, fd: int) -> None:
    if fd < 0:
        return
    try:
        os.unlink(lock)
    except OSError:
        pass
    os.close(fd)


def _remove_unheld_lock(lock: Path) -> bool:
    """Remove a lock file that no process holds (one a killed process left)."""
    try:
        fd = _acquire(lock, blocking=False, what="")
    except OSError:
        return False
    if fd is None:
        return False
    _release(lock, fd)
    return True


def cached(
    store: ArtifactStore | None, kind: str, config: dict[str, Any], compute: Callable[[], T], *, codec: Codec = JSON
) -> tuple[T, bool]:
    """:meth:`ArtifactStore.cached`, or just ``compute()`` when there is no store."""
    if store is None:
        return compute(), False
    return store.cached(kind, config, compute, codec=codec)
