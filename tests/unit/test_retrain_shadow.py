"""Act on what the loop shows: retrain a version from its labels (and its training file),
run the challenger as the champion's shadow on the same rows, compare the two, promote.
Eve on mongomock, the jobs run by in-process workers (the training one included)."""
import io
import json

import joblib
import numpy as np
import pytest
from bson import ObjectId
from scipy.stats import binomtest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from core.queue import prediction_queue, worker_queues
from jobs import callbacks, predict, training, worker
from jobs import models as worker_models

IRIS, DIABETES = load_iris(), load_diabetes()
NAMES = ["sl", "sw", "pl", "pw"]
PERMUTED = {"setosa": "versicolor", "versicolor": "virginica", "virginica": "setosa"}


@pytest.fixture
def run(redis, db, monkeypatch):
    """run("predictions") or run("training"): the queued jobs, by an in-process worker."""
    for module in (predict, worker, training):
        monkeypatch.setattr(module, "mongo_db", lambda: db)
    worker_models.settings_cache.clear()
    worker_models.cache.loaded.clear()

    def work(kind="predictions"):
        queue = prediction_queue(redis) if kind == "predictions" else \
            worker_queues(redis).training()
        worker.PredictionWorker([queue], connection=redis).work(burst=True)
    return work


def upload(as_user, name, estimator, features=None, training_csv=None):
    data = io.BytesIO()
    joblib.dump(estimator, data)
    form = {"name": name, "artifact": (io.BytesIO(data.getvalue()), "model.joblib")}
    if features:
        form["features"] = json.dumps(features)
    if training_csv is not None:
        form["training"] = (io.BytesIO(training_csv.encode()), "training.csv")
    answer = as_user("admin").post("/api/v1/models", data=form, content_type="multipart/form-data")
    assert answer.status_code == 201, answer.json
    return answer.json


def wrong_iris():
    """A pipeline that learnt iris with its classes permuted: right on 1 of the 150 real
    labels (a row it misfits lands on the true class), wrong on every other."""
    labels = np.array([PERMUTED[name] for name in IRIS.target_names[IRIS.target]])
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(IRIS.data, labels)


def serve(as_user, run, name, rows, version=None):
    body = [{"model": name, "features": list(map(float, row)),
             **({"version": version} if version else {})} for row in rows]
    posted = as_user("alice").post("/api/v1/inputs", json=body)
    assert posted.status_code == 201, posted.json
    run()
    items = posted.json.get("_items", [posted.json])
    return [as_user("alice").get(f"/api/v1/predictions/{item['prediction']}").json
            for item in items]


def label(as_user, predictions, actuals, who="alice"):
    answer = as_user(who).post("/api/v1/feedback", json=[
        {"prediction": p["_id"], "actual": a} for p, a in zip(predictions, actuals)])
    assert answer.status_code == 201, answer.json


def retrain(as_user, model, **body):
    return as_user("admin").post(f"/api/v1/models/{model['_id']}/retrain", json=body)


def test_a_retrained_challenger_beats_a_wrong_champion_on_the_same_holdout(as_user, db, run):
    champion = upload(as_user, "perm-iris", wrong_iris(), NAMES)
    served = serve(as_user, run, "perm-iris", IRIS.data)
    label(as_user, served, IRIS.target_names[IRIS.target].tolist())
    queued = retrain(as_user, champion, holdout=0.2)
    assert queued.status_code == 202, queued.json
    assert queued.json["status"] == "queued" and queued.json["model"] == champion["_id"]
    run("training")
    done = as_user("admin").get(f"/api/v1/trainings/{queued.json['_id']}").json
    assert done["status"] == "done", done.get("error")
    assert done["holdout_rows"] == 30 and done["rows"] == 120 and done["labelled_rows"] == 150
    metrics = done["metrics"]
    # the holdout draws its 30 rows at random: the one row the champion gets right may be
    # among them
    assert metrics["challenger"]["accuracy"] > 0.85
    assert metrics["champion"]["accuracy"] in (0.0, 1 / 30)
    assert metrics["challenger"]["labelled"] == metrics["champion"]["labelled"] == 30
    new = db.models.find_one({"name": "perm-iris", "version": done["version"]})
    assert done["version"] == 2 and new["aliases"] == []
    assert new["trained_from"] == {"training": ObjectId(done["_id"]), "version": 1, "rows": 120}
    assert new["metrics"]["accuracy"] == metrics["challenger"]["accuracy"]
    # the champion, which served inputs naming no version as the latest, keeps them: it
    # has the production alias now, until the challenger is promoted
    assert db.models.find_one({"name": "perm-iris", "version": 1})["aliases"] == ["production"]
    assert serve(as_user, run, "perm-iris", IRIS.data[:1])[0]["version"] == 1
    # the new version serves, and a second run of the same training registers nothing
    assert serve(as_user, run, "perm-iris", IRIS.data[:1], version=2)[0]["status"] == "done"
    db.trainings.update_one({"_id": ObjectId(done["_id"])}, {"$set": {"status": "running"}})
    training.train_version(done["_id"])
    assert db.models.count_documents({"name": "perm-iris"}) == 2


def test_a_regressor_is_retrained_from_its_training_file_and_its_labels(as_user, db, run):
    X, y = DIABETES.data, DIABETES.target
    names = [f"f{i}" for i in range(X.shape[1])]
    file_rows = "\n".join(",".join(map(str, [*row, target])) for row, target in zip(X[:200], y[:200]))
    champion = upload(as_user, "sugar", LinearRegression().fit(X[:50], y[:50] * 0 + 100), names,
                      training_csv=",".join(names + ["target"]) + "\n" + file_rows + "\n")
    assert champion["training"]["rows"] == 200
    served = serve(as_user, run, "sugar", X[200:300])
    label(as_user, served, y[200:300].tolist())
    queued = retrain(as_user, champion, holdout=0.25, window="24h")
    run("training")
    done = as_user("admin").get(f"/api/v1/trainings/{queued.json['_id']}").json
    assert done["status"] == "done", done.get("error")
    assert (done["file_rows"], done["labelled_rows"], done["holdout_rows"]) == (200, 100, 25)
    assert done["rows"] == 200 + 75
    assert done["metrics"]["challenger"]["mae"] < done["metrics"]["champion"]["mae"]
    new = db.models.find_one({"name": "sugar", "version": done["version"]})
    assert new["training"]["rows"] == 275  # what it learnt from, kept for the next time


def test_a_shadow_answers_beside_the_champion_and_compare_equals_a_recount(as_user, db, run,
                                                                           redis):
    champion = upload(as_user, "pair-iris", wrong_iris(), NAMES)
    good = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(
        IRIS.data[::2], IRIS.target_names[IRIS.target[::2]])
    challenger = upload(as_user, "pair-iris", good, NAMES)
    patched = as_user("admin").patch(f"/api/v1/models/{champion['_id']}", json={"shadow": 2})
    assert patched.status_code == 200, patched.json
    rows = IRIS.data[1::2]
    served = serve(as_user, run, "pair-iris", rows, version=1)
    expected = wrong_iris().predict_proba(rows)
    shadowed = good.predict_proba(rows)
    for document, champion_row, shadow_row in zip(served, expected, shadowed):
        assert document["result"]["probabilities"] == dict(zip(
            ["setosa", "versicolor", "virginica"], map(float, champion_row)))
        assert document["shadow"]["version"] == 2
        assert document["shadow"]["result"]["probabilities"] == dict(zip(
            ["setosa", "versicolor", "virginica"], map(float, shadow_row)))
        body = json.loads(callbacks.as_json(db.predictions.find_one(
            {"_id": ObjectId(document["_id"])})))
        assert "shadow" not in body and body["result"] == document["result"]
    actuals = IRIS.target_names[IRIS.target[1::2]].tolist()
    label(as_user, served, actuals)
    label(as_user, served[:5], ["setosa"] * 5)  # a label changed: the counts move with it
    actuals[:5] = ["setosa"] * 5
    # each version's quality counts the labels of the rows it answered
    for model, answers in ((champion, [d["result"] for d in served]),
                           (challenger, [d["shadow"]["result"] for d in served])):
        figures = as_user("admin").get(f"/api/v1/models/{model['_id']}/quality").json
        right = sum(a["label"] == actual for a, actual in zip(answers, actuals))
        assert figures["labelled"] == len(actuals) and figures["predictions"] == len(actuals)
        assert figures["accuracy"] == pytest.approx(right / len(actuals))
    answer = as_user("admin").get(f"/api/v1/models/{champion['_id']}/compare",
                                  query_string={"with": challenger["_id"]}).json
    this = [d["result"]["label"] == a for d, a in zip(served, actuals)]
    other = [d["shadow"]["result"]["label"] == a for d, a in zip(served, actuals)]
    recount = {"both_right": sum(t and o for t, o in zip(this, other)),
               "only_this_right": sum(t and not o for t, o in zip(this, other)),
               "only_other_right": sum(o and not t for t, o in zip(this, other)),
               "both_wrong": sum(not t and not o for t, o in zip(this, other))}
    assert {k: answer[k] for k in recount} == recount and answer["rows"] == len(actuals)
    assert answer["p_value"] == pytest.approx(binomtest(
        recount["only_this_right"], recount["only_this_right"] + recount["only_other_right"],
        0.5).pvalue)
    assert answer["accuracy"]["this"] == pytest.approx(sum(this) / len(this))
    mirrored = as_user("admin").get(f"/api/v1/models/{challenger['_id']}/compare",
                                    query_string={"with": champion["_id"]}).json
    assert (mirrored["only_this_right"], mirrored["only_other_right"]) == \
        (recount["only_other_right"], recount["only_this_right"])
    # promote: the alias moves through the models' own PATCH
    promoted = as_user("admin").patch(f"/api/v1/models/{challenger['_id']}",
                                      json={"aliases": ["production"]})
    assert promoted.status_code == 200
    assert serve(as_user, run, "pair-iris", rows[:1])[0]["version"] == 2


def test_refusals_store_nothing(as_user, db, run):
    model = upload(as_user, "few-iris", wrong_iris(), NAMES)
    served = serve(as_user, run, "few-iris", IRIS.data[:60])  # setosa only
    label(as_user, served[:10], ["setosa"] * 10)
    assert retrain(as_user, model).status_code == 422  # 10 labelled rows
    label(as_user, served[10:40], ["setosa"] * 30)
    one_class = retrain(as_user, model)
    assert one_class.status_code == 422 and "one class" in json.dumps(one_class.json)
    assert retrain(as_user, model, holdout=0.9).status_code == 422
    assert retrain(as_user, model, window="1y").status_code == 422
    assert retrain(as_user, model, epochs=3).status_code == 422
    assert as_user("alice").post(f"/api/v1/models/{model['_id']}/retrain",
                                 json={}).status_code == 403
    for shadow in (1, 7, "2"):  # itself, no such version, not a number
        assert as_user("admin").patch(f"/api/v1/models/{model['_id']}",
                                      json={"shadow": shadow}).status_code == 422
    assert db.trainings.count_documents({}) == 0
    assert db.models.count_documents({"name": "few-iris"}) == 1


class ServesOnly(LogisticRegression):
    """A classifier fitted once by hand, whose clone cannot be fitted again."""

    def fit(self, X, y, sample_weight=None):
        if not getattr(self, "by_hand", False):
            raise ValueError("this estimator only serves, it does not learn again")
        return super().fit(X, y, sample_weight)


def test_an_estimator_whose_clone_does_not_fit_ends_the_training_failed(as_user, db, run):
    estimator = ServesOnly(max_iter=300)
    estimator.by_hand = True
    estimator.fit(IRIS.data, IRIS.target_names[IRIS.target])
    model = upload(as_user, "stubborn", estimator, NAMES)
    served = serve(as_user, run, "stubborn", IRIS.data)
    label(as_user, served, IRIS.target_names[IRIS.target].tolist())
    queued = retrain(as_user, model)
    assert queued.status_code == 202
    run("training")
    failed = as_user("admin").get(f"/api/v1/trainings/{queued.json['_id']}").json
    assert failed["status"] == "failed" and "did not fit" in failed["error"]["message"]
    assert db.models.count_documents({"name": "stubborn"}) == 1
