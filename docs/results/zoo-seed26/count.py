"""The counts of RUN.md, from the committed zoo records and audit JSONs: exact sets named by each
attack and by the verdict, before and after the change under test, on the targets that forgot
(forget-class test accuracy ≤ 10%), by dataset, architecture and |C|; the targets whose outcome
changed for an inversion attack; the plan's keep rule, evaluated.

usage: python docs/results/zoo-seed26/count.py [FOLDER]   (default: this file's folder)
"""

import sys
from pathlib import Path

# the records' reader is the seed-25 count's: same files, same "forgot" filter, same versions
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "zoo-seed25"))
from count import VERDICT, exact_by_group, paired

FOLDERS = ("mnist-singles", "mnist-multiclass", "fashion-mnist-singles", "fashion-mnist-multiclass",
           "fashion-mnist-mlp-singles", "fashion-mnist-mlp-multiclass")  # fmt: skip
#: the calibrated inversion attacks of the default audit with θ_o, whose checkpoint choice changed
INVERSION = ("invert-wb", "invert-cma", "label-reach")
SHOWN = (VERDICT, "param-diff", "param-dot", "param-diff-orig", *INVERSION, "accuracy-probe", "hu-probe")


def exact(row: dict, attacks: str | tuple[str, ...]) -> int:
    """How many of ``attacks`` named the target's forgotten set exactly."""
    names = (attacks,) if isinstance(attacks, str) else attacks
    return sum(row["named"].get(a) == set(row["forget"]) for a in names)


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
    both = paired(root, FOLDERS)
    groups = exact_by_group(
        both,
        lambda row: f"{row['dataset']} {row['arch']} |C|={len(row['forget'])}",
        SHOWN,
        audited_as="by both versions",
        compared="before -> after",
    )
    keys = sorted(groups)
    print("\ntargets whose exact-set outcome changed (inversion attacks, verdict)")
    for name, (old, new) in both.items():
        for attack in (*INVERSION, VERDICT):
            if exact(old, attack) != exact(new, attack):
                print(f"  {attack:11s} {name}: forgot {sorted(old['forget'])}, "
                      f"named {sorted(old['named'].get(attack, []))} -> {sorted(new['named'].get(attack, []))}")  # fmt: skip

    print("\ninvert-wb's sets before the change, by folder: exact / a subset / a superset / other")
    for key in keys:
        named = [(set(both[n][0]["named"]["invert-wb"]), set(both[n][0]["forget"])) for n in groups[key]]
        kinds = [sum(p == t for p, t in named), sum(p < t for p, t in named), sum(p > t for p, t in named)]
        print(f"  {key}: {' / '.join(map(str, kinds))} / {len(named) - sum(kinds)}")

    def pooled(attacks: str | tuple[str, ...], version: int, keep) -> int:
        return sum(exact(pair[version], attacks) for pair in both.values() if keep(pair[0]))

    def multi(row: dict) -> bool:
        return len(row["forget"]) > 1

    def single(row: dict) -> bool:
        return len(row["forget"]) == 1

    def mlp(row: dict) -> bool:
        return row["arch"] == "mlp"

    a = [pooled(INVERSION, v, multi) for v in (0, 1)]
    b = [pooled(VERDICT, v, multi) for v in (0, 1)]
    c = {
        what: [pooled(attacks, v, single) for v in (0, 1)]
        for what, attacks in (("inversion", INVERSION), (VERDICT, VERDICT))
    }
    d = [pooled(INVERSION, v, mlp) for v in (0, 1)]
    sanity = [pooled("param-diff", v, lambda row: True) for v in (0, 1)]
    met = {"a": a[1] > a[0], "b": b[1] >= b[0], "c": all(new >= old - 1 for old, new in c.values()), "d": d[1] >= d[0]}
    print("\nkeep rule (targets that forgot, every folder pooled):")
    print(
        f"  (a) inversion attacks summed, pairs+triples {a[0]} -> {a[1]}, strictly higher: {'met' if met['a'] else 'not met'}"
    )
    print(f"  (b) verdict pairs+triples {b[0]} -> {b[1]}, not lower: {'met' if met['b'] else 'not met'}")
    print(f"  (c) singles: inversion attacks summed {c['inversion'][0]} -> {c['inversion'][1]}, verdict "
          f"{c[VERDICT][0]} -> {c[VERDICT][1]}, each at most 1 lower: {'met' if met['c'] else 'not met'}")  # fmt: skip
    print(
        f"  (d) MLP targets, inversion attacks summed {d[0]} -> {d[1]}, not lower: {'met' if met['d'] else 'not met'}"
    )
    print(
        f"  -> {'keep' if all(met.values()) else 'revert'} the change  (param-diff, all targets: {sanity[0]} -> {sanity[1]})"
    )


if __name__ == "__main__":
    main()
