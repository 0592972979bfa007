"""The reconciler: predictions whose RQ job is gone are enqueued again.

It finds predictions still `queued` or `running` with no change for
RECONCILE_STALE_SECONDS, and asks RQ about each one's job. A job that is waiting,
scheduled, or running on a live worker is left alone. A job started by a worker that
died, or `queued` but in no queue (taken by a worker that died or lost its network
before starting it: into a model call, jobs/coalescing.py, or into RQ's intermediate queue),
is put back on the queue as it is (same id). A file's
job waiting for its turn (core/queue.py: Turns) whose turn will never come (the job
before it ended long ago, was cancelled, or is gone) is deleted, and its predictions
treated as those of a job that is gone (Redis lost it, or it ended without a
write-back): the predictions are enqueued again with their inputs' features, or marked
`failed` after MAX_ATTEMPTS, or deleted when their input was never stored (the API died
mid-request).
Write-back is idempotent, so a prediction enqueued twice still ends with one result."""
import logging
from datetime import datetime, timedelta, timezone
from itertools import groupby
from typing import Any, Literal, cast

import redis
from bson import ObjectId
from pymongo.database import Database
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

import settings
from core import batches, finished
from core.documents import QUEUED, RUNNING, UNFINISHED
from core.job import PredictionJob
from core.liveness import worker_is_alive
from core.queue import worker_queues
from core.types import InputItem

from . import writeback

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BATCH = 1000
# READY_TO_ENQUEUE: a job whose turn has come, between RQ's moving it out of the
# deferred jobs and its queueing (RQ's ReadyJobRegistry recovers one left there)
ALIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED,
         JobStatus.READY_TO_ENQUEUE}
JobState = Literal["alive", "abandoned", "stranded", "gone"]


def waiting_in_queue(connection: redis.Redis, job: Job) -> bool:
    """Whether the job waits in its queue. One that a worker has moved to RQ's
    intermediate queue (taken, not yet started) does not: its rows unchanged for
    RECONCILE_STALE_SECONDS, that worker died or lost its network as it took it, and
    RQ would retry it only minutes later (IntermediateQueue.cleanup)."""
    return connection.lpos(worker_queues(connection).origin(job).key, job.id) is not None


def resume(connection: redis.Redis, job: Job) -> None:
    """Put an abandoned job back on its queue (same id), and out of the intermediate
    queue and of the started registry (its dead worker's execution), so that RQ's cleanup
    does not fail or retry it later."""
    queue = worker_queues(connection).origin(job)
    connection.lrem(queue.intermediate_queue_key, 0, job.id)
    queue.started_job_registry.remove_executions(job)
    queue.enqueue_job(job)


def resume_started_on_dead_workers(connection: redis.Redis) -> int:
    """Jobs that a worker started and died with, whatever their rows say: one that had
    written its rows and not counted them yet has no stale row for `orphaned` to find,
    and RQ's own cleanup would see it only once its heartbeat expires (the job's whole
    timeout later). Put back now, its rerun counts that write (jobs/monitoring.py)."""
    resumed = 0
    for queue in worker_queues(connection).both():
        for job_id in queue.started_job_registry.get_job_ids(cleanup=False):
            state, job = job_state(job_id, connection)
            if state == "abandoned" and job is not None:
                resume(connection, job)
                resumed += 1
    return resumed


def job_state(job_id: str, connection: redis.Redis) -> tuple[JobState, Job | None]:
    """("alive" | "abandoned" | "stranded" | "gone", job or None)."""
    try:
        job = PredictionJob.fetch(job_id, connection=connection)
    except NoSuchJobError:
        return "gone", None
    status = job.get_status()
    if status == JobStatus.STARTED and not worker_is_alive(connection, job.worker_name):
        return "abandoned", job
    if status == JobStatus.QUEUED and not waiting_in_queue(connection, job):
        return "abandoned", job  # taken off the queue by a worker that died at once
    if status == JobStatus.DEFERRED and not parent_pending(connection, job):
        return "stranded", job  # its turn came and went (core/queue.py: Turns)
    return ("alive" if status in ALIVE else "gone"), job


def parent_pending(connection: redis.Redis, job: Job) -> bool:
    """Whether a job waiting for its turn still has a chunk before it to wait for: one
    waiting, running or retried; else (the parent ended long enough ago, was cancelled
    or is gone) nothing will queue it but the reconciler."""
    for parent_id in job.dependency_ids:
        try:
            parent = PredictionJob.fetch(parent_id, connection=connection)
        except NoSuchJobError:
            continue
        if parent.get_status() in ALIVE:
            return True
        ended = parent.ended_at
        if ended is not None and (datetime.now(timezone.utc) - ended.replace(
                tzinfo=timezone.utc)).total_seconds() < settings.RECONCILE_STALE_SECONDS:
            return True  # just ended: RQ is queueing its dependents
    return False


def stale_predictions(db: Database[Any], now: datetime) -> list[dict[str, Any]]:
    """Unfinished predictions unchanged for RECONCILE_STALE_SECONDS, up to BATCH of each
    status: the `running` ones (the rows workers hold, few) apart from the `queued` ones,
    so that a backlog of rows waiting their turn never hides the rows of a worker that
    died."""
    stale_after = timedelta(seconds=settings.RECONCILE_STALE_SECONDS)
    return [prediction for status in (RUNNING, QUEUED) for prediction in db.predictions.find(
        {"status": status, "_updated": {"$lt": now - stale_after}},
        {"_id": 1, "input": 1, "job": 1, "model": 1, "version": 1, "attempts": 1,
         "callback_url": 1, "batch": 1},
    ).limit(BATCH)]


def orphaned(db: Database[Any], connection: redis.Redis,
             now: datetime) -> tuple[list[dict[str, Any]], int]:
    """Stale predictions whose job is gone, after putting abandoned jobs back on the
    queue; returns (predictions, number of jobs resumed)."""
    by_job = lambda p: p.get("job") or ""  # noqa: E731
    found: list[dict[str, Any]] = []
    resumed = 0
    for job_id, group in groupby(sorted(stale_predictions(db, now), key=by_job), key=by_job):
        state, job = job_state(job_id, connection)
        if state == "abandoned":
            assert job is not None
            resume(connection, job)
            resumed += 1
        elif state == "stranded":  # RQ would not queue it now: enqueued anew, as if gone
            assert job is not None
            job.delete()
            found.extend(group)
        elif state == "gone":
            found.extend(group)
    return still_unfinished(db, found), resumed


def still_unfinished(db: Database[Any], predictions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Those of the predictions that are still unfinished, and still their job's, read
    again now: a job that finished between the first read and the question to RQ wrote
    its rows before RQ knew it finished, so they are finished now, not orphaned (enqueued
    again they would run twice, and count twice in their batch)."""
    if not predictions:
        return []
    now_unfinished = {(p["_id"], p.get("job")) for p in db.predictions.find(
        {"_id": {"$in": [p["_id"] for p in predictions]},
         "status": {"$in": list(UNFINISHED)}}, {"job": 1})}
    return [p for p in predictions if (p["_id"], p.get("job")) in now_unfinished]


def reconcile(db: Database[Any], connection: redis.Redis, now: datetime | None = None) -> dict[str, int]:
    """One pass; returns counts of what it did."""
    now = now or datetime.now(timezone.utc)
    requeue: list[InputItem] = []
    give_up: list[str] = []
    never_stored: list[ObjectId] = []
    predictions, resumed = orphaned(db, connection, now)
    resumed += resume_started_on_dead_workers(connection)
    for prediction in predictions:
        source = db.inputs.find_one({"_id": prediction["input"]}, {"features": 1})
        if source is None:
            never_stored.append(prediction["_id"])
        elif prediction.get("attempts", 0) >= MAX_ATTEMPTS:
            give_up.append(str(prediction["_id"]))
        else:
            requeue.append(cast(InputItem, {  # the prediction as its input, to plan again
                **prediction, "_id": prediction["input"], "features": source["features"],
                "prediction": prediction["_id"]}))
    if never_stored:
        db.predictions.delete_many({"_id": {"$in": never_stored}})
    if give_up:
        writeback.mark_failed(db, give_up, {"type": "GaveUp", "message":
                                            f"no result after {MAX_ATTEMPTS} attempts"})
        finished.announce(connection, give_up)
        worker_queues(connection).enqueue_deliveries({
            pid: p["callback_url"] for p in predictions
            if (pid := str(p["_id"])) in give_up and p.get("callback_url")})
    queues = worker_queues(connection)
    chunks = queues.plan(requeue)
    for job_id, _, _, rows in chunks:
        writeback.mark_queued(db, [str(r["prediction"]) for r in rows], job_id)
    if chunks:
        queues.enqueue_chunks(queues.predictions(), chunks, request_id="reconciler")
    counts = {"requeued": len(requeue), "failed": len(give_up), "deleted": len(never_stored),
              "resumed_jobs": resumed}
    if any(counts.values()):
        log.warning("reconciled predictions: %s", counts)
    return counts


def repair_batches(db: Database[Any], connection: redis.Redis,
                   now: datetime | None = None) -> dict[str, int]:
    """Batches not finished and unchanged for RECONCILE_STALE_SECONDS: one whose rows are
    all finished has its counters recounted from them and is finished (a count was lost:
    rows given up above, a worker killed between its write and its count); one never
    fully stored (the API died while storing it) is deleted with its rows, as its
    request never answered 201."""
    now = now or datetime.now(timezone.utc)
    stale_after = timedelta(seconds=settings.RECONCILE_STALE_SECONDS)
    repaired = deleted = 0
    for batch in db.batches.find({"status": {"$in": list(UNFINISHED)},
                                  "_updated": {"$lt": now - stale_after}},
                                 {"counted": 0}).limit(100):
        if not batch.get("stored"):
            for kind in ("predictions", "inputs"):
                db[kind].delete_many(batches.rows_filter(batch["rows"][kind], batch["total"]))
            db.batches.delete_one({"_id": batch["_id"]})
            deleted += 1
            continue
        counts = batches.recount(db, batch)
        if counts is None:
            continue
        batch = batches.update(db, batch["_id"], {"$set": counts}, what="recount")
        batches.finished(db, worker_queues(connection), batch)
        repaired += 1
    if repaired or deleted:
        log.warning("repaired batches: %d recounted, %d never stored deleted", repaired, deleted)
    return {"recounted": repaired, "deleted": deleted}
