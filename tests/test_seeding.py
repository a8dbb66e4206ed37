"""Seeded randomness helpers."""

import math

from labelleak.seeding import random_class_sets


def test_random_class_sets_are_distinct_seeded_and_capped():
    assert random_class_sets(10, 2, 5, seed=0) == random_class_sets(10, 2, 5, seed=0)
    assert random_class_sets(10, 2, 5, seed=0) != random_class_sets(10, 2, 5, seed=1)
    everything = random_class_sets(5, 2, 100, seed=0)
    assert len(everything) == math.comb(5, 2) == len(set(everything))
    assert random_class_sets(10, 3, 0, seed=0) == []
