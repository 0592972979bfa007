import json
import pickle
import shutil

import numpy as np
import pytest

from cli.train import SPECS, train_all
from service.models import catalog


@pytest.fixture
def artifacts(tmp_path):
    copy = tmp_path / "artifacts"
    shutil.copytree(catalog.ARTIFACTS_DIR, copy)
    return copy


def test_manifest_lists_the_three_shipped_models():
    entries = {e["name"]: e for e in catalog.read_manifest()}
    assert entries["iris"]["features"] == ["sepal_length", "sepal_width", "petal_length",
                                           "petal_width"]
    assert entries["iris"]["classes"] == ["setosa", "versicolor", "virginica"]
    assert entries["breast_cancer"]["classes"] == ["malignant", "benign"]
    assert len(entries["breast_cancer"]["features"]) == 30
    assert "mean_radius" in entries["breast_cancer"]["features"]
    assert entries["diabetes"]["task"] == "regression"
    assert entries["diabetes"]["features"][:4] == ["age", "sex", "bmi", "bp"]


def outputs(estimator, X):
    if hasattr(estimator, "predict_proba"):
        return estimator.predict_proba(X)
    return estimator.predict(X)


def test_training_reproduces_the_committed_models(tmp_path):
    """Same seeds, same data: the retrained models score the same and give the same
    output for every row of their dataset (pickle bytes may differ by memo layout)."""
    retrained = {e["name"]: e for e in train_all(tmp_path)}
    for entry in catalog.read_manifest():
        again = retrained[entry["name"]]
        assert again["metrics"] == entry["metrics"]
        assert again["features"] == entry["features"]
        _, shipped_model = catalog.load_model(entry["name"], 1)
        _, new_model = catalog.load_model(entry["name"], 1, tmp_path)
        X = SPECS[entry["name"]][0]().data
        assert np.array_equal(outputs(new_model, X), outputs(shipped_model, X))


def test_tampered_artifact_is_refused_and_never_unpickled(artifacts, tmp_path):
    marker = tmp_path / "unpickled"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (artifacts / "iris" / "1" / "model.joblib").write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(catalog.ArtifactError, match="does not match its sha256"):
        catalog.load_model("iris", 1, artifacts)
    assert not marker.exists()


def test_artifact_outside_artifacts_dir_is_refused(artifacts, tmp_path):
    outside = tmp_path / "evil.joblib"
    outside.write_bytes(b"x")
    manifest = json.loads((artifacts / "manifest.json").read_text())
    manifest["models"][0]["artifact"] = {"path": "../evil.joblib",
                                         "sha256": catalog.sha256_of(b"x")}
    (artifacts / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(catalog.ArtifactError, match="leaves artifacts/"):
        catalog.load_model("iris", 1, artifacts)


def test_model_is_loaded_once_per_process():
    first = catalog.load_model("iris", 1)
    assert catalog.load_model("iris", 1)[1] is first[1]


def test_sync_registers_each_model_once(db):
    catalog.sync_manifest(db)
    catalog.sync_manifest(db)
    assert db.models.count_documents({}) == 3
    assert catalog.find_model(db, "iris")["version"] == 1
    assert catalog.find_model(db, "iris", 2) is None


def test_sync_survives_a_concurrent_upsert_of_the_same_model(db, monkeypatch):
    """Two API processes starting at once on an empty database (seen with gunicorn -w 2)."""
    from pymongo.errors import DuplicateKeyError

    register = catalog.register_shipped
    raced = []

    def loses_the_race_once(db_, entry, *args):
        if not raced:
            raced.append(entry["name"])
            register(db_, entry, *args)  # the other process got there first
            raise DuplicateKeyError("E11000 duplicate key error collection: models")
        return register(db_, entry, *args)

    monkeypatch.setattr(catalog, "register_shipped", loses_the_race_once)
    catalog.sync_manifest(db)
    assert raced and db.models.count_documents({}) == 3


def test_a_shipped_file_that_is_not_a_model_is_skipped_not_fatal(db, artifacts, caplog):
    """An API that cannot start over one bad artifact serves nothing: it logs that one."""
    manifest = json.loads((artifacts / "manifest.json").read_text())
    path = artifacts / "notes" / "1" / "model.joblib"
    path.parent.mkdir(parents=True)
    path.write_bytes(pickle.dumps({"not": "a model"}))
    manifest["models"].append({**manifest["models"][0], "name": "notes", "artifact": {
        "path": "notes/1/model.joblib", "sha256": catalog.sha256_of(path.read_bytes())}})
    (artifacts / "manifest.json").write_text(json.dumps(manifest))
    db.models.delete_many({})
    catalog.sync_manifest(db, artifacts)
    assert sorted(m["name"] for m in db.models.find()) == ["breast_cancer", "diabetes", "iris"]
    assert "notes v1 not registered: the file holds a dict" in caplog.text
