"""Coalescing (jobs/coalescing.py): jobs queued for one model version run as one model
call, each finishing in RQ with its own result; mixed models stay apart."""
import pickle
import zlib

import pytest
from bson import ObjectId
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from sklearn.datasets import load_breast_cancer, load_iris

from core.queue import PREDICT, prediction_queue
from jobs import coalescing, predict, worker, writeback
from service.models.catalog import load_model

IRIS = load_iris().data[:30].tolist()
CANCER = load_breast_cancer().data[:30].tolist()


@pytest.fixture
def run_worker(db, redis, monkeypatch):
    monkeypatch.setattr(predict, "mongo_db", lambda: db)
    monkeypatch.setattr(worker, "mongo_db", lambda: db)

    def run():
        worker.PredictionWorker([prediction_queue(redis)], connection=redis).work(burst=True)
    return run


def post_one_by_one(as_user, model, rows):
    ids = []
    for row in rows:
        response = as_user("alice").post("/api/v1/inputs", json={"model": model, "features": row})
        assert response.status_code == 201, response.json
        ids.append(response.json["prediction"])
    return ids


def documents(db, ids):
    found = {str(d["_id"]): d for d in db.predictions.find(
        {"_id": {"$in": [ObjectId(i) for i in ids]}})}
    return [found[i] for i in ids]


def assert_equal_to_sklearn(db, ids, model, rows):
    entry, estimator = load_model(model, 1)
    expected = estimator.predict_proba(rows).tolist()
    for document, probabilities in zip(documents(db, ids), expected):
        assert document["status"] == "done" and document["attempts"] == 1
        got = document["result"]["probabilities"]
        assert [got[c] for c in entry["classes"]] == probabilities


def test_requests_of_two_models_run_as_one_batch_per_model_equal_to_sklearn(
        as_user, db, redis, run_worker):
    iris_ids, cancer_ids = [], []
    for iris_row, cancer_row in zip(IRIS, CANCER):  # interleaved in the queue
        iris_ids += post_one_by_one(as_user, "iris", [iris_row])
        cancer_ids += post_one_by_one(as_user, "breast_cancer", [cancer_row])
    job_ids = [j.id for j in prediction_queue(redis).jobs]
    assert len(job_ids) == 60
    run_worker()
    assert_equal_to_sklearn(db, iris_ids, "iris", IRIS)
    assert_equal_to_sklearn(db, cancer_ids, "breast_cancer", CANCER)
    # one batch per model: all its rows got the batch's start time
    assert len({d["started_at"] for d in documents(db, iris_ids)}) == 1
    assert len({d["started_at"] for d in documents(db, cancer_ids)}) == 1
    assert {d["started_at"] for d in documents(db, iris_ids)} != {
        d["started_at"] for d in documents(db, cancer_ids)}
    # every job finished in RQ with the summary of its own row
    finished = FinishedJobRegistry(queue=prediction_queue(redis))
    assert sorted(finished.get_job_ids()) == sorted(job_ids)
    assert all(job.return_value() == {"done": 1, "failed": 0}
               for job in Job.fetch_many(job_ids, connection=redis))


def test_a_batch_stops_at_its_row_limit_and_the_rest_runs_next(
        as_user, db, redis, run_worker, monkeypatch):
    monkeypatch.setattr(coalescing.settings, "COALESCE_MAX_ROWS", 7)
    ids = post_one_by_one(as_user, "iris", IRIS[:20])
    run_worker()
    assert_equal_to_sklearn(db, ids, "iris", IRIS[:20])
    batch_sizes = {}
    for document in documents(db, ids):
        batch_sizes[document["started_at"]] = batch_sizes.get(document["started_at"], 0) + 1
    assert sorted(batch_sizes.values()) == [6, 7, 7]


def test_a_lone_job_runs_alone(as_user, db, redis, run_worker):
    [prediction_id] = post_one_by_one(as_user, "iris", IRIS[:1])
    [job] = prediction_queue(redis).jobs
    assert coalescing.joinable(prediction_queue(redis), job) == []
    run_worker()
    assert_equal_to_sklearn(db, [prediction_id], "iris", IRIS[:1])


def test_a_lone_job_does_not_wait_for_more_rows(as_user, db, redis, run_worker, monkeypatch):
    waits = []
    monkeypatch.setattr(coalescing.time, "sleep", waits.append)
    [prediction_id] = post_one_by_one(as_user, "iris", IRIS[:1])
    run_worker()
    assert_equal_to_sklearn(db, [prediction_id], "iris", IRIS[:1])
    assert waits == []


def test_while_another_job_runs_a_worker_waits_once_for_more_rows(
        as_user, db, redis, run_worker, monkeypatch):
    """Rows sent while another prediction job is running: the worker waits
    COALESCE_WAIT_MS once, and the rows queued meanwhile join its model call."""
    queue = prediction_queue(redis)
    redis.zadd(queue.started_job_registry.key, {"elsewhere:1": 4102444800})  # running
    ids = post_one_by_one(as_user, "iris", IRIS[:2])
    waits = []

    def rows_arrive_while_waiting(seconds):
        waits.append(seconds)
        ids.extend(post_one_by_one(as_user, "iris", IRIS[2:5]))
    monkeypatch.setattr(coalescing.settings, "COALESCE_WAIT_MS", 7)
    monkeypatch.setattr(coalescing.time, "sleep", rows_arrive_while_waiting)
    run_worker()
    assert waits == [0.007]
    assert_equal_to_sklearn(db, ids, "iris", IRIS[:5])
    assert len({d["started_at"] for d in documents(db, ids)}) == 1  # one batch


def test_a_batch_of_a_whole_chunk_does_not_wait(as_user, db, redis, run_worker, monkeypatch):
    redis.zadd(prediction_queue(redis).started_job_registry.key, {"elsewhere:1": 4102444800})
    monkeypatch.setattr(coalescing.settings, "CHUNK_SIZE", 3)
    waits = []
    monkeypatch.setattr(coalescing.time, "sleep", waits.append)
    response = as_user("alice").post("/api/v1/inputs", json=[
        {"model": "iris", "features": row} for row in IRIS[:3]])
    assert response.status_code == 201
    run_worker()
    ids = [item["prediction"] for item in response.json["_items"]]
    assert_equal_to_sklearn(db, ids, "iris", IRIS[:3])
    assert len({d["started_at"] for d in documents(db, ids)}) == 1
    assert waits == []


def test_no_wait_when_it_is_off(as_user, db, redis, run_worker, monkeypatch):
    redis.zadd(prediction_queue(redis).started_job_registry.key, {"elsewhere:1": 4102444800})
    waits = []
    monkeypatch.setattr(coalescing.settings, "COALESCE_WAIT_MS", 0)
    monkeypatch.setattr(coalescing.time, "sleep", waits.append)
    ids = post_one_by_one(as_user, "iris", IRIS[:3])
    run_worker()
    assert_equal_to_sklearn(db, ids, "iris", IRIS[:3])
    assert len({d["started_at"] for d in documents(db, ids)}) == 1
    assert waits == []


def test_a_batch_that_raises_fails_each_of_its_jobs_for_rq_to_retry(
        as_user, db, redis, run_worker, monkeypatch):
    ids = post_one_by_one(as_user, "iris", IRIS[:5])
    job_ids = [j.id for j in prediction_queue(redis).jobs]

    def database_down(*args, **kwargs):
        raise ConnectionError("database down")
    monkeypatch.setattr(writeback, "write_outcomes", database_down)
    run_worker()
    jobs = Job.fetch_many(job_ids, connection=redis)
    assert [job.get_status() for job in jobs] == ["scheduled"] * 5  # each retried alone
    assert all(job.retries_left == 3 for job in jobs)
    assert FailedJobRegistry(queue=prediction_queue(redis)).count == 0
    assert {d["status"] for d in documents(db, ids)} == {"queued"}  # nothing written


def stored_call(redis, job_id):
    """The job's data as Redis holds it: zlib's stream at its fastest level (the header
    78 01; RQ's own default level writes 78 9c), of the pickled call."""
    data = redis.hget(Job.key_for(job_id), "data")
    assert data[:2] == b"\x78\x01"
    return pickle.loads(zlib.decompress(data))


def test_jobs_are_stored_at_zlibs_fastest_level_and_read_by_rqs_own_job_class(
        as_user, db, redis, run_worker):
    ids = post_one_by_one(as_user, "iris", IRIS[:3])
    job_ids = [j.id for j in prediction_queue(redis).jobs]
    for job_id, prediction_id in zip(job_ids, ids):  # as the API enqueued them
        function, _, args, _ = stored_call(redis, job_id)
        assert function == PREDICT and args[2] == [prediction_id]
    run_worker()  # one batch of three: the first job and two joined to it
    for job_id, prediction_id in zip(job_ids, ids):  # as the worker saved them, finished
        assert stored_call(redis, job_id)[2][2] == [prediction_id]
        job = Job.fetch(job_id, connection=redis)  # as the dashboard reads them
        assert job.get_status() == "finished" and job.args[2] == [prediction_id]
    assert_equal_to_sklearn(db, ids, "iris", IRIS[:3])
    assert len({d["started_at"] for d in documents(db, ids)}) == 1


def test_a_renamed_setting_is_read_under_its_old_name_with_a_deprecation_line(monkeypatch, caplog):
    """BATCH_MAX_ROWS was the name of COALESCE_MAX_ROWS: for a release both are read, the
    new one first, and a worker logs that the old one is deprecated."""
    import settings
    monkeypatch.delenv("COALESCE_MAX_ROWS", raising=False)
    monkeypatch.setenv("BATCH_MAX_ROWS", "17")
    assert settings.from_env("COALESCE_MAX_ROWS", "1000") == "17"
    monkeypatch.setenv("COALESCE_MAX_ROWS", "23")
    assert settings.from_env("COALESCE_MAX_ROWS", "1000") == "23"
    with caplog.at_level("WARNING"):
        assert worker.warn_of_renamed_settings({"BATCH_MAX_ROWS": "17"}) == ["BATCH_MAX_ROWS"]
    assert "BATCH_MAX_ROWS is deprecated: set COALESCE_MAX_ROWS" in caplog.text
    assert worker.warn_of_renamed_settings({}) == []
