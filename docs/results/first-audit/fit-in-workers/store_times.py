"""When each kind of artifact of an audit's store was written, in seconds after its first file
(the shadow original θ_o′): the phases of a first audit, read off a store it filled.

    python docs/results/first-audit/fit-in-workers/store_times.py STORE
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(store: Path) -> None:
    written = sorted(
        (max(f.stat().st_mtime for f in folder.rglob("*") if f.is_file()), kind.name)
        for kind in store.iterdir()
        if kind.is_dir()
        for folder in kind.iterdir()
        if any(f.is_file() for f in folder.rglob("*"))
    )
    start = written[0][0]
    unlearned = [t - start for t, kind in written if kind == "unlearned"]
    print(f"unlearned shadow models: {len(unlearned)}, first {min(unlearned):.1f} s, last {max(unlearned):.1f} s")
    for t, kind in written:
        if kind != "unlearned":
            print(f"{t - start:7.1f} s  {kind}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
