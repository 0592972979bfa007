"""What the registry reads from an uploaded estimator, and the workers' model cache."""
import io

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from core import artifacts
from core.describe import ModelRefused, describe
from jobs.models import ModelCache
from service.models import catalog

FRAME = pd.DataFrame({"city": ["a", "b", "c", "a"], "rooms": [1.0, 2.0, 3.0, 4.0],
                      "garden": [True, False, True, False], "floor": [0, 1, 2, 0]})
LABELS = ["cheap", "dear", "dear", "cheap"]


def fitted(transformers, model=None):
    return Pipeline([("prepare", ColumnTransformer(transformers)),
                     ("model", model or LogisticRegression())]).fit(FRAME, LABELS)


def test_encoded_columns_take_their_categories_kind():
    pipeline = fitted([("city", OneHotEncoder(), ["city"]),
                       ("garden", make_pipeline(OrdinalEncoder()), ["garden"]),
                       ("floor", OneHotEncoder(), ["floor"]),
                       ("rooms", StandardScaler(), ["rooms"])])
    assert describe(pipeline) == {
        "task": "classification", "features": ["city", "rooms", "garden", "floor"],
        "feature_types": ["string", "number", "boolean", "number"], "classes": ["cheap", "dear"]}


def test_columns_by_position_are_named_from_the_fitted_names():
    pipeline = fitted([("city", OneHotEncoder(), [0]), ("rest", "passthrough", [1, 3])])
    assert describe(pipeline)["feature_types"] == ["string", "number", "number", "number"]


def test_an_array_model_needs_names_and_the_right_count():
    regression = LinearRegression().fit(np.eye(3), [1.0, 2.0, 3.0])
    with pytest.raises(ModelRefused, match="feature_names_in_"):
        describe(regression)
    with pytest.raises(ModelRefused, match="takes 3 features"):
        describe(regression, ["a", "b"])
    assert describe(regression, ["a", "b", "c"]) == {
        "task": "regression", "features": ["a", "b", "c"], "feature_types": ["number"] * 3}


def test_names_that_contradict_the_fitted_ones_are_refused():
    with pytest.raises(ModelRefused, match="differ"):
        describe(fitted([("rooms", StandardScaler(), ["rooms"])]), ["x", "y", "z", "w"])


def test_a_file_saved_by_another_scikit_learn_is_refused_naming_both(monkeypatch):
    import pickle
    estimator = LinearRegression().fit(np.eye(2), [1.0, 2.0])
    state = estimator.__getstate__()
    state["_sklearn_version"] = "0.24.2"
    monkeypatch.setattr(LinearRegression, "__getstate__", lambda self: state)
    data = pickle.dumps(estimator)
    monkeypatch.undo()
    with pytest.raises(ModelRefused, match="0.24.2.*workers run"):
        catalog.load_upload(data, artifacts.JOBLIB)


class Store:
    """Just what ModelCache asks of the database."""

    def __init__(self, documents):
        self.models = self
        self.documents = documents

    def find_one(self, query):
        return self.documents[(query["name"], query["version"])]


def test_the_cache_keeps_the_recently_used_within_its_bounds(monkeypatch):
    documents = {("m", v): {"name": "m", "version": v, "artifact": {"sha256": str(v), "size": 10}}
                 for v in range(1, 5)}
    loads = []
    monkeypatch.setattr(artifacts, "read_verified", lambda db, artifact: artifact["sha256"])
    monkeypatch.setattr(artifacts, "load", lambda data, fmt: loads.append(data) or object())
    cache = ModelCache(max_models=3, max_bytes=25)  # 25 bytes: two models of 10
    db = Store(documents)
    for version in (1, 2, 1, 3, 1, 2):
        cache.get(db, "m", version)
    assert loads == ["1", "2", "3", "2"]  # 2 was evicted by 3 (1 was used more recently)
    assert list(cache.loaded) == [("m", 1), ("m", 2)]
    big = ModelCache(max_models=2, max_bytes=10**9)
    for version in (1, 2, 3):
        big.get(db, "m", version)
    assert list(big.loaded) == [("m", 2), ("m", 3)]


def test_a_batch_file_s_cells_are_read_as_the_features_types():
    from service.batches.files import FileRefused, chunks, validate
    model = {"features": ["color", "size", "fragile"],
             "feature_types": ["string", "number", "boolean"]}
    total, validated = validate(io.StringIO(
        "fragile,ref,size,color\ntrue,a,12.5,red\n0,b,3,blue\n"), model)
    assert total == 2
    assert list(chunks(validated)) == [[(["red", 12.5, True], "a"), (["blue", 3.0, False], "b")]]
    with pytest.raises(FileRefused) as refused:
        validate(io.StringIO("color,size,fragile\nred,12.5,maybe\n"), model)
    assert refused.value.issues == [{"row": 1, "field": "fragile",
                                     "message": "not true or false (or 1 or 0)"}]
