"""Interactive rows first: a submission of at most INTERACTIVE_MAX_ROWS rows waits in a
queue of its own, which a worker takes before the queue of files and large submissions:
a single row is done while a file's rows are still queued."""
import pytest
from bson import ObjectId

import settings
from core.liveness import alive_key
from core.queue import interactive_queue, prediction_queue, prediction_queues
from jobs import predict, worker
from tests.unit.test_quality import IRIS

CSV = "sepal_length,sepal_width,petal_length,petal_width\n" + "".join(
    ",".join(map(str, row)) + "\n" for row in IRIS.data) * 10  # 1,500 rows: 3 jobs


@pytest.fixture(autouse=True)
def interactive_default(monkeypatch):
    monkeypatch.setattr(settings, "INTERACTIVE_MAX_ROWS", 100)


def test_a_single_row_is_done_while_a_files_rows_are_still_queued(as_user, db, redis,
                                                                   monkeypatch):
    monkeypatch.setattr(predict, "mongo_db", lambda: db)
    monkeypatch.setattr(worker, "mongo_db", lambda: db)
    batch = as_user("alice").post("/api/v1/batches?model=iris", data=CSV,
                                  headers={"Content-Type": "text/csv"}).json
    single = as_user("bob").post("/api/v1/inputs", json={
        "model": "iris", "features": list(IRIS.data[0])}).json
    assert interactive_queue(redis).count == 1 and prediction_queue(redis).count == 3
    worker.PredictionWorker(prediction_queues(redis), connection=redis).work(
        burst=True, max_jobs=1)
    assert db.predictions.find_one({"_id": ObjectId(single["prediction"])})["status"] == "done"
    assert db.predictions.count_documents({"batch": ObjectId(batch["_id"]),
                                           "status": "queued"}) == 1500


def test_large_submissions_go_to_the_queue_of_files(as_user, redis):
    rows = [{"model": "iris", "features": list(row)} for row in IRIS.data[:101]]
    assert as_user("alice").post("/api/v1/inputs", json=rows[:100]).status_code == 201
    assert interactive_queue(redis).count == 1
    assert as_user("alice").post("/api/v1/inputs", json=rows).status_code == 201
    assert prediction_queue(redis).count == 1


def test_an_interactive_worker_takes_only_small_submissions(as_user, db, redis, monkeypatch):
    monkeypatch.setattr(predict, "mongo_db", lambda: db)
    monkeypatch.setattr(worker, "mongo_db", lambda: db)
    kinds = {kind: [queue.name for queue in worker.queues_of(kind, redis)]
             for kind in worker.KINDS.values()}
    assert kinds == {"worker": [settings.INTERACTIVE_QUEUE_NAME, settings.QUEUE_NAME, "training"],
                     "interactive-worker": [settings.INTERACTIVE_QUEUE_NAME],
                     "callback-worker": ["callbacks"]}
    as_user("alice").post("/api/v1/batches?model=iris", data=CSV,
                          headers={"Content-Type": "text/csv"})
    single = as_user("bob").post("/api/v1/inputs", json={
        "model": "iris", "features": list(IRIS.data[0])}).json
    worker.PredictionWorker(worker.queues_of("interactive-worker", redis),
                            connection=redis).work(burst=True)
    assert db.predictions.find_one({"_id": ObjectId(single["prediction"])})["status"] == "done"
    assert prediction_queue(redis).count == 3  # the file's chunks left for the others


def test_health_counts_each_live_prediction_worker_once(client, redis):
    """Each worker once, whichever of the two queues it takes; one killed (registered in
    RQ still, for minutes, but its liveness key gone) not at all."""
    both = worker.PredictionWorker(worker.queues_of("worker", redis), connection=redis)
    small = worker.PredictionWorker(worker.queues_of("interactive-worker", redis),
                                    connection=redis)
    killed = worker.PredictionWorker(worker.queues_of("worker", redis), connection=redis)
    for registered in (both, small, killed):
        registered.register_birth()
    for live in (both, small):
        redis.set(alive_key(live.name), 1, ex=10)
    try:
        assert client.get("/api/v1/health").json["workers"] == 2
        redis.delete(alive_key(small.name))
        assert client.get("/api/v1/health").json["workers"] == 1
    finally:
        for registered in (both, small, killed):
            registered.register_death()
