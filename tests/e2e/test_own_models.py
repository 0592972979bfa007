"""Bring your own model, end to end on the real stack: upload (HTTP and CLI), typed
features, versions and aliases, retirement, refusals that store nothing, artifact bytes
verified by the workers."""
import io
import json
import pickle
import subprocess
import sys

import numpy as np
import pymongo
import pytest
import skops.io
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, Ridge, RidgeClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from service.models.catalog import ARTIFACTS_DIR
from tests.examples import load_example

from .conftest import Api

EXAMPLE = load_example("parcels")  # the README's worked example
parcels, notebook_pipeline = EXAMPLE.parcels, EXAMPLE.train


def skops_file(tmp_path, estimator, name="model.skops"):
    path = tmp_path / name
    skops.io.dump(estimator, path)
    return path


def upload(admin, name, path, **fields):
    with open(path, "rb") as f:
        return admin.post("/models", data={"name": name, **fields},
                          files={"artifact": (path.name, f)})


def submit(api, items):
    response = api.post("/inputs", json=items)
    assert response.status_code == 201, response.text
    body = response.json()
    return body.get("_items", [body])


def finished(api, prediction_ids):
    api.wait_until_settled()
    found = api.all_predictions()
    return [found[pid] for pid in prediction_ids]


def rows_of(frame):
    return [{k: (bool(v) if isinstance(v, (bool, np.bool_)) else v.item() if hasattr(v, "item")
                 else v) for k, v in row.items()} for row in frame.to_dict("records")]


@pytest.fixture
def db(stack):
    client = pymongo.MongoClient(stack.mongo_uri)
    yield client.get_default_database()
    client.close()


def stored(db):
    return db.models.count_documents({}), db["artifacts.files"].count_documents({})


def test_a_notebook_pipeline_serves_the_same_probabilities(stack, admin, new_client, tmp_path):
    """Uploaded over HTTP after the workers started (so none has seen it), 200 random
    rows in bulk with named, typed features: each result is the pipeline's own
    predict_proba to the float."""
    pipeline = notebook_pipeline()
    created = upload(admin, "parcels_http", skops_file(tmp_path, pipeline))
    assert created.status_code == 201, created.text
    model = created.json()
    assert (model["version"], model["task"]) == (1, "classification")
    assert model["features"] == ["color", "size", "weight", "fragile"]
    assert model["feature_types"] == ["string", "number", "number", "boolean"]
    assert model["classes"] == ["keep", "return"]
    assert model["artifact"]["format"] == "skops" and len(model["artifact"]["sha256"]) == 64

    frame = parcels(200, seed=7)
    client = new_client()
    items = submit(client, [{"model": "parcels_http", "features": row} for row in rows_of(frame)])
    results = finished(client, [item["prediction"] for item in items])
    expected = pipeline.predict_proba(frame)
    for result, probabilities in zip(results, expected):
        assert result["status"] == "done", result
        assert [result["result"]["probabilities"][c] for c in ("keep", "return")] == \
            probabilities.tolist()
        assert result["result"]["label"] == pipeline.classes_[probabilities.argmax()]


def test_the_cli_registers_with_an_alias_and_inputs_follow_it(stack, admin, new_client, tmp_path):
    """register-model twice; --alias production on the second moves the default: rows
    submitted before keep the version they resolved to, rows after get the new one."""
    env = {"PATH": "/usr/bin:/bin", "PREDICTION_API_URL": stack.url,
           "PREDICTION_API_TOKEN": stack.create_token("admin", "cli-models")}

    def register(path, *args):
        run = subprocess.run([sys.executable, "-m", "service", "register-model", str(path),
                              "--name", "parcels_cli", *args], capture_output=True, text=True,
                             env=env, timeout=120)
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)

    first, second = notebook_pipeline(0), notebook_pipeline(1)
    assert register(skops_file(tmp_path, first, "v1.skops"))["version"] == 1
    client = new_client()
    frame = parcels(50, seed=3)
    before = submit(client, [{"model": "parcels_cli", "features": r} for r in rows_of(frame)])
    moved = register(skops_file(tmp_path, second, "v2.skops"), "--alias", "production")
    assert moved["version"] == 2 and moved["aliases"] == ["production"]
    after = submit(client, [{"model": "parcels_cli", "features": r} for r in rows_of(frame)])
    pinned = submit(client, [{"model": "parcels_cli", "version": 1, "features": r}
                             for r in rows_of(frame)])

    for items, version, estimator in ((before, 1, first), (after, 2, second), (pinned, 1, first)):
        results = finished(client, [item["prediction"] for item in items])
        assert {r["version"] for r in results} == {version}
        got = [[r["result"]["probabilities"][c] for c in ("keep", "return")] for r in results]
        assert got == estimator.predict_proba(frame).tolist()

    # the alias is one version's at a time: a PATCH gives it back to version 1
    v1 = admin.get("/models", params={"where": json.dumps({"name": "parcels_cli",
                                                           "version": 1})}).json()["_items"][0]
    patched = admin.patch(f"/models/{v1['_id']}", json={"aliases": ["production"]},
                          headers={"If-Match": v1["_etag"]})
    assert patched.status_code == 200, patched.text
    aliases = {m["version"]: m["aliases"] for m in admin.get("/models", params={
        "where": json.dumps({"name": "parcels_cli"})}).json()["_items"]}
    assert aliases == {1: ["production"], 2: []}
    [item] = submit(client, [{"model": "parcels_cli", "features": rows_of(frame)[0]}])
    assert client.get(f"/inputs/{item['_id']}").json()["version"] == 1


def test_a_regression_fitted_on_an_array_needs_its_feature_names(admin, new_client, db, tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 3))
    regression = LinearRegression().fit(X, X @ [1.5, -2.0, 0.25] + 3)
    path = tmp_path / "linear.joblib"
    path.write_bytes(pickle.dumps(regression))
    before = stored(db)
    refused = upload(admin, "linear_array", path)
    assert refused.status_code == 422 and "features" in refused.json()["_issues"]["artifact"]
    assert stored(db) == before

    created = upload(admin, "linear_array", path, features=json.dumps(["a", "b", "c"]))
    assert created.status_code == 201, created.text
    assert created.json()["task"] == "regression"
    assert created.json()["feature_types"] == ["number"] * 3
    client = new_client()
    rows = rng.normal(size=(20, 3))
    items = submit(client, [{"model": "linear_array", "features": {"a": a, "b": b, "c": c}}
                            for a, b, c in rows.tolist()])
    results = finished(client, [item["prediction"] for item in items])
    assert [r["result"]["value"] for r in results] == regression.predict(rows).tolist()


def test_a_regression_pipeline_on_typed_features_serves_its_values(admin, new_client, tmp_path):
    frame = parcels(200, seed=5)
    prepare = ColumnTransformer([("color", OneHotEncoder(), ["color"]),
                                 ("fragile", OrdinalEncoder(), ["fragile"]),
                                 ("size", StandardScaler(), ["size"])])
    pipeline = Pipeline([("prepare", prepare), ("regress", Ridge())]).fit(
        frame[["color", "size", "fragile"]], frame["weight"])
    created = upload(admin, "parcel_weight", skops_file(tmp_path, pipeline))
    assert created.status_code == 201, created.text
    assert created.json()["task"] == "regression"
    assert created.json()["feature_types"] == ["string", "number", "boolean"]
    rows = parcels(30, seed=6)[["color", "size", "fragile"]]
    client = new_client()
    items = submit(client, [{"model": "parcel_weight",
                             "features": [r["color"], r["size"], r["fragile"]]}
                            for r in rows_of(rows)])
    results = finished(client, [item["prediction"] for item in items])
    assert [r["result"]["value"] for r in results] == pipeline.predict(rows).tolist()


class NotTrusted(BaseEstimator, ClassifierMixin):
    """An estimator class that skops does not know: its file must be refused unloaded."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.repeat(self.classes_[0], len(X))


@pytest.mark.parametrize("case", ["not a model file", "truncated", "a pickled dict",
                                  "an untrusted skops type", "no predict_proba"])
def test_a_file_that_cannot_be_served_is_422_and_stores_nothing(admin, db, tmp_path, case):
    shipped = (ARTIFACTS_DIR / "iris" / "1" / "model.joblib").read_bytes()
    if case == "not a model file":
        path, reason = tmp_path / "notes.txt", "does not load"
        path.write_bytes(b"just some notes\n")
    elif case == "truncated":
        path, reason = tmp_path / "model.joblib", "does not load"
        path.write_bytes(shipped[: len(shipped) // 2])
    elif case == "a pickled dict":
        path, reason = tmp_path / "model.pkl", "no predict()"
        path.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    elif case == "an untrusted skops type":
        path, reason = tmp_path / "model.skops", "does not trust"
        skops.io.dump(NotTrusted().fit([[0], [1]], ["a", "b"]), path)
    else:
        path, reason = tmp_path / "model.skops", "predict_proba"
        skops.io.dump(RidgeClassifier().fit([[0], [1]], ["a", "b"]), path)
    before = stored(db)
    response = upload(admin, "refused_model", path, features=json.dumps(["x"]))
    assert response.status_code == 422, response.text
    assert reason in response.json()["_issues"]["artifact"]
    assert stored(db) == before
    assert db.models.count_documents({"name": "refused_model"}) == 0


def test_a_retired_version_refuses_new_inputs_and_finishes_queued_ones(admin, new_client, tmp_path):
    pipeline = notebook_pipeline()
    model = upload(admin, "parcels_retired", skops_file(tmp_path, pipeline)).json()
    client = new_client()
    frame = parcels(500, seed=11)
    queued = submit(client, [{"model": "parcels_retired", "version": 1, "features": r}
                             for r in rows_of(frame)])
    retired = admin.patch(f"/models/{model['_id']}", json={"retired": True},
                          headers={"If-Match": model["_etag"]})
    assert retired.status_code == 200, retired.text
    refused = client.post("/inputs", json={"model": "parcels_retired", "version": 1,
                                           "features": rows_of(frame)[0]})
    assert refused.status_code == 422 and "retired" in refused.json()["_issues"]["model"]
    unnamed = client.post("/inputs", json={"model": "parcels_retired",
                                           "features": rows_of(frame)[0]})
    assert unnamed.status_code == 422  # no version left to serve it
    results = finished(client, [item["prediction"] for item in queued])
    assert {r["status"] for r in results} == {"done"}


def test_altered_artifact_bytes_fail_that_version_alone(admin, new_client, db, tmp_path):
    """The bytes in the database no longer match the sha256: its rows fail saying so,
    once (no retries), and another model's rows are unaffected."""
    model = upload(admin, "parcels_altered", skops_file(tmp_path, notebook_pipeline())).json()
    chunk = db["artifacts.chunks"].find_one({"files_id": model["artifact"]["sha256"], "n": 0})
    altered = bytearray(chunk["data"])
    altered[-1] ^= 0xFF
    db["artifacts.chunks"].update_one({"_id": chunk["_id"]}, {"$set": {"data": bytes(altered)}})

    client = new_client()
    broken = submit(client, [{"model": "parcels_altered", "features": r}
                             for r in rows_of(parcels(5, seed=2))])
    fine = submit(client, [{"model": "iris", "features": [5.1, 3.5, 1.4, 0.2]}])
    results = finished(client, [item["prediction"] for item in broken + fine])
    for result in results[:5]:
        assert result["status"] == "failed" and result["attempts"] == 1
        assert "sha256" in result["error"]["message"]
    assert results[5]["status"] == "done"


def test_a_client_token_cannot_write_models(stack, new_client, tmp_path):
    client = new_client()
    anonymous = Api(stack.url)
    path = skops_file(tmp_path, notebook_pipeline())
    model = client.get("/models").json()["_items"][0]
    for api in (client, anonymous):
        assert upload(api, "not_allowed", path).status_code in (401, 403)
        assert api.patch(f"/models/{model['_id']}", json={"aliases": ["production"]},
                         headers={"If-Match": model["_etag"]}).status_code in (401, 403)
        assert api.delete(f"/models/{model['_id']}",
                          headers={"If-Match": model["_etag"]}).status_code in (401, 403)


def test_an_upload_without_name_or_file_is_422(admin, db):
    before = stored(db)
    response = admin.post("/models", data={"name": "Bad Name!"},
                          files={"other": ("x.bin", io.BytesIO(b"x"))})
    assert response.status_code == 422
    assert set(response.json()["_issues"]) == {"name", "artifact", "other"}
    assert stored(db) == before
