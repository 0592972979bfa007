"""The reconciler puts orphaned predictions back on the queue, and nothing else."""
from datetime import datetime, timedelta, timezone

import pymongo.errors
from bson import ObjectId
from rq import SimpleWorker

from core.liveness import alive_key
from core.queue import prediction_queue
from jobs import predict
from jobs.reconcile import MAX_ATTEMPTS, reconcile

IRIS_ROW = [5.1, 3.5, 1.4, 0.2]
def later():
    """Past the reconciler's staleness threshold, from now."""
    return datetime.now(timezone.utc) + timedelta(minutes=5)


def orphan(db, attempts=0, with_input=True, job="lost-job", status="queued"):
    input_id, prediction_id = ObjectId(), ObjectId()
    if with_input:
        db.inputs.insert_one({"_id": input_id, "model": "iris", "version": 1,
                              "features": IRIS_ROW, "prediction": prediction_id})
    db.predictions.insert_one({"_id": prediction_id, "input": input_id, "model": "iris",
                               "version": 1, "status": status, "attempts": attempts,
                               "job": job, "_updated": datetime.now(timezone.utc)})
    return prediction_id


def test_prediction_whose_job_is_gone_is_enqueued_again(db, redis):
    pid = orphan(db)
    assert reconcile(db, redis, now=later()) == {"requeued": 1, "failed": 0, "deleted": 0, "resumed_jobs": 0}
    document = db.predictions.find_one({"_id": pid})
    assert document["status"] == "queued" and document["job"] != "lost-job"
    [job] = prediction_queue(redis).jobs
    assert job.id == document["job"] and job.args[2] == [str(pid)]
    assert job.args[3] == [IRIS_ROW]


def test_a_job_that_finishes_while_the_reconciler_looks_is_not_run_again(
        db, redis, monkeypatch):
    """The reconciler reads a stale row, then asks RQ about its job; the job finishes in
    between (its row written first): the row is finished, not orphaned."""
    from jobs import reconcile as reconciler
    pid = orphan(db)
    state = reconciler.job_state

    def job_finishing_meanwhile(job_id, connection):
        db.predictions.update_one({"_id": pid}, {"$set": {"status": "done"}})
        return state(job_id, connection)
    monkeypatch.setattr(reconciler, "job_state", job_finishing_meanwhile)
    assert reconcile(db, redis, now=later())["requeued"] == 0
    assert db.predictions.find_one({"_id": pid})["status"] == "done"
    assert prediction_queue(redis).count == 0


def test_running_prediction_of_a_lost_job_is_enqueued_again(db, redis):
    orphan(db, status="running", attempts=1)
    assert reconcile(db, redis, now=later())["requeued"] == 1


def test_prediction_whose_job_is_still_queued_is_left_alone(db, redis, as_user):
    body = as_user("alice").post("/api/v1/inputs", json={"model": "iris",
                                                         "features": IRIS_ROW}).json
    assert reconcile(db, redis, now=later()) == {"requeued": 0, "failed": 0, "deleted": 0, "resumed_jobs": 0}
    assert prediction_queue(redis).count == 1
    assert db.predictions.find_one({"_id": ObjectId(body["prediction"])})["status"] == "queued"


def test_recent_predictions_are_not_touched(db, redis):
    orphan(db)
    assert reconcile(db, redis)["requeued"] == 0


def test_prediction_without_a_stored_input_is_deleted(db, redis):
    orphan(db, with_input=False)
    assert reconcile(db, redis, now=later())["deleted"] == 1
    assert db.predictions.count_documents({}) == 0


def test_prediction_that_keeps_failing_is_given_up_on(db, redis):
    pid = orphan(db, attempts=MAX_ATTEMPTS)
    assert reconcile(db, redis, now=later())["failed"] == 1
    document = db.predictions.find_one({"_id": pid})
    assert document["status"] == "failed" and document["error"]["type"] == "GaveUp"
    assert prediction_queue(redis).count == 0


def test_redis_losing_its_data_loses_no_prediction(db, redis, as_user, monkeypatch):
    rows = [{"model": "iris", "features": IRIS_ROW}] * 30
    assert as_user("alice").post("/api/v1/inputs", json=rows).status_code == 201
    redis.flushall()
    assert reconcile(db, redis, now=later())["requeued"] == 30
    monkeypatch.setattr(predict, "mongo_db", lambda: db)
    SimpleWorker([prediction_queue(redis)], connection=redis).work(burst=True)
    assert db.predictions.count_documents({"status": "done"}) == 30
    assert db.inputs.count_documents({}) == 30 and db.predictions.count_documents({}) == 30


def test_failed_insert_of_inputs_leaves_no_prediction_behind(app, db, redis, as_user,
                                                           monkeypatch):
    def insert_fails(resource, documents):
        raise pymongo.errors.AutoReconnect("connection lost mid-request")

    monkeypatch.setattr(app.data, "insert", insert_fails)
    response = as_user("alice").post("/api/v1/inputs", json={"model": "iris",
                                                             "features": IRIS_ROW})
    assert response.status_code == 503
    assert db.predictions.count_documents({}) == 0 and db.inputs.count_documents({}) == 0
    assert prediction_queue(redis).count == 0


def test_job_of_a_dead_worker_is_put_back_on_the_queue_as_it_is(db, redis, as_user):
    body = as_user("alice").post("/api/v1/inputs", json={"model": "iris",
                                                         "features": IRIS_ROW}).json
    queue = prediction_queue(redis)
    [job] = queue.jobs
    job.set_status("started")  # as a worker does when it takes the job...
    job.worker_name = "killed-worker"  # ...and then dies without a liveness key
    job.save()
    redis.lrem(queue.key, 0, job.id)  # taken off the queue, as a worker does
    counts = reconcile(db, redis, now=later())
    assert counts["resumed_jobs"] == 1 and counts["requeued"] == 0
    assert [j.id for j in queue.jobs] == [job.id]
    prediction = db.predictions.find_one({"_id": ObjectId(body["prediction"])})
    assert prediction["job"] == job.id


def test_queued_job_taken_off_its_queue_by_a_dead_worker_is_put_back(db, redis, as_user):
    as_user("alice").post("/api/v1/inputs", json={"model": "iris", "features": IRIS_ROW})
    queue = prediction_queue(redis)
    [job] = queue.jobs
    redis.lrem(queue.key, 0, job.id)  # a batch took it (LREM), and its worker died
    assert job.get_status() == "queued"
    assert reconcile(db, redis, now=later())["resumed_jobs"] == 1
    assert [j.id for j in queue.jobs] == [job.id]
    assert reconcile(db, redis, now=later())["resumed_jobs"] == 0  # waiting: left alone


def test_job_a_worker_took_into_rqs_intermediate_queue_then_was_cut_off_is_put_back(
        db, redis, as_user):
    """Taken by a worker (BLMOVE to RQ's intermediate queue) that lost its network before
    starting it: RQ itself would fail it only a minute after its cleanup first sees it."""
    as_user("alice").post("/api/v1/inputs", json={"model": "iris", "features": IRIS_ROW})
    queue = prediction_queue(redis)
    [job] = queue.jobs
    redis.lmove(queue.key, queue.intermediate_queue_key)
    assert job.get_status() == "queued"
    assert reconcile(db, redis, now=later())["resumed_jobs"] == 1
    assert [j.id for j in queue.jobs] == [job.id]
    assert redis.lrange(queue.intermediate_queue_key, 0, -1) == []


def test_a_backlog_of_waiting_rows_does_not_hide_a_dead_workers_rows(db, redis, as_user,
                                                                    monkeypatch):
    """More stale `queued` rows than one pass reads (rows waiting in the queue, or their
    turn): the `running` rows of a worker that died are still found."""
    import jobs.reconcile
    monkeypatch.setattr(jobs.reconcile, "BATCH", 3)
    for _ in range(4):  # waiting in the queue: alive
        as_user("alice").post("/api/v1/inputs", json={"model": "iris", "features": IRIS_ROW})
    queue = prediction_queue(redis)
    job = queue.jobs[-1]
    job.set_status("started")
    job.worker_name = "cut-off-worker"
    job.save()
    redis.lrem(queue.key, 0, job.id)
    db.predictions.update_many({"job": job.id}, {"$set": {"status": "running"}})
    assert reconcile(db, redis, now=later())["resumed_jobs"] == 1
    assert job.id in queue.job_ids


def test_job_of_a_live_worker_is_left_running(db, redis, as_user):
    as_user("alice").post("/api/v1/inputs", json={"model": "iris", "features": IRIS_ROW})
    queue = prediction_queue(redis)
    [job] = queue.jobs
    job.set_status("started")
    job.worker_name = "busy-worker"
    job.save()
    redis.lrem(queue.key, 0, job.id)  # taken off the queue, as a worker does
    redis.set(alive_key("busy-worker"), 1, ex=10)
    assert reconcile(db, redis, now=later())["resumed_jobs"] == 0
    assert queue.count == 0


def test_a_worker_stops_showing_alive_when_its_work_ends(redis, monkeypatch):
    """A burst worker (the benchmark's no-op run) or a stopped one stops refreshing its
    liveness key instead of writing to Redis from a thread forever."""
    from jobs.worker import PredictionWorker
    monkeypatch.setattr(PredictionWorker, "run_maintenance_tasks", lambda self: None)
    worker = PredictionWorker([prediction_queue(redis)], connection=redis)
    worker.work(burst=True)
    assert worker.liveness_stopped.is_set()
    assert redis.exists(alive_key(worker.name)) == 1  # left to expire after its TTL
