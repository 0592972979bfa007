"""Reference profiles and bins (core/profiles.py, core/quality.py): the bin of a value is
the first whose edge is >= it, or the last; numbers binned all at once give the same
counts as one by one; PSI as the contract writes it."""
import math
import random

import pytest

from core import profiles, quality


def test_a_value_falls_in_the_first_bin_whose_edge_is_at_least_it_or_the_last():
    slicer = {"bins": [1.0, 2.0, 2.0, 3.0]}
    assert [profiles.slot(slicer, v) for v in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 9.0)] == \
        [0, 0, 1, 1, 3, 3, 4]
    categories = {"categories": ["a", "b"]}
    assert [profiles.slot(categories, v) for v in ("a", "b", "c")] == [0, 1, 2]  # c: other


def test_numbers_binned_at_once_count_as_one_by_one():
    rng = random.Random(1)
    for _ in range(50):
        values = [round(rng.uniform(0, 10), 1) for _ in range(300)]  # ties at the edges
        slicer = profiles.numeric_slicer(values[:100])
        one_by_one = {}
        for value in values:
            key = f"f_{profiles.slot(slicer, value)}"
            one_by_one[key] = one_by_one.get(key, 0) + 1
        assert quality.bin_counts("f_", slicer, values) == one_by_one


def test_psi_floors_each_share():
    reference, live = [0.5, 0.5, 0.0], [0.25, 0.25, 0.5]
    expected = sum((max(n, 1e-4) - max(r, 1e-4)) * math.log(max(n, 1e-4) / max(r, 1e-4))
                   for r, n in zip(reference, live))
    assert profiles.psi(reference, live) == pytest.approx(expected, abs=1e-15)
    assert profiles.psi(reference, reference) == 0.0
