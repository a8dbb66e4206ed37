"""Per-dataset default parameters of the unlearning methods, read from the packaged ``defaults.json``.

The methods' own defaults are scaled to the 28×28 LeNet on Fashion-MNIST; on a dataset of a
different size some of them do not forget (docs/unlearning.md). ``defaults.json`` maps
``dataset -> method -> {parameter: value}``; :func:`labelleak.targets.build_unlearner` merges an
entry under the caller's explicit parameters, so an explicit value always wins, and a dataset
without an entry (today: everything but digits) keeps the methods' defaults and its cache keys.
``labelleak tune`` writes its results into the same table.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

#: the packaged table (``labelleak tune`` rewrites it in place in a source checkout)
DEFAULTS_FILE = "defaults.json"


def defaults_path() -> Path:
    """Where the packaged table lives (a real file for a regular or editable install)."""
    return Path(str(resources.files("labelleak.unlearning").joinpath(DEFAULTS_FILE)))


@lru_cache(maxsize=1)
def _packaged() -> dict[str, dict[str, dict[str, Any]]]:
    text = resources.files("labelleak.unlearning").joinpath(DEFAULTS_FILE).read_text(encoding="utf-8")
    return _parse(json.loads(text))


def _parse(data: Any) -> dict[str, dict[str, dict[str, Any]]]:
    if not isinstance(data, dict):
        raise ValueError(f"{DEFAULTS_FILE} must hold a JSON object")
    # keys starting with "_" are comments
    return {
        dataset: {method: dict(params) for method, params in methods.items() if not method.startswith("_")}
        for dataset, methods in data.items()
        if not dataset.startswith("_")
    }


def load_defaults(path: str | Path | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """The whole table: ``dataset -> method -> parameters`` (a copy; the packaged one when no path)."""
    if path is None:
        table = _packaged()
    else:
        table = _parse(json.loads(Path(path).read_text(encoding="utf-8")))
    return {d: {m: dict(p) for m, p in methods.items()} for d, methods in table.items()}


def dataset_defaults(dataset: str | None, method: str) -> dict[str, Any]:
    """The per-dataset defaults of ``method`` on ``dataset`` ({} when it has none)."""
    if dataset is None:
        return {}
    return dict(_packaged().get(dataset, {}).get(method, {}))


def write_defaults(dataset: str, method: str, params: dict[str, Any], path: str | Path | None = None) -> Path:
    """Set ``method``'s entry for ``dataset`` in the table at ``path`` (default: the packaged file).

    The rest of the file, comments included, is kept; the packaged table is re-read afterwards.
    """
    target = Path(path) if path is not None else defaults_path()
    data = json.loads(target.read_text(encoding="utf-8")) if target.is_file() else {}
    entries = {**data.get(dataset, {}), method: dict(sorted(params.items()))}
    data[dataset] = dict(sorted(entries.items()))
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(target)
    _packaged.cache_clear()
    return target
