import time

import numpy as np
import pytest
from bson import ObjectId
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from core import finished
from core.documents import now
from core.queue import plan_chunks
from jobs import batch_rows, monitoring, predict, writeback
from service.models.catalog import load_model


def inputs(n, model="iris", version=1):
    return [{"model": model, "version": version, "prediction": ObjectId(),
             "features": [1.0, 2.0, 3.0, 4.0]} for _ in range(n)]


def test_bulk_is_cut_into_chunks_per_model_version():
    chunks = plan_chunks(inputs(1001) + inputs(3, "diabetes"), chunk_size=500)
    sizes = sorted((model, len(rows)) for _, model, _, rows in chunks)
    assert sizes == [("diabetes", 3), ("iris", 1), ("iris", 500), ("iris", 500)]
    assert len({job_id for job_id, *_ in chunks}) == 4


@pytest.mark.parametrize("name,dataset", [("iris", load_iris), ("breast_cancer",
                                                                 load_breast_cancer)])
def test_classification_results_equal_sklearn(name, dataset):
    entry, estimator = load_model(name, 1)
    rows = dataset().data[:50]
    results = predict.compute(entry, estimator, rows.tolist())
    probabilities = estimator.predict_proba(rows)
    labels = estimator.predict(rows)
    for result, expected, label in zip(results, probabilities, labels):
        assert [result["probabilities"][c] for c in entry["classes"]] == expected.tolist()
        assert result["label"] == entry["classes"][list(estimator.classes_).index(label)]


def test_regression_results_equal_sklearn():
    entry, estimator = load_model("diabetes", 1)
    rows = load_diabetes().data[:50]
    results = predict.compute(entry, estimator, rows.tolist())
    assert [r["value"] for r in results] == estimator.predict(rows).tolist()


class PoisonOnNegative:
    """A model that raises for any row with a negative value."""

    classes_ = np.array([0, 1])

    def predict_proba(self, X):
        if (np.asarray(X) < 0).any():
            raise ValueError("negative input")
        return np.tile([0.25, 0.75], (len(X), 1))


@pytest.fixture
def job_db(db, monkeypatch):
    monkeypatch.setattr(predict, "mongo_db", lambda: db)
    return db


def queued(db, n):
    ids = [ObjectId() for _ in range(n)]
    db.predictions.insert_many([{"_id": i, "status": "queued", "attempts": 0} for i in ids])
    return [str(i) for i in ids]


def test_poison_row_fails_alone_and_the_rest_of_its_chunk_succeeds(job_db, monkeypatch):
    entry = {"_id": ObjectId(), "name": "poison", "version": 1, "task": "classification",
             "classes": ["no", "yes"],
             "artifact": {"sha256": "0" * 64}}
    monkeypatch.setattr(predict.models, "load", lambda *_: (entry, PoisonOnNegative()))
    ids = queued(job_db, 3)
    summary = predict.predict_chunk("poison", 1, ids, [[1.0], [-1.0], [2.0]])
    assert summary == {"done": 2, "failed": 1}
    docs = {str(d["_id"]): d for d in job_db.predictions.find()}
    assert docs[ids[1]]["status"] == "failed"
    assert docs[ids[1]]["error"] == {"type": "ValueError", "message": "negative input"}
    for pid in (ids[0], ids[2]):
        assert docs[pid]["status"] == "done"
        assert docs[pid]["result"] == {"label": "yes", "probabilities": {"no": 0.25, "yes": 0.75}}
        assert docs[pid]["attempts"] == 1 and docs[pid]["finished_at"] >= docs[pid]["started_at"]


def test_a_chunk_is_written_with_one_command_per_step(job_db):
    calls = []

    class Recorder:
        def __getattr__(self, name):
            method = getattr(job_db.predictions, name)
            if name not in ("update_many", "bulk_write", "update_one", "insert_one"):
                return method

            def recorded(*args, **kwargs):
                calls.append(name)
                return method(*args, **kwargs)
            return recorded

    class Db:
        predictions = Recorder()

    ids = queued(job_db, 25)
    writeback.mark_running(Db(), ids)
    assert job_db.predictions.count_documents({"status": "running", "attempts": 1}) == 25
    writeback.write_outcomes(Db(), ids, [("done", {"value": 1.0})] * 25)
    assert calls == ["update_many", "bulk_write"]
    assert job_db.predictions.count_documents({"status": "done"}) == 25


def test_a_quick_batch_goes_from_queued_to_done_in_one_write(job_db):
    ids = queued(job_db, 3)
    started_at = now()
    with writeback.running_if_slow(job_db, ids, after_seconds=5) as marked_running:
        assert job_db.predictions.count_documents({"status": "queued"}) == 3
    assert not marked_running()
    writeback.write_outcomes(job_db, ids, [("done", {"value": 1.0})] * 3, started_at=started_at)
    for document in job_db.predictions.find():
        assert (document["status"], document["attempts"]) == ("done", 1)
        assert abs(document["started_at"] - started_at.replace(tzinfo=None)).total_seconds() < 1e-3


def test_a_slow_batch_shows_running_while_it_runs_and_counts_one_attempt(job_db):
    ids = queued(job_db, 3)
    with writeback.running_if_slow(job_db, ids, after_seconds=0.01) as marked_running:
        for _ in range(200):
            if job_db.predictions.count_documents({"status": "running"}) == 3:
                break
            time.sleep(0.01)
        assert job_db.predictions.count_documents({"status": "running", "attempts": 1}) == 3
    assert marked_running()
    writeback.write_outcomes(job_db, ids, [("done", {"value": 1.0})] * 3)
    assert [d["attempts"] for d in job_db.predictions.find({"status": "done"})] == [1] * 3


def test_each_status_change_gets_a_new_etag(job_db):
    [pid] = queued(job_db, 1)
    writeback.mark_running(job_db, [pid])
    running = job_db.predictions.find_one()["_etag"]
    writeback.write_outcomes(job_db, [pid], [("done", {"value": 2.0})])
    assert job_db.predictions.find_one()["_etag"] != running


def test_failure_callback_marks_the_chunk_failed_only_without_retries_left(job_db, redis):
    ids = queued(job_db, 2)
    announced = redis.pubsub()
    announced.subscribe(finished.CHANNEL)
    assert announced.get_message(timeout=2)["type"] == "subscribe"

    class Job:
        args = ("iris", 1, ids, [[1, 2, 3, 4]] * 2)
        retries_left = 1
        meta = {}

    predict.mark_chunk_failed(Job, redis, RuntimeError, RuntimeError("boom"), None)
    assert job_db.predictions.count_documents({"status": "failed"}) == 0
    Job.retries_left = 0
    predict.mark_chunk_failed(Job, redis, RuntimeError, RuntimeError("boom"), None)
    assert job_db.predictions.count_documents({"status": "failed"}) == 2
    assert job_db.predictions.find_one()["error"] == {"type": "RuntimeError", "message": "boom"}
    message = announced.get_message(timeout=2)  # the requests waiting for them wake up
    assert message["data"].decode().split(",") == ids
    assert announced.get_message(timeout=0.1) is None  # announced once, when marked failed


def test_each_row_records_the_worker_that_finished_it(job_db):
    import os
    import socket
    ids = queued(job_db, 2)
    writeback.write_outcomes(job_db, ids, [("done", {"value": 1.0}), ("failed", {"type": "E"})])
    assert {d["worker"] for d in job_db.predictions.find()} == {
        f"{socket.gethostname()}:{os.getpid()}"}


def test_a_row_finished_elsewhere_is_not_written_again_nor_counted_here(job_db, monkeypatch):
    """A worker back from a network cut, with a chunk another worker finished meanwhile:
    the rows finished elsewhere keep their result, and only the others count here."""
    entry = {"_id": ObjectId(), "name": "poison", "version": 1, "task": "classification",
             "classes": ["no", "yes"], "artifact": {"sha256": "0" * 64}}
    monkeypatch.setattr(predict.models, "load", lambda *_: (entry, PoisonOnNegative()))
    ids = queued(job_db, 3)
    elsewhere = {"status": "done", "result": {"label": "no"}, "worker": "host-b:7",
                 "finished_at": now(), "_etag": "theirs"}
    job_db.predictions.update_one({"_id": ObjectId(ids[0])}, {"$set": elsewhere})
    before = job_db.predictions.find_one({"_id": ObjectId(ids[0])})
    # every write below in one millisecond: their stamps still tell them apart
    frozen = now()
    monkeypatch.setattr(writeback, "now", lambda: frozen)
    monkeypatch.setattr(predict, "now", lambda: frozen)

    written = predict.predict_rows(job_db, "poison", 1, ids, [[1.0], [2.0], [-1.0]])
    assert written.finished == {ids[1], ids[2]}
    assert job_db.predictions.find_one({"_id": ObjectId(ids[0])}) == before
    shares = predict.per_chunk([predict.Chunk(None, ids, [])], written.outcomes)
    assert batch_rows.written_counts(shares, written.finished) == [(None, 1, 1)]
    assert monitoring.done_indices(ids, written.outcomes, written.finished) == [1]

    # nor marked running, queued again or failed by a late worker
    writeback.mark_running(job_db, ids)
    writeback.mark_queued(job_db, ids, "job-again")
    assert writeback.mark_failed(job_db, ids, {"type": "Late"}) == set()
    assert job_db.predictions.find_one({"_id": ObjectId(ids[0])}) == before
    assert job_db.predictions.count_documents({"status": "done"}) == 2


def test_a_chunk_out_of_retries_calls_back_only_the_rows_it_marked_failed(job_db, redis):
    from core.queue import callback_queue
    ids = queued(job_db, 2)
    job_db.predictions.update_one({"_id": ObjectId(ids[0])}, {"$set": {"status": "done"}})

    class Job:  # its first row finished by another worker meanwhile
        args = ("iris", 1, ids, [[1, 2, 3, 4]] * 2)
        retries_left = 0
        meta = {"callbacks": {pid: "http://receiver.test/hook" for pid in ids}}

    predict.mark_chunk_failed(Job, redis, RuntimeError, RuntimeError("boom"), None)
    assert [job.args[0] for job in callback_queue(redis).jobs] == [ids[1]]
