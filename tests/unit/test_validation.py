import math

import pytest

from service.validation import feature_errors, is_finite_number, ordered_features

IRIS = {"features": ["sepal_length", "sepal_width", "petal_length", "petal_width"]}


@pytest.mark.parametrize("value", [0, 1, -2.5, 1e300, 10**20, 2**1000, -2.0**1000])
def test_numbers_within_the_bound_pass(value):
    assert is_finite_number(value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, True, False, "1", None,
                                   [1], {"a": 1}, 10**400, 2**1000 + 1, 1e308])
def test_non_numbers_non_finite_and_past_the_bound_fail(value):
    assert not is_finite_number(value)


def test_list_of_right_length_is_valid():
    assert feature_errors(IRIS, [5.1, 3.5, 1.4, 0.2]) == []


def test_list_of_wrong_length_names_the_count():
    assert feature_errors(IRIS, [1, 2, 3]) == [
        "expected 4 features (sepal_length, sepal_width, petal_length, petal_width), got 3"]


def test_object_with_missing_and_unknown_names():
    errors = feature_errors(IRIS, {"sepal_length": 1, "sepal_width": 2, "petal_length": 3,
                                   "petal_width_cm": 4})
    assert errors == ["missing features: petal_width", "unknown features: petal_width_cm"]


def test_nan_is_named_by_feature():
    assert feature_errors(IRIS, [1, math.nan, 3, 4]) == ["not a finite number: sepal_width"]


def test_object_is_ordered_as_the_model():
    features = {"petal_width": 4, "sepal_length": 1, "petal_length": 3, "sepal_width": 2}
    assert ordered_features(IRIS, features) == [1.0, 2.0, 3.0, 4.0]


def _schema_hashes_while_posting(as_user, monkeypatch, rows):
    """How many times Cerberus hashes a schema (its check of the schema) in one POST."""
    import cerberus.schema
    calls = []
    original = cerberus.schema.mapping_hash
    monkeypatch.setattr(cerberus.schema, "mapping_hash",
                        lambda *args: calls.append(1) or original(*args))
    body = [{"model": "iris", "features": [5.1, 3.5, 1.4, 0.2], "ref": f"r{i}"}
            for i in range(rows)]
    assert as_user("alice").post("/api/v1/inputs", json=body).status_code == 201
    return len(calls)


def test_the_schema_is_checked_once_not_once_per_posted_document(as_user, monkeypatch):
    """Cerberus re-checked the whole schema for each document (two hashes of the
    schema and its type table per field): most of a bulk POST's time."""
    _schema_hashes_while_posting(as_user, monkeypatch, 1)  # the first use checks it
    assert _schema_hashes_while_posting(as_user, monkeypatch, 200) == \
        _schema_hashes_while_posting(as_user, monkeypatch, 2)


def test_bad_documents_still_get_cerberus_own_issues(as_user):
    body = [{"model": "iris", "features": [5.1, 3.5, 1.4, 0.2]},
            {"model": "iris", "features": [1, 2], "ref": 7, "status": "done", "extra": 1}]
    response = as_user("alice").post("/api/v1/inputs", json=body)
    assert response.status_code == 422
    issues = response.json["_items"][1]["_issues"]
    assert issues == {"features": "expected 4 features (sepal_length, sepal_width, "
                                  "petal_length, petal_width), got 2",
                      "ref": "must be of string type", "status": "field is read-only",
                      "extra": "unknown field"}


def test_rules_are_expanded_once_not_once_per_posted_document(as_user, monkeypatch):
    """Cerberus expanded each field's rules again for every document it normalised."""
    from cerberus.schema import DefinitionSchema
    calls = []
    original = DefinitionSchema._expand_subschemas.__func__
    monkeypatch.setattr(DefinitionSchema, "_expand_subschemas", classmethod(
        lambda cls, schema: calls.append(1) or original(cls, schema)))

    def expansions(rows):
        calls.clear()
        body = [{"model": "iris", "features": [5.1, 3.5, 1.4, 0.2]}] * rows
        assert as_user("alice").post("/api/v1/inputs", json=body).status_code == 201
        return len(calls)
    expansions(1)  # the first use expands them
    assert expansions(200) == expansions(2)
