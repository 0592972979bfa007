"""Faults injected into real processes. After each: count(inputs) = count(predictions),
every prediction ends `done` or `failed` within a deadline, and no input has two."""
import shutil
import signal
import threading
import time
from contextlib import contextmanager

import pymongo
import pytest
import requests
from bson import ObjectId
from sklearn.datasets import load_iris

from bench import slow_model
from service.models.catalog import ARTIFACTS_DIR, load_model

from .conftest import Api, running_stack
from .poison import RaisesOnNegative, Slow

# A worker killed is known dead once its liveness key has expired (WORKER_ALIVE_SECONDS,
# 10 by default), and its jobs are queued again by the next maintenance after that.
FAST = {"MAINTENANCE_SECONDS": "2", "RECONCILE_STALE_SECONDS": "3", "JOB_TIMEOUT_SECONDS": "20",
        "WORKER_ALIVE_SECONDS": "4"}
ROWS = load_iris().data.tolist()


def add_model(directory, name, estimator, features=("x",), classes=("no", "yes")):
    slow_model.add_model(directory, name, estimator, {
        "task": "classification", "features": list(features), "classes": list(classes),
        "trained_at": "2026-01-01T00:00:00+00:00", "sklearn_version": "test"})


def artifacts_with_poison(directory):
    shutil.copytree(ARTIFACTS_DIR, directory)
    add_model(directory, "poison", RaisesOnNegative())
    add_model(directory, "slow", Slow())
    return directory


@contextmanager
def stack_with_poison(tmp_path_factory, workers):
    """A stack whose models include `poison` and `slow`, with short maintenance times."""
    artifacts = artifacts_with_poison(tmp_path_factory.mktemp("artifacts") / "artifacts")
    with running_stack(tmp_path_factory, workers=workers,
                       extra_env={**FAST, "ARTIFACTS_DIR": str(artifacts)}) as stack:
        yield stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with stack_with_poison(tmp_path_factory, workers=1) as stack:
        yield stack


@pytest.fixture(scope="module")
def api(stack):
    return Api(stack.url, stack.create_token("admin", "faults"))


@pytest.fixture(scope="module")
def db(stack):
    return pymongo.MongoClient(stack.mongo_uri, serverSelectionTimeoutMS=5000,
                               tz_aware=True).get_default_database()


def post(api, rows, model="iris"):
    response = api.post("/inputs", json=[{"model": model, "features": r} for r in rows])
    assert response.status_code == 201, response.text
    body = response.json()
    return [item["prediction"] for item in body.get("_items", [body])]


def settle_and_check_invariant(db, deadline=150):
    end = time.monotonic() + deadline
    while True:
        try:
            pending = db.predictions.count_documents({"status": {"$in": ["queued", "running"]}})
            inputs = list(db.inputs.find({}, {"prediction": 1}))
            predictions = list(db.predictions.find({}, {"input": 1}))
            if not pending and len(inputs) == len(predictions):
                break
        except pymongo.errors.PyMongoError:
            pass
        assert time.monotonic() < end, "predictions still pending, or orphaned, at the deadline"
        time.sleep(0.5)
    assert {i["prediction"] for i in inputs} == {p["_id"] for p in predictions}
    assert len({p["input"] for p in predictions}) == len(predictions)  # no input has two


def assert_done_like_sklearn(db, prediction_ids, rows):
    _, estimator = load_model("iris", 1)
    expected = estimator.predict_proba(rows).tolist()
    documents = {str(d["_id"]): d for d in db.predictions.find(
        {"_id": {"$in": [ObjectId(p) for p in prediction_ids]}})}
    for prediction_id, probabilities in zip(prediction_ids, expected):
        document = documents[prediction_id]
        assert document["status"] == "done", document
        got = document["result"]["probabilities"]
        assert [got[c] for c in ("setosa", "versicolor", "virginica")] == probabilities
    return documents


def wait_for(condition, timeout=30, interval=0.05):
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end
        time.sleep(interval)


def test_worker_killed_mid_chunk_its_chunk_is_retried_and_done_once(stack, api, db):
    ids = post(api, [[float(i)] for i in range(10)], model="slow")  # 3 s in the model
    wait_for(lambda: db.predictions.count_documents({"status": "running"}) == 10)
    worker = stack.workers[0]
    worker.signal(signal.SIGKILL)
    worker.process.wait()
    assert stack.restart_dead() == [worker.name]  # what make run's supervisor does
    settle_and_check_invariant(db)
    documents = list(db.predictions.find({"_id": {"$in": [ObjectId(i) for i in ids]}}))
    assert [(d["status"], d["attempts"]) for d in documents] == [("done", 2)] * 10
    assert all(d["result"]["probabilities"] == {"no": 0.25, "yes": 0.75} for d in documents)


def test_worker_killed_mid_batch_of_many_requests_every_row_done_once(stack, api, db):
    worker = stack.workers[0]
    worker.stop()  # the requests queue up, so that one batch takes them all
    ids = [post(api, [[float(i)]], model="slow")[0] for i in range(6)]
    worker.start()
    # one worker, all six running at once: they are one batch (one model call, 3 s)
    wait_for(lambda: db.predictions.count_documents({"status": "running"}) == 6)
    worker.signal(signal.SIGKILL)
    worker.process.wait()
    assert stack.restart_dead() == [worker.name]
    settle_and_check_invariant(db)
    documents = list(db.predictions.find({"_id": {"$in": [ObjectId(i) for i in ids]}}))
    assert [(d["status"], d["attempts"]) for d in documents] == [("done", 2)] * 6
    assert all(d["result"]["probabilities"] == {"no": 0.25, "yes": 0.75} for d in documents)


def test_redis_restarted_with_its_data_lost_nothing_queued_is_lost(stack, api, db):
    worker, redis_server = stack.workers[0], stack.redis
    worker.stop()  # let the jobs wait in Redis
    rows = ROWS[:300]
    ids = post(api, rows)
    redis_server.stop()
    shutil.rmtree(stack.data_dir / "redis")  # its data is lost
    (stack.data_dir / "redis").mkdir()
    redis_server.start()
    worker.start()
    settle_and_check_invariant(db)
    assert_done_like_sklearn(db, ids, rows)


def test_database_down_for_10_s_api_answers_503_and_all_completes_after(stack, api, db):
    rows = [ROWS[i % 150] for i in range(1000)]
    ids = post(api, rows)
    database = stack.database
    database.stop()
    started = time.monotonic()
    try:
        while time.monotonic() - started < 10:
            health = requests.get(f"{stack.url}/api/v1/health", timeout=10)
            assert health.status_code == 503 and health.json()["mongo"] != "ok"
            posted = api.post("/inputs", json={"model": "iris", "features": ROWS[0]})
            assert posted.status_code == 503, posted.text
            time.sleep(1)
    finally:
        database.start()  # for the tests after this one, whatever happened
    settle_and_check_invariant(db)
    documents = assert_done_like_sklearn(db, ids, rows)
    assert not [d for d in documents.values() if d["status"] == "failed"]


def test_api_restarted_during_a_run_no_accepted_input_is_without_prediction(stack, api, db):
    accepted, sent_at, stop = [], [], threading.Event()

    def client():
        while not stop.is_set():
            sent = time.monotonic()
            try:
                response = api.post("/inputs", json=[{"model": "iris", "features": r}
                                                     for r in ROWS[:20]], timeout=10)
            except requests.RequestException:
                time.sleep(0.05)
                continue
            if response.status_code == 201:
                accepted.extend(item["prediction"] for item in response.json()["_items"])
                sent_at.append(sent)

    thread = threading.Thread(target=client)
    thread.start()
    try:
        wait_for(lambda: len(sent_at) >= 5, timeout=60)  # a run under way
        before = len(accepted)
        stack.api.signal(signal.SIGKILL)
        stack.api.process.wait()
        stack.api.start()
        restarted = time.monotonic()
        # accepted again: a request sent after the restart, answered by the new API
        wait_for(lambda: max(sent_at) > restarted, timeout=60)
    finally:
        stop.set()
        thread.join()
    assert before > 0 and len(accepted) > before  # accepted both before and after
    settle_and_check_invariant(db)
    assert_done_like_sklearn(db, accepted, [ROWS[i % 20] for i in range(len(accepted))])


def test_poison_input_fails_alone_with_a_readable_error(stack, api, db):
    ids = post(api, [[1.0], [2.0], [-1.0], [3.0]], model="poison")
    settle_and_check_invariant(db)
    documents = [api.get(f"/predictions/{pid}").json() for pid in ids]
    assert [d["status"] for d in documents] == ["done", "done", "failed", "done"]
    assert documents[2]["error"] == {"type": "ValueError",
                                     "message": "poison: a feature is negative"}
    assert documents[0]["result"] == {"label": "yes",
                                      "probabilities": {"no": 0.25, "yes": 0.75}}
