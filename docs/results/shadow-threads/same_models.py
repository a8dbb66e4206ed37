"""Whether two artifact stores hold the same shadow models: the shadow originals and unlearned shadow
models of the owner's architecture, matched by their cache configs with the ``threads`` entry left
out (labelleak before the change keyed none), compared by the sha256 of their weights files.

usage: python docs/results/shadow-threads/same_models.py STORE_A STORE_B
"""

import json
import sys
from pathlib import Path


def shadow_models(store: Path) -> dict[str, str]:
    """Config (without ``threads``) -> weights digest, for every stored shadow model of a factory
    architecture (the zoo's foreign models)."""
    found = {}
    for path in [*store.glob("original/*/model.json"), *store.glob("unlearned/*/model.json")]:
        record = json.loads(path.read_text())
        config = {k: v for k, v in record["config"].items() if k != "threads"}
        original = config.get("original", config)
        if not original["dataset"].endswith("-shadow") or not original["spec"]["arch"].startswith("factory-"):
            continue
        if "original" in config:
            config["original"] = {k: v for k, v in original.items() if k != "threads"}
        found[json.dumps(config, sort_keys=True)] = record["sha256"]
    return found


def main() -> None:
    first, second = (shadow_models(Path(arg)) for arg in sys.argv[1:3])
    common = first.keys() & second.keys()
    same = sum(first[key] == second[key] for key in common)
    print(
        f"shadow models: {len(first)} and {len(second)}; {len(common)} of the same config, {same} of them the same weights"
    )


if __name__ == "__main__":
    main()
