import copy
import math

import pytest
from eve.io.mongo import Validator as MongoValidator

from core.registry import models_changed
from service.validation import Validator, feature_errors, is_finite_number, ordered_features

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


IRIS_ROW = [5.1, 3.5, 1.4, 0.2]
IRIS_NAMED = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
PLAIN_INPUTS = [
    {"model": "iris", "features": IRIS_ROW},
    {"model": "iris", "features": IRIS_NAMED},
    {"model": "iris", "features": [5, 3, 1, 0], "version": 1},
    {"model": "iris", "features": IRIS_ROW, "ref": "r" * 128},
    {"model": "iris", "features": IRIS_ROW, "ref": "", "version": 1},
    {"model": "diabetes", "features": [0.01] * 10},
]
OTHER_INPUTS = [  # each differs from a plain one in one way
    {"model": "iris", "features": IRIS_ROW, "version": True},
    {"model": "iris", "features": IRIS_ROW, "version": 0},
    {"model": "iris", "features": IRIS_ROW, "version": 2},
    {"model": "iris", "features": IRIS_ROW, "version": 2**31},
    {"model": "iris", "features": IRIS_ROW, "version": 1.0},
    {"model": "iris", "features": IRIS_ROW, "version": "1"},
    {"model": "iris", "features": IRIS_ROW, "version": None},
    {"model": "iris", "features": IRIS_ROW, "ref": "r" * 129},
    {"model": "iris", "features": IRIS_ROW, "ref": 7},
    {"model": "iris", "features": IRIS_ROW, "ref": None},
    {"model": "iris", "features": IRIS_ROW, "alias": "production"},
    {"model": "iris", "features": IRIS_ROW, "alias": "production\n"},
    {"model": "iris", "features": IRIS_ROW, "callback_url": "http://example.com/"},
    {"model": "iris", "features": IRIS_ROW, "status": "done"},
    {"model": "iris", "features": IRIS_ROW, "_id": "5f0c0c0c0c0c0c0c0c0c0c0c"},
    {"model": "iris", "features": IRIS_ROW, "extra": 1},
    {"model": "iris", "features": IRIS_ROW[:3]},
    {"model": "iris", "features": [5.1, 3.5, 1.4, float("nan")]},
    {"model": "iris", "features": [5.1, 3.5, 1.4, True]},
    {"model": "iris", "features": [5.1, 3.5, 1.4, "0.2"]},
    {"model": "iris", "features": {**IRIS_NAMED, "petal_colour": 1}},
    {"model": "iris", "features": "5.1,3.5,1.4,0.2"},
    {"model": "iris", "features": None},
    {"model": "iris", "features": (5.1, 3.5, 1.4, 0.2)},
    {"model": "nosuch", "features": IRIS_ROW},
    {"model": 7, "features": IRIS_ROW},
    {"model": None, "features": IRIS_ROW},
    {"model": "iris"},
    {"features": IRIS_ROW},
    {},
]


def _validated(app, document, cerberus_only=False):
    """(accepted, the document Eve would store or the issues) from the inputs validator,
    or from Cerberus' own validate on the same validator class."""
    validator = app.validator(app.config["DOMAIN"]["inputs"]["schema"], resource="inputs",
                              allow_unknown=False)
    validate = super(Validator, validator).validate if cerberus_only else validator.validate
    accepted = validate(copy.deepcopy(document))
    return accepted, validator.document if accepted else validator.errors


def test_plain_inputs_are_accepted_without_cerberus_as_cerberus_accepts_them(app, monkeypatch):
    """The bulk path's shortcut (Validator.validate): a plain input is accepted with the
    document Cerberus would leave, without Cerberus; every other document gets Cerberus'
    own answer."""
    with app.test_request_context():
        expected = {i: _validated(app, d, cerberus_only=True)
                    for i, d in enumerate(PLAIN_INPUTS + OTHER_INPUTS)}
        assert all(expected[i][0] for i in range(len(PLAIN_INPUTS)))
        others_accepted = [document for i, document in enumerate(OTHER_INPUTS)
                           if expected[len(PLAIN_INPUTS) + i][0]]
        # an `_id` (on_insert_inputs replaces it) and a tuple, which JSON cannot send
        assert others_accepted == [OTHER_INPUTS[14], OTHER_INPUTS[23]]
        cerberus_calls = []
        original = MongoValidator.validate

        def counted(self, *args, **kwargs):
            cerberus_calls.append(1)
            return original(self, *args, **kwargs)
        monkeypatch.setattr(MongoValidator, "validate", counted)
        for i, document in enumerate(PLAIN_INPUTS + OTHER_INPUTS):
            assert _validated(app, document) == expected[i], document
        assert len(cerberus_calls) == len(OTHER_INPUTS)


def test_a_retired_version_named_by_number_is_left_to_cerberus(app, db, redis):
    db.models.update_one({"name": "iris", "version": 1}, {"$set": {"retired": True}})
    models_changed(redis)
    with app.test_request_context():
        document = {"model": "iris", "features": IRIS_ROW, "version": 1}
        answer = _validated(app, document)
        assert answer == _validated(app, document, cerberus_only=True)
        assert answer == (False, {"model": "model 'iris' version 1 is retired"})


def test_null_features_get_a_field_issue_not_an_exception(as_user):
    """`features: null` reached the model rule, whose TypeError Eve reported as
    `{"exception": "object of type 'NoneType' has no len()"}`."""
    response = as_user("alice").post("/api/v1/inputs", json={"model": "iris", "features": None})
    assert response.status_code == 422
    assert response.json["_issues"] == {"features": "null value not allowed"}


@pytest.mark.parametrize("field,value", [("cache_seconds", 1.5), ("cache_seconds", "60"),
                                         ("shadow", 1.0), ("drift_threshold", "0.3"),
                                         ("retired", "true")])
def test_a_patch_takes_numbers_and_booleans_as_sent_not_coerced(as_user, db, field, value):
    """Eve's data layer turned 1.5 into 1 and "60" into 60 before validating them."""
    model = db.models.find_one({"name": "iris"})
    answer = as_user("admin").patch(f"/api/v1/models/{model['_id']}", json={field: value})
    assert answer.status_code == 422, answer.json
    assert field in answer.json["_issues"]


@pytest.mark.parametrize("version", [1.9, "1"])
def test_an_input_version_that_is_not_a_whole_number_is_refused(as_user, db, version):
    answer = as_user("alice").post("/api/v1/inputs", json={
        "model": "iris", "version": version, "features": [5.1, 3.5, 1.4, 0.2]})
    assert answer.status_code == 422 and "version" in answer.json["_issues"]
    assert db.inputs.count_documents({}) == 0
