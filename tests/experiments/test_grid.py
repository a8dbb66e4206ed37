"""Grid expansion: forget sets, cells, attack variants and knowledge settings."""

from __future__ import annotations

from labelleak.attacks.baselines import AccuracyProbe, HuProbe, NoiseLogProb
from labelleak.attacks.parameter import DifferenceAttack, OriginalDifferenceAttack
from labelleak.experiments.config import DatasetConfig, KnowledgeConfig, parse_config
from labelleak.experiments.grid import attack_variants, cells, forget_sets, knowledge_settings_for


def test_forget_sets_singles_pairs_triples_and_explicit():
    d = DatasetConfig(name="digits", singles="all", pairs=4, triples=3, sets=((1, 2), (0, 5, 9)), forget_seed=7)
    sets = forget_sets(d, num_classes=10)
    assert sets[:10] == [(c,) for c in range(10)]
    pairs = [s for s in sets if len(s) == 2]
    triples = [s for s in sets if len(s) == 3]
    # the explicit pair is dropped if the draw already holds it, never listed twice
    assert len(set(sets)) == len(sets)
    assert 4 <= len(pairs) <= 5 and 3 <= len(triples) <= 4
    assert all(list(s) == sorted(s) and len(set(s)) == len(s) for s in sets)
    assert forget_sets(d, num_classes=10) == sets  # seeded


def test_sets_per_seed_draw_new_pairs_and_triples_for_every_seed():
    shared = DatasetConfig(name="digits", singles=[0, 3], pairs=4, triples=2, forget_seed=7)
    per_seed = DatasetConfig(name="digits", singles=[0, 3], pairs=4, triples=2, forget_seed=7, sets_per_seed=True)
    assert forget_sets(shared, num_classes=10, seed=0) == forget_sets(shared, num_classes=10, seed=1)
    first, second = (forget_sets(per_seed, num_classes=10, seed=s) for s in (0, 1))
    assert first[:2] == second[:2] == [(0,), (3,)]  # the singles are every seed's
    assert first[2:] != second[2:] and len(first) == len(second) == 2 + 4 + 2
    assert forget_sets(per_seed, num_classes=10, seed=1) == second  # seeded
    config = parse_config(
        {
            "name": "g",
            "seeds": [0, 1],
            "datasets": [{"name": "digits", "singles": [0], "pairs": 3, "sets_per_seed": True}],
            "unlearning": {"methods": ["retrain"]},
            "attacks": [{"name": "random-guess"}],
        }
    )
    by_seed = {s: {c.forget for c in cells(config) if c.seed == s} for s in (0, 1)}
    assert len(by_seed[0]) == len(by_seed[1]) == 4 and by_seed[0] != by_seed[1]


def test_random_singles_are_drawn_per_seed_beside_the_listed_ones():
    d = DatasetConfig(name="digits", singles=(), random_singles=2, pairs=1, forget_seed=7, sets_per_seed=True)
    first, second = (forget_sets(d, num_classes=10, seed=s) for s in (0, 1))
    assert [len(s) for s in first] == [1, 1, 2] and first[:2] != second[:2]
    # drawing singles leaves the pairs of a config without them as they were
    no_singles = DatasetConfig(name="digits", singles=(), pairs=1, forget_seed=7, sets_per_seed=True)
    assert forget_sets(no_singles, num_classes=10, seed=0) == first[2:]


def test_cells_cover_datasets_seeds_sets_methods():
    config = parse_config(
        {
            "name": "g",
            "seeds": [0, 1],
            "datasets": [{"name": "digits", "singles": [0, 4], "pairs": 2}],
            "unlearning": {"methods": ["retrain", "finetune", "gradient_ascent"]},
            "attacks": [
                {"name": "param-diff", "vary": {"decider": ["kmeans", "tree"]}, "params": {"steps": 50}},
                {"name": "random-guess"},
            ],
        }
    )
    grid = cells(config)
    assert len(grid) == 2 * (2 + 2) * 3
    assert len({c.id for c in grid}) == len(grid)
    assert {c.method for c in grid} == {"retrain", "finetune", "gradient_ascent"}
    variants = attack_variants(config)
    assert [v.label for v in variants] == ["param-diff (kmeans)", "param-diff (tree)", "random-guess"]
    assert variants[0].options == {"decider": "kmeans", "steps": 50}


def test_knowledge_settings_only_multiply_attacks_that_use_knowledge():
    settings = (
        KnowledgeConfig(name="full"),
        KnowledgeConfig(name="partial", aux_classes=5),
        KnowledgeConfig(name="data-free", aux_per_class=0),
        KnowledgeConfig(name="one-version", original=False),
    )
    assert [s.name for s in knowledge_settings_for(NoiseLogProb(), settings)] == ["full"]
    # an empty A cannot serve an attack that needs A; a setting without θ_o not a two-version one
    assert [s.name for s in knowledge_settings_for(AccuracyProbe(), settings)] == ["full", "partial", "one-version"]
    assert [s.name for s in knowledge_settings_for(DifferenceAttack, settings)] == ["full", "partial", "one-version"]
    assert [s.name for s in knowledge_settings_for(HuProbe(), settings)] == ["full", "partial", "data-free"]
    assert [s.name for s in knowledge_settings_for(OriginalDifferenceAttack, settings)] == [
        "full",
        "partial",
        "data-free",
    ]
