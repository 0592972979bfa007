"""Answers at submission (service/answers.py): POST /inputs with `Prefer: wait=N` answers
each item with its result once the workers announce it; the result cache answers a row
sent again at once, for its own version only, bounded, and a cache that is down is a
miss. Eve on mongomock; the workers in this process; the cache a redis-server of its own."""
import tempfile
import threading
import time

import mongomock
import pytest
from bson import ObjectId
from redis import Redis

from core.queue import prediction_queue
from devstack import services
from jobs import models as worker_models
from jobs import predict, worker
from service import answers
from service.app import create_app
from service.models.catalog import load_model
from service.tokens import create_token
from tests.conftest import MongomockData

IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]


@pytest.fixture(scope="module")
def cache_url():
    """A redis-server for the cache alone, bounded to 2 MB with LRU eviction (as
    `make run` starts one, smaller: an empty Redis takes about 0.9 MB of it)."""
    with tempfile.TemporaryDirectory() as directory:
        port = services.free_port()
        server = services.cache_server(port, directory, directory, max_mb=2).start()
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            server.stop()


@pytest.fixture
def stack(redis, redis_url, cache_url, monkeypatch):
    """(client, db, headers of a client token, run the workers, the cache's Redis)."""
    Redis.from_url(cache_url).flushdb()
    return make_stack(redis, redis_url, cache_url, monkeypatch)


def make_stack(redis, redis_url, cache_url, monkeypatch):
    MongomockData.client = mongomock.MongoClient()
    app = create_app(overrides={"MONGO_URI": "mongodb://127.0.0.1:1/test",
                                "REDIS_URL": redis_url, "CACHE_URL": cache_url,
                                "TESTING": True}, data=MongomockData, redis=redis)
    db = MongomockData.client["test"]
    monkeypatch.setattr(predict, "mongo_db", lambda: db)
    monkeypatch.setattr(worker, "mongo_db", lambda: db)
    monkeypatch.setattr(predict, "_answer_cache", [answers.ResultCache(cache_url)])
    worker_models.settings_cache.clear()
    worker_models.cache.loaded.clear()

    def run():
        worker.PredictionWorker([prediction_queue(redis)], connection=redis).work(burst=True)
    headers = {"Authorization": f"Bearer {create_token(db, 'client', 'alice')}"}
    admin = {"Authorization": f"Bearer {create_token(db, 'admin', 'root')}"}
    return app.test_client(), db, headers, run, admin


def expected(rows):
    entry, estimator = load_model("iris", 1)
    probabilities = estimator.predict_proba(rows)
    return [dict(zip(entry["classes"], map(float, row))) for row in probabilities]


def post_waiting(client, headers, body, seconds):
    """POST from a thread (it waits); the caller runs the workers meanwhile."""
    answer = {}

    def post():
        answer["response"] = client.post("/api/v1/inputs", json=body,
                                         headers={**headers, "Prefer": f"wait={seconds}"})
    thread = threading.Thread(target=post)
    thread.start()
    return thread, answer


def work_while(thread, run, timeout=20):
    deadline = time.monotonic() + timeout
    while thread.is_alive() and time.monotonic() < deadline:
        run()
        time.sleep(0.02)
    thread.join(1)


def test_one_row_and_a_list_are_answered_with_sklearns_results(stack, monkeypatch):
    client, db, headers, run, _ = stack
    reads = []
    monkeypatch.setattr(answers, "read_answers", lambda ids: reads.append(ids) or {})
    for body in ({"model": "iris", "features": IRIS_ROWS[0]},
                 [{"model": "iris", "features": row} for row in IRIS_ROWS]):
        thread, answer = post_waiting(client, headers, body, 30)
        work_while(thread, run)
        response = answer["response"]
        assert response.status_code == 201 and response.headers["Preference-Applied"] == "wait=30"
        items = response.json.get("_items", [response.json])
        rows = [body["features"]] if isinstance(body, dict) else IRIS_ROWS
        assert [item["status"] for item in items] == ["done"] * len(rows)
        assert [item["result"]["probabilities"] for item in items] == expected(rows)
        for item in items:
            stored = db.predictions.find_one({"_id": ObjectId(item["prediction"])})
            assert stored["result"] == item["result"]
    assert reads == []  # every answer came with its announcement: nothing read again


@pytest.mark.parametrize("prefer", ["wait=0", "wait=61", "wait=x", "{}", "respond-async"])
def test_a_wait_outside_1_to_60_is_refused_and_nothing_is_stored(stack, prefer):
    client, db, headers, _, _ = stack
    response = client.post("/api/v1/inputs", json={"model": "iris", "features": IRIS_ROWS[0]},
                           headers={**headers, "Prefer": prefer})
    assert response.status_code == 400
    assert db.inputs.count_documents({}) == 0 and db.predictions.count_documents({}) == 0


def test_an_empty_prefer_header_is_no_preference(stack):
    client, db, headers, _, _ = stack
    response = client.post("/api/v1/inputs", json={"model": "iris", "features": IRIS_ROWS[0]},
                           headers={**headers, "Prefer": ""})
    assert response.status_code == 201 and response.json["status"] == "queued"


def test_the_wait_ends_at_n_seconds_with_the_items_as_they_are(stack, redis):
    client, _, headers, _, _ = stack
    started = time.monotonic()
    response = client.post("/api/v1/inputs", json=[{"model": "iris", "features": r}
                                                   for r in IRIS_ROWS],
                           headers={**headers, "Prefer": "wait=1"})
    assert 1 <= time.monotonic() - started < 5
    assert response.status_code == 201 and response.headers["Preference-Applied"] == "wait=1"
    assert [item["status"] for item in response.json["_items"]] == ["queued"] * 3
    assert all("result" not in item for item in response.json["_items"])
    assert prediction_queue(redis).count == 1


def cache_on(client, db, admin, seconds, version=1):
    model = db.models.find_one({"name": "iris", "version": version})
    return client.patch(f"/api/v1/models/{model['_id']}", json={"cache_seconds": seconds},
                        headers=admin)


def test_a_row_sent_again_is_answered_at_submission_from_the_cache(stack, redis):
    client, db, headers, run, admin = stack
    assert cache_on(client, db, admin, 60).status_code == 200
    first = client.post("/api/v1/inputs", json={"model": "iris", "features": IRIS_ROWS[1]},
                        headers=headers).json
    run()
    again = client.post("/api/v1/inputs", json={"model": "iris", "features": IRIS_ROWS[1]},
                        headers={**headers, "Prefer": "wait=5"})
    assert again.status_code == 201 and again.json["status"] == "done"
    assert prediction_queue(redis).count == 0  # no job for it
    cached = db.predictions.find_one({"_id": ObjectId(again.json["prediction"])})
    computed = db.predictions.find_one({"_id": ObjectId(first["prediction"])})
    assert cached["cached"] is True and cached["result"] == computed["result"]
    assert again.json["result"] == computed["result"]
    assert "cached" not in computed
    model = db.models.find_one({"name": "iris", "version": 1})
    quality = client.get(f"/api/v1/models/{model['_id']}/quality", headers=admin).json
    drift = client.get(f"/api/v1/models/{model['_id']}/drift", headers=admin).json
    assert quality["predictions"] == 2 and drift["predictions"] == 2  # each row once
    exposed = client.get("/metrics", headers=admin).get_data(as_text=True)
    hits = [line for line in exposed.splitlines()
            if line.startswith('cache_hits_total{model="iris",version="1"}')]
    misses = [line for line in exposed.splitlines()
              if line.startswith('cache_misses_total{model="iris",version="1"}')]
    assert hits and float(hits[0].split()[-1]) >= 1 and misses


def test_an_answer_is_never_served_for_another_version(stack, redis):
    client, db, headers, run, admin = stack
    entry = db.models.find_one({"name": "iris", "version": 1})
    db.models.insert_one({**entry, "_id": ObjectId(), "version": 2, "aliases": []})
    for version in (1, 2):
        assert cache_on(client, db, admin, 60, version).status_code == 200
    client.post("/api/v1/inputs", json={"model": "iris", "version": 1,
                                        "features": IRIS_ROWS[2]}, headers=headers)
    run()
    other = client.post("/api/v1/inputs", json={"model": "iris", "version": 2,
                                                "features": IRIS_ROWS[2]}, headers=headers)
    assert other.json["status"] == "queued" and prediction_queue(redis).count == 1


def test_an_answer_expires_after_cache_seconds(stack, redis):
    client, db, headers, run, admin = stack
    cache_on(client, db, admin, 1)
    client.post("/api/v1/inputs", json={"model": "iris", "features": IRIS_ROWS[0]},
                headers=headers)
    run()
    time.sleep(2.1)
    later = client.post("/api/v1/inputs", json={"model": "iris", "features": IRIS_ROWS[0]},
                        headers=headers)
    assert later.json["status"] == "queued"


@pytest.mark.parametrize("seconds", [-1, 604801, "60", 1.5, None, "soon"])
def test_cache_seconds_is_validated(stack, seconds):
    client, db, _, _, admin = stack
    assert cache_on(client, db, admin, seconds).status_code == 422


def test_a_full_cache_evicts_answers_and_never_loses_queued_rows(stack, redis, cache_url):
    """The cache's 2 MB, filled up first: 2,000 distinct rows' answers make it evict, and
    every row still ends done (the queue is another server)."""
    client, db, headers, run, admin = stack
    kept = Redis.from_url(cache_url)
    with kept.pipeline(transaction=False) as pipeline:
        for number in range(5000):
            pipeline.set(f"answer:filler-{number}", "x" * 200, ex=600)
        pipeline.execute(raise_on_error=False)
    assert kept.info("stats")["evicted_keys"] > 0  # full: writing more evicts
    cache_on(client, db, admin, 600)
    for start in range(0, 2000, 1000):
        body = [{"model": "iris", "features": [5 + (start + i) / 1000, 3.0, 4.0, 1.0]}
                for i in range(1000)]
        assert client.post("/api/v1/inputs", json=body, headers=headers).status_code == 201
        run()
    assert db.predictions.count_documents({"status": "done"}) == 2000
    assert kept.dbsize() > 0 and kept.info("memory")["used_memory"] <= 2 * 2**20 * 1.05


def test_a_cache_that_is_down_is_a_miss_never_an_error(redis, redis_url, monkeypatch):
    client, db, headers, run, admin = make_stack(
        redis, redis_url, f"redis://127.0.0.1:{services.free_port()}/0", monkeypatch)
    cache_on(client, db, admin, 60)
    for _ in range(2):
        response = client.post("/api/v1/inputs", json={"model": "iris",
                                                       "features": IRIS_ROWS[0]},
                               headers=headers)
        assert response.status_code == 201 and response.json["status"] == "queued"
        run()
    assert db.predictions.count_documents({"status": "done"}) == 2
