"""POST /api/v1/batches: a CSV file validated whole, stored as inputs and predictions,
counted by the workers; results in file order; cancel; isolation."""
import csv
import io
import json

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris

from core import batches as counters
from core.queue import prediction_queue
from jobs import predict, worker
from service.batches import files as batch_files
from settings import ARTIFACTS_DIR

URL = "/api/v1/batches"
IRIS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
CLASSES = ["setosa", "versicolor", "virginica"]


def iris_csv(rows, columns=("petal_width", "ref", "sepal_length", "petal_length",
                            "sepal_width")):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for n, row in enumerate(rows, 1):
        values = dict(zip(IRIS, row), ref=f"row-{n}")
        writer.writerow([values[c] for c in columns])
    return out.getvalue()


def upload(session, text, query="?model=iris", **kwargs):
    return session.post(URL + query, data=text.encode(),
                        headers={"Content-Type": "text/csv"}, **kwargs)


def run_workers(redis, db, monkeypatch):
    monkeypatch.setattr(predict, "mongo_db", lambda: db)
    monkeypatch.setattr(worker, "mongo_db", lambda: db)
    worker.PredictionWorker([prediction_queue(redis)], connection=redis).work(burst=True)


def stored(db):
    return {kind: db[kind].count_documents({}) for kind in ("batches", "inputs", "predictions")}


@pytest.fixture
def iris_rows():
    X = load_iris().data
    return [list(map(float, X[i])) for i in range(0, 150, 2)]  # 75 rows


def test_a_csv_in_any_column_order_gives_scikit_learns_results_in_file_order(
        as_user, db, redis, monkeypatch, iris_rows):
    created = upload(as_user("alice"), iris_csv(iris_rows))
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (body["status"], body["total"], body["model"], body["version"]) == \
        ("queued", 75, "iris", 1)
    assert created.headers["Location"].endswith(f"/batches/{body['_id']}")
    assert db.predictions.count_documents({"batch": db.batches.find_one()["_id"]}) == 75

    run_workers(redis, db, monkeypatch)
    batch = as_user("alice").get(f"{URL}/{body['_id']}").get_json()
    assert (batch["status"], batch["done"], batch["failed"], batch["cancelled"]) == \
        ("done", 75, 0, 0)
    assert batch["finished_at"]
    assert "counted" not in batch and "rows" not in batch and "owner" not in batch

    estimator = joblib.load(f"{ARTIFACTS_DIR}/iris/1/model.joblib")
    expected = estimator.predict_proba(np.asarray(iris_rows))
    lines = list(csv.reader(io.StringIO(
        as_user("alice").get(f"{URL}/{body['_id']}/results").get_data(as_text=True))))
    assert lines[0] == ["ref", *IRIS, "status", "label", *(f"p_{c}" for c in CLASSES), "error"]
    assert len(lines) == 76
    for n, (line, row, probabilities) in enumerate(zip(lines[1:], iris_rows, expected), 1):
        assert line[0] == f"row-{n}"
        assert [float(v) for v in line[1:5]] == row
        assert line[5] == "done"
        assert line[6] == CLASSES[int(np.argmax(probabilities))]
        assert [float(v) for v in line[7:10]] == [float(p) for p in probabilities]
        assert line[10] == ""

    jsonl = as_user("alice").get(f"{URL}/{body['_id']}/results?format=jsonl")
    records = [json.loads(line) for line in jsonl.get_data(as_text=True).splitlines()]
    assert [r["row"] for r in records] == list(range(1, 76))
    assert [list(r["result"]["probabilities"].values()) for r in records] == \
        [[float(p) for p in ps] for ps in expected]


def test_a_multipart_file_is_taken_too(as_user, iris_rows):
    created = as_user("alice").post(
        URL + "?model=iris", data={"file": (io.BytesIO(iris_csv(iris_rows[:3]).encode()),
                                            "rows.csv")},
        content_type="multipart/form-data")
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["total"] == 3


@pytest.mark.parametrize("text, row, field", [
    ("sepal_length,sepal_width,petal_length,petal_width\n1,2,3,x\n", 1, "petal_width"),
    ("sepal_length,sepal_width,petal_length,petal_width\n1,2,3,4\n1,2,3,nan\n", 2,
     "petal_width"),
    ("sepal_length,sepal_width,petal_length\n1,2,3\n", 0, "petal_width"),
    ("sepal_length,sepal_width,petal_length,petal_width,colour\n1,2,3,4,red\n", 0, "colour"),
    ("sepal_length,sepal_width,petal_length,petal_width\n1,2,3\n", 1, "row"),
    ("", 0, "file"),
    ("sepal_length,sepal_width,petal_length,petal_width\n", 0, "file"),
])
def test_a_bad_file_is_422_naming_row_and_field_and_nothing_is_stored(
        as_user, db, redis, text, row, field):
    answer = upload(as_user("alice"), text)
    assert answer.status_code == 422, answer.get_json()
    assert {"row": row, "field": field} in [
        {"row": i["row"], "field": i["field"]} for i in answer.get_json()["_issues"]]
    assert stored(db) == {"batches": 0, "inputs": 0, "predictions": 0}
    assert prediction_queue(redis).count == 0


def test_at_most_100_issues_are_listed(as_user, db):
    text = "sepal_length,sepal_width,petal_length,petal_width\n" + "x,1,1,1\n" * 500
    issues = upload(as_user("alice"), text).get_json()["_issues"]
    assert len(issues) == 100 and issues[99] == {"row": 100, "field": "sepal_length",
                                                 "message": "not a finite number"}


def test_a_body_that_is_not_csv_is_4xx(as_user, db):
    assert as_user("alice").post(URL + "?model=iris", json={"a": 1}).status_code == 415
    header = ",".join(IRIS) + "\n"
    assert upload(as_user("alice"), header + '1,2,3,"4\n').status_code == 400
    assert as_user("alice").post(URL + "?model=iris", data=b"\xff\xfe\x00",
                                 headers={"Content-Type": "text/csv"}).status_code == 400
    assert upload(as_user("alice"), "x\n1\n", query="?model=nope").status_code == 422
    assert upload(as_user("alice"), "x\n1\n", query="").status_code == 422
    assert stored(db) == {"batches": 0, "inputs": 0, "predictions": 0}


def test_a_content_length_over_the_limit_is_413_before_reading(as_user, db):
    answer = as_user("alice").post(URL + "?model=iris", data=b"a,b\n",
                                   headers={"Content-Type": "text/csv"},
                                   environ_overrides={"CONTENT_LENGTH": str(2 * 2**30)})
    assert answer.status_code == 413
    assert stored(db)["batches"] == 0


def test_another_client_cannot_read_cancel_or_fetch_results_of_a_batch(as_user, iris_rows):
    batch_id = upload(as_user("alice"), iris_csv(iris_rows[:2])).get_json()["_id"]
    bob = as_user("bob")
    for answer in (bob.get(f"{URL}/{batch_id}"), bob.get(f"{URL}/{batch_id}/results"),
                   bob.post(f"{URL}/{batch_id}/cancel")):
        assert answer.status_code == 404
    assert bob.get(URL).get_json()["_items"] == []
    assert as_user("admin").get(f"{URL}/{batch_id}").status_code == 200
    assert as_user("alice").get(f"{URL}/{batch_id}/results").status_code == 200


def test_cancel_before_the_workers_run_cancels_every_row_and_they_are_skipped(
        as_user, db, redis, monkeypatch, iris_rows):
    batch_id = upload(as_user("alice"), iris_csv(iris_rows)).get_json()["_id"]
    cancelled = as_user("alice").post(f"{URL}/{batch_id}/cancel").get_json()
    assert (cancelled["status"], cancelled["cancelled"], cancelled["done"]) == ("cancelled", 75, 0)
    run_workers(redis, db, monkeypatch)
    batch = as_user("alice").get(f"{URL}/{batch_id}").get_json()
    assert (batch["status"], batch["done"], batch["failed"], batch["cancelled"]) == \
        ("cancelled", 0, 0, 75)
    assert db.predictions.count_documents({"status": "cancelled"}) == 75


def test_cancel_mid_batch_leaves_no_row_both_done_and_cancelled(
        as_user, db, redis, monkeypatch, iris_rows):
    monkeypatch.setattr(batch_files, "CHUNK_ROWS", 10)
    monkeypatch.setattr("settings.CHUNK_SIZE", 10)
    batch_id = upload(as_user("alice"), iris_csv(iris_rows)).get_json()["_id"]
    monkeypatch.setattr(predict, "mongo_db", lambda: db)
    monkeypatch.setattr(worker, "mongo_db", lambda: db)
    monkeypatch.setattr("settings.COALESCE_MAX_ROWS", 10)
    one_job = worker.PredictionWorker([prediction_queue(redis)], connection=redis)
    one_job.work(burst=True, max_jobs=3)  # 30 rows done
    as_user("alice").post(f"{URL}/{batch_id}/cancel")
    run_workers(redis, db, monkeypatch)
    batch = as_user("alice").get(f"{URL}/{batch_id}").get_json()
    statuses = [p["status"] for p in db.predictions.find({}, {"status": 1})]
    assert (batch["done"], batch["cancelled"]) == (statuses.count("done"),
                                                   statuses.count("cancelled"))
    assert batch["done"] + batch["cancelled"] == 75 and batch["done"] >= 30
    assert batch["status"] == "cancelled"


def test_a_job_counted_twice_is_counted_once(db, redis, as_user, iris_rows):
    batch_id = upload(as_user("alice"), iris_csv(iris_rows[:4])).get_json()["_id"]
    assert counters.count_job(db, batch_id, "job-1", 3, 1)["done"] == 3
    assert counters.count_job(db, batch_id, "job-1", 3, 1) is None
    assert db.batches.find_one()["done"] == 3


def test_row_ids_sort_in_file_order_and_give_back_their_row():
    from bson import ObjectId
    prefix = counters.new_prefixes(ObjectId())["predictions"]
    ids = [counters.row_id(prefix, n) for n in (1, 2, 255, 256, 65536, 1_000_000)]
    assert sorted(ids) == ids
    assert [counters.row_of(i) for i in ids] == [1, 2, 255, 256, 65536, 1_000_000]


def a_minute_later():
    from datetime import datetime, timedelta, timezone
    return datetime.now(timezone.utc) + timedelta(minutes=5)


def test_a_batch_whose_count_was_lost_is_recounted_and_finished(
        as_user, db, redis, monkeypatch, iris_rows):
    from jobs.reconcile import repair_batches
    batch_id = upload(as_user("alice"), iris_csv(iris_rows)).get_json()["_id"]
    assert repair_batches(db, redis, now=a_minute_later()) == {"recounted": 0, "deleted": 0}
    run_workers(redis, db, monkeypatch)
    db.batches.update_one({}, {"$set": {"status": "running", "done": 70, "finished_at": None}})
    assert repair_batches(db, redis, now=a_minute_later()) == {"recounted": 1, "deleted": 0}
    batch = as_user("alice").get(f"{URL}/{batch_id}").get_json()
    assert (batch["status"], batch["done"], batch["failed"]) == ("done", 75, 0)


def test_a_batch_never_fully_stored_is_deleted_with_its_rows(as_user, db, redis, iris_rows):
    from jobs.reconcile import repair_batches
    upload(as_user("alice"), iris_csv(iris_rows))
    db.batches.update_one({}, {"$set": {"stored": False}})
    assert repair_batches(db, redis) == {"recounted": 0, "deleted": 0}  # not stale yet
    assert repair_batches(db, redis, now=a_minute_later()) == {"recounted": 0, "deleted": 1}
    assert stored(db) == {"batches": 0, "inputs": 0, "predictions": 0}


def test_the_database_failing_while_rows_are_stored_is_503_and_nothing_stays(
        as_user, db, monkeypatch, iris_rows):
    import pymongo.errors
    monkeypatch.setattr(batch_files, "CHUNK_ROWS", 10)
    predictions = type(db.predictions)
    calls = []
    insert_many = predictions.insert_many

    def third_chunk_fails(self, documents, *args, **kwargs):
        if self.name == "predictions":
            calls.append(len(documents))
            if len(calls) == 3:
                raise pymongo.errors.AutoReconnect("connection lost mid-upload")
        return insert_many(self, documents, *args, **kwargs)
    monkeypatch.setattr(predictions, "insert_many", third_chunk_fails)
    answer = upload(as_user("alice"), iris_csv(iris_rows))
    assert answer.status_code == 503
    assert len(calls) == 3  # two chunks were stored before, and are gone again
    assert stored(db) == {"batches": 0, "inputs": 0, "predictions": 0}
