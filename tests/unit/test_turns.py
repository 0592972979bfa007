"""Files take turns (core/queue.py: Turns): a file's chunks wait in the queue a few at
a time and each further one is queued when the one before it ends, behind what other
files queued meanwhile; a cancel takes the waiting ones too; and the reconciler enqueues
anew the rows of a chunk whose turn will never come."""
from datetime import datetime, timedelta, timezone

import pytest
from bson import ObjectId
from rq.job import Job, JobStatus

from core.queue import prediction_queue
from jobs import predict, worker
from jobs.reconcile import reconcile
from service.batches import files as batch_files
from tests.unit.test_batches import URL, iris_csv, upload


@pytest.fixture
def one_chunk_in_turn(app, monkeypatch, db):
    """Files of 3 chunks of 10 rows, one chunk of each file queued at a time, one chunk
    per model call."""
    monkeypatch.setattr(batch_files, "CHUNK_ROWS", 10)
    monkeypatch.setattr("settings.CHUNK_SIZE", 10)
    monkeypatch.setattr("settings.COALESCE_MAX_ROWS", 10)
    monkeypatch.setitem(app.config, "FILE_CHUNKS_QUEUED", 1)
    monkeypatch.setattr(predict, "mongo_db", lambda: db)
    monkeypatch.setattr(worker, "mongo_db", lambda: db)


ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]] * 10  # 30 rows


def run_workers(redis):
    worker.PredictionWorker([prediction_queue(redis)], connection=redis).work(burst=True)


def jobs_of(db, redis, batch_id):
    ids = db.predictions.distinct("job", {"batch": batch_id})
    return [Job.fetch(job_id, connection=redis) for job_id in ids]


def test_two_files_take_turns(one_chunk_in_turn, as_user, db, redis):
    first = upload(as_user("alice"), iris_csv(ROWS)).get_json()
    second = upload(as_user("bob"), iris_csv(ROWS)).get_json()
    queue = prediction_queue(redis)
    assert queue.count == 2 and queue.deferred_job_registry.count == 4
    run_workers(redis)
    ended = sorted((job.ended_at, job.meta["batch"])
                   for batch in (first, second)
                   for job in jobs_of(db, redis, ObjectId(batch["_id"])))
    order = [batch for _, batch in ended]
    assert order == [first["_id"], second["_id"]] * 3  # not the first file's three first
    for batch, who in ((first, "alice"), (second, "bob")):
        done = as_user(who).get(f"{URL}/{batch['_id']}").get_json()
        assert (done["status"], done["done"], done["cancelled"]) == ("done", 30, 0)
    assert queue.deferred_job_registry.count == 0


def test_a_cancel_takes_the_chunks_waiting_for_their_turn(one_chunk_in_turn, as_user, db,
                                                          redis):
    batch = upload(as_user("alice"), iris_csv(ROWS)).get_json()
    cancelled = as_user("alice").post(f"{URL}/{batch['_id']}/cancel").get_json()
    assert (cancelled["status"], cancelled["cancelled"]) == ("cancelled", 30)
    queue = prediction_queue(redis)
    assert queue.count == 0 and queue.deferred_job_registry.count == 0
    run_workers(redis)
    assert db.predictions.count_documents({"status": "cancelled"}) == 30


def test_rows_whose_turn_never_comes_are_enqueued_anew(one_chunk_in_turn, as_user, db,
                                                       redis):
    batch = upload(as_user("alice"), iris_csv(ROWS)).get_json()
    queue = prediction_queue(redis)
    [first] = queue.get_jobs()
    first.delete()  # lost: nothing will queue the chunks waiting for it
    later = datetime.now(timezone.utc) + timedelta(minutes=5)
    # the lost chunk's rows, and those of the chunks stranded behind it (found in this
    # pass or, behind one deleted in this pass, in the next)
    requeued = reconcile(db, redis, now=later)["requeued"]
    run_workers(redis)
    requeued += reconcile(db, redis, now=later + timedelta(minutes=5))["requeued"]
    run_workers(redis)
    assert requeued == 30 and queue.deferred_job_registry.count == 0
    done = as_user("alice").get(f"{URL}/{batch['_id']}").get_json()
    assert (done["status"], done["done"]) == ("done", 30)
    assert db.predictions.count_documents({"status": "done"}) == 30


def test_a_chunk_whose_turn_came_but_was_not_queued_is_queued_after_the_next_job(
        one_chunk_in_turn, as_user, db, redis, monkeypatch):
    """RQ leaves a ready chunk in its ready registry when another worker changed that
    registry at the same moment; the end of the next job queues it, not maintenance."""
    upload(as_user("alice"), iris_csv(ROWS))
    upload(as_user("bob"), iris_csv(ROWS))
    queue = prediction_queue(redis)
    stuck = queue.deferred_job_registry.get_job_ids()[-1]  # the last file's last chunk
    predict_chunk = predict.predict_chunk

    def leave_one_ready(*args):
        """During the first job (after the worker's start-up maintenance): the chunk is
        moved to ready, as RQ does, then not queued."""
        if queue.deferred_job_registry.get_job_count(cleanup=False) == 4:
            job = queue.fetch_job(stuck)
            queue.deferred_job_registry.remove(job)
            job.set_status(JobStatus.READY_TO_ENQUEUE)
            queue.ready_job_registry.add(job)
        return predict_chunk(*args)
    monkeypatch.setattr(predict, "predict_chunk", leave_one_ready)
    worker.PredictionWorker([queue], connection=redis).work(burst=True, max_jobs=1)
    assert queue.ready_job_registry.get_job_count(cleanup=False) == 0
    assert stuck in queue.get_job_ids()
