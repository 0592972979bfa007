"""Ground truth, live quality and the review queue on mongomock with real RQ workers in
process: each figure equals sklearn.metrics on the same rows; a changed label moves the
counts, the same label twice changes nothing; refused feedback stores nothing."""
import math
import random

import numpy as np
import pytest
from bson import ObjectId
from sklearn import metrics as sk
from sklearn.datasets import load_diabetes, load_iris

from core.queue import prediction_queue
from jobs import models as worker_models
from jobs import predict, worker
from tests.examples import load_example

IRIS = load_iris()
DIABETES = load_diabetes()


@pytest.fixture
def run_workers(redis, db, monkeypatch):
    monkeypatch.setattr(predict, "mongo_db", lambda: db)
    monkeypatch.setattr(worker, "mongo_db", lambda: db)
    worker_models.settings_cache.clear()
    worker_models.cache.loaded.clear()  # each test has its own database, its own model ids

    def run():
        worker.PredictionWorker([prediction_queue(redis)], connection=redis).work(burst=True)
    return run


def serve(as_user, run_workers, model, rows, who="alice"):
    """POST the rows, run the workers; returns the predictions' documents, in order."""
    posted = as_user(who).post("/api/v1/inputs", json=[{"model": model, "features": list(row)}
                                                        for row in rows])
    assert posted.status_code == 201, posted.json
    run_workers()
    items = posted.json["_items"] if "_items" in posted.json else [posted.json]
    return [as_user(who).get(f"/api/v1/predictions/{item['prediction']}").json for item in items]


def model_id(db, name):
    return str(db.models.find_one({"name": name, "version": 1})["_id"])


def quality(as_user, db, name, window="24h"):
    response = as_user("admin").get(f"/api/v1/models/{model_id(db, name)}/quality",
                                    query_string={"window": window})
    assert response.status_code == 200, response.json
    return response.json


def label(as_user, labels, who="alice"):
    return as_user(who).post("/api/v1/feedback", json=[
        {"prediction": prediction["_id"], "actual": actual} for prediction, actual in labels])


def assert_classification_equals_sklearn(answer, classes, predictions, actuals):
    probabilities = np.array([[p["result"]["probabilities"][c] for c in classes]
                              for p in predictions])
    predicted = [p["result"]["label"] for p in predictions]
    assert answer["labelled"] == len(actuals)
    assert answer["accuracy"] == pytest.approx(sk.accuracy_score(actuals, predicted), abs=1e-9)
    assert answer["log_loss"] == pytest.approx(
        sk.log_loss(actuals, probabilities, labels=classes), abs=1e-9)
    assert answer["brier"] == pytest.approx(
        sk.brier_score_loss(actuals, probabilities, labels=classes), abs=1e-9)
    precision, recall, f1, support = sk.precision_recall_fscore_support(
        actuals, predicted, labels=classes, zero_division=0)
    for i, name in enumerate(classes):
        figures = answer["per_class"][name]
        assert figures["precision"] == pytest.approx(precision[i], abs=1e-9)
        assert figures["recall"] == pytest.approx(recall[i], abs=1e-9)
        assert figures["f1"] == pytest.approx(f1[i], abs=1e-9)
        assert figures["support"] == support[i]
    assert answer["confusion"] == {"labels": classes, "matrix": sk.confusion_matrix(
        actuals, predicted, labels=classes).tolist()}


def test_classifier_quality_equals_sklearn_and_estimated_accuracy_is_the_mean_top(
        as_user, db, run_workers):
    rng = random.Random(3)
    rows = [IRIS.data[i] for i in rng.sample(range(150), 60)]
    predictions = serve(as_user, run_workers, "iris", rows)
    classes = ["setosa", "versicolor", "virginica"]
    actuals = [rng.choice(classes) for _ in predictions[:40]]  # 40 of 60 labelled
    assert label(as_user, list(zip(predictions, actuals))).status_code == 201
    answer = quality(as_user, db, "iris")
    assert answer["predictions"] == 60
    assert_classification_equals_sklearn(answer, classes, predictions[:40], actuals)
    tops = [max(p["result"]["probabilities"].values()) for p in predictions]
    assert answer["estimated_accuracy"] == pytest.approx(sum(tops) / 60, abs=1e-9)
    assert answer["held_out"] == db.models.find_one({"name": "iris"})["metrics"]
    assert all(p["actual"] == a for p, a in zip(
        [as_user("alice").get(f"/api/v1/predictions/{p['_id']}").json for p in predictions[:40]],
        actuals))


def test_regressor_quality_equals_sklearn(as_user, db, run_workers):
    rows, targets = DIABETES.data[:50], DIABETES.target[:50].tolist()
    predictions = serve(as_user, run_workers, "diabetes", rows)
    assert label(as_user, list(zip(predictions, targets))).status_code == 201
    answer = quality(as_user, db, "diabetes")
    values = [p["result"]["value"] for p in predictions]
    assert answer["mae"] == pytest.approx(sk.mean_absolute_error(targets, values), abs=1e-9)
    assert answer["rmse"] == pytest.approx(math.sqrt(sk.mean_squared_error(targets, values)),
                                           abs=1e-9)
    assert answer["r2"] == pytest.approx(sk.r2_score(targets, values), abs=1e-9)


def test_a_changed_label_moves_the_counts_and_the_same_label_twice_changes_nothing(
        as_user, db, run_workers):
    predictions = serve(as_user, run_workers, "iris", IRIS.data[:10])
    label(as_user, [(p, "setosa") for p in predictions])
    first = quality(as_user, db, "iris")
    assert first["accuracy"] == 1.0 and first["labelled"] == 10
    label(as_user, [(predictions[0], "setosa")])  # the same again
    assert quality(as_user, db, "iris") == first
    label(as_user, [(predictions[0], "virginica"), (predictions[1], "versicolor")])
    moved = quality(as_user, db, "iris")
    assert moved["labelled"] == 10 and moved["accuracy"] == pytest.approx(0.8)
    assert_classification_equals_sklearn(moved, ["setosa", "versicolor", "virginica"],
                                         predictions,
                                         ["virginica", "versicolor"] + ["setosa"] * 8)
    assert db.feedback.count_documents({}) == 13  # every submission is kept


@pytest.mark.parametrize("item,field", [
    ({"actual": "tulip"}, "actual"),                       # not one of the classes
    ({"actual": 3}, "actual"),                             # a number for a classifier
    ({"prediction": "0" * 24}, "prediction"),              # no such prediction
    ({"prediction": "bob"}, "prediction"),                 # another client's
    ({"note": "x" * 1001}, "note"),
    ({"extra": 1}, "extra"),
])
def test_refused_feedback_is_422_naming_the_field_and_nothing_is_stored(
        as_user, db, run_workers, item, field):
    mine = serve(as_user, run_workers, "iris", IRIS.data[:1])[0]
    bobs = serve(as_user, run_workers, "iris", IRIS.data[:1], who="bob")[0]
    body = {"prediction": mine["_id"], "actual": "setosa", **item}
    if body["prediction"] == "bob":
        body["prediction"] = bobs["_id"]
    good = {"prediction": mine["_id"], "actual": "setosa"}
    response = as_user("alice").post("/api/v1/feedback", json=[good, body])
    assert response.status_code == 422, response.json
    assert field in str(response.json)
    assert db.feedback.count_documents({}) == 0
    assert "actual" not in db.predictions.find_one({"_id": ObjectId(mine["_id"])})
    assert quality(as_user, db, "iris")["labelled"] == 0


def test_feedback_on_a_prediction_not_done_is_refused(as_user, db):
    posted = as_user("alice").post("/api/v1/inputs", json={"model": "iris",
                                                           "features": list(IRIS.data[0])})
    response = as_user("alice").post("/api/v1/feedback", json={
        "prediction": posted.json["prediction"], "actual": "setosa"})
    assert response.status_code == 422 and "not done" in str(response.json["_issues"])
    assert db.feedback.count_documents({}) == 0


def test_uncertain_answers_wait_for_review_and_feedback_empties_the_queue(
        as_user, db, run_workers):
    iris = db.models.find_one({"name": "iris"})
    patched = as_user("admin").patch(f"/api/v1/models/{iris['_id']}",
                                     json={"review_threshold": 0.9},
                                     headers={"If-Match": iris["_etag"]})
    assert patched.status_code == 200, patched.json
    predictions = serve(as_user, run_workers, "iris", IRIS.data[50:150])
    uncertain = [p for p in predictions
                 if max(p["result"]["probabilities"].values()) < 0.9]
    assert uncertain, "no uncertain rows in this sample"
    queue = as_user("admin").get("/api/v1/predictions", query_string={
        "where": '{"review": "pending"}', "max_results": 1000}).json["_items"]
    assert {p["_id"] for p in queue} == {p["_id"] for p in uncertain}
    assert label(as_user, [(p, "versicolor") for p in uncertain], who="admin").status_code == 201
    assert as_user("admin").get("/api/v1/predictions", query_string={
        "where": '{"review": "pending"}'}).json["_meta"]["total"] == 0
    reviewed = as_user("admin").get(f"/api/v1/predictions/{uncertain[0]['_id']}").json
    assert reviewed["review"] == "done" and reviewed["reviewed_by"] == "admin"
    assert quality(as_user, db, "iris")["labelled"] == len(uncertain)


def feedback_total(text):
    return float(next(line.split()[1] for line in text.splitlines()
                      if line.startswith("feedback_total ")))


def test_metrics_show_live_and_estimated_accuracy_psi_and_feedback(as_user, db, run_workers):
    predictions = serve(as_user, run_workers, "iris", IRIS.data)
    before = feedback_total(as_user("admin").get("/metrics").data.decode())
    label(as_user, [(p, IRIS.target_names[t]) for p, t in zip(predictions, IRIS.target)])
    text = as_user("admin").get("/metrics").data.decode()
    answer = quality(as_user, db, "iris")
    assert f'model_live_accuracy{{model="iris",version="1",window="24h"}} {answer["accuracy"]}' \
        in text
    assert 'model_estimated_accuracy{model="iris",version="1",window="1h"}' in text
    assert 'model_feature_psi{feature="petal_length",model="iris",version="1"}' in text
    assert feedback_total(text) == before + 150


def test_an_uploaded_dataframe_pipeline_has_quality_equal_to_sklearn_and_category_drift(
        as_user, db, run_workers):
    import io

    import skops.io
    example = load_example("parcels")
    buffer = io.BytesIO()
    skops.io.dump(example.train(), buffer)
    reference = example.parcels(300, seed=1)
    uploaded = as_user("admin").post("/api/v1/models", content_type="multipart/form-data", data={
        "name": "parcels", "artifact": (io.BytesIO(buffer.getvalue()), "parcels.skops"),
        "reference": (io.BytesIO(reference.to_csv(index=False).encode()), "reference.csv")})
    assert uploaded.status_code == 201, uploaded.json
    frame = example.parcels(80, seed=2)
    frame.loc[:40, "color"] = "purple"  # a category the reference never saw: `other`
    rows = [{k: (bool(v) if k == "fragile" else v) for k, v in record.items()}
            for record in frame.to_dict("records")]
    posted = as_user("alice").post("/api/v1/inputs", json=[
        {"model": "parcels", "features": row} for row in rows])
    assert posted.status_code == 201, posted.json
    run_workers()
    predictions = [as_user("alice").get(f"/api/v1/predictions/{item['prediction']}").json
                   for item in posted.json["_items"]]
    rng = random.Random(4)
    actuals = [rng.choice(["keep", "return"]) for _ in predictions]
    assert label(as_user, list(zip(predictions, actuals))).status_code == 201
    answer = quality(as_user, db, "parcels")
    assert_classification_equals_sklearn(answer, ["keep", "return"], predictions, actuals)
    drift = as_user("admin").get(
        f"/api/v1/models/{model_id(db, 'parcels')}/drift").json
    color = drift["features"]["color"]
    assert color["categories"] == ["blue", "green", "red", "other"]
    assert color["live"][-1] == pytest.approx(41 / 80) and color["drifted"]
    assert drift["features"]["fragile"]["categories"] == [False, True, "other"]
    assert "color" in drift["drifted"]


def test_a_clients_feedback_is_its_own(as_user, db, run_workers):
    mine = serve(as_user, run_workers, "iris", IRIS.data[:2])
    assert label(as_user, [(mine[0], "setosa")]).status_code == 201
    assert as_user("alice").get("/api/v1/feedback").json["_meta"]["total"] == 1
    assert as_user("bob").get("/api/v1/feedback").json["_meta"]["total"] == 0
    entry = as_user("alice").get("/api/v1/feedback").json["_items"][0]
    assert entry["by"] == "alice" and entry["model"] == "iris" and entry["version"] == 1
    assert as_user("bob").get(f"/api/v1/feedback/{entry['_id']}").status_code == 404


def test_quality_counts_off_counts_nothing(as_user, db, run_workers, monkeypatch):
    import settings
    monkeypatch.setattr(settings, "QUALITY_COUNTS", False)
    serve(as_user, run_workers, "iris", IRIS.data[:5])
    assert db.quality.count_documents({}) == 0


def test_rows_are_announced_before_they_are_counted(as_user, db, redis, run_workers,
                                                     monkeypatch):
    """The live counts are a write of their own: the requests long-polling the rows are
    woken before it, so that a busy database keeps them waiting for one write, not two;
    the counts still take every row."""
    from core import counting, finished
    announced = redis.pubsub()
    announced.subscribe(finished.CHANNEL)
    assert announced.get_message(timeout=2)["type"] == "subscribe"
    update, heard_when_counted = counting.conditional_update, []

    def count_after_hearing(*args, **kwargs):
        while (message := announced.get_message(timeout=0.1)) is not None:
            if message["type"] == "message":
                heard_when_counted.extend(finished.finished(message["data"])[0])
        return update(*args, **kwargs)
    monkeypatch.setattr(counting, "conditional_update", count_after_hearing)
    documents = serve(as_user, run_workers, "iris", IRIS.data[:3])
    assert heard_when_counted == [d["_id"] for d in documents]
    assert quality(as_user, db, "iris")["predictions"] == 3
