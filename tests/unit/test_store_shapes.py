"""core/store.py: the shapes only the development database needs change no answer."""
from core import store


def test_a_value_with_nested_arrays_is_stored_without_them_and_read_back_as_it_was():
    metrics = {"accuracy": 0.9, "confusion": {"labels": ["a", "b"], "matrix": [[3, 1], [0, 4]]},
               "per_class": {"a": {"support": 4}}, "deep": [[[1, 2]], [3]], "flat": [1, 2]}
    stored = store.without_nested_arrays(metrics)

    def arrays_in_arrays(value):
        if isinstance(value, dict):
            return any(arrays_in_arrays(v) for v in value.values())
        if isinstance(value, list):
            return any(isinstance(v, list) or arrays_in_arrays(v) for v in value)
        return False
    assert arrays_in_arrays(metrics) and not arrays_in_arrays(stored)
    assert stored["flat"] == [1, 2] and stored["accuracy"] == 0.9
    assert store.with_nested_arrays(stored) == metrics


def test_a_range_before_a_date_is_bounded_on_both_sides():
    from datetime import datetime
    stamp = datetime(2026, 12, 7)
    assert store.before("finished_at", stamp) == {"finished_at": {
        "$gte": store.EARLIEST, "$lt": stamp}}
