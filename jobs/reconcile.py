"""The reconciler: predictions whose RQ job is gone are enqueued again.

It finds predictions still `queued` or `running` with no change for STALE_AFTER
seconds, and asks RQ about each one's job. A job that is waiting, scheduled or running
is left alone. Otherwise (Redis lost it, or it ended without a write-back) the
predictions are enqueued again with their inputs' features, or marked `failed` after
MAX_ATTEMPTS, or deleted when their input was never stored (the API died mid-request).
Write-back is idempotent, so a prediction enqueued twice still ends with one result."""
import logging
from datetime import datetime, timedelta, timezone
from itertools import groupby

from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from . import writeback
from .queue import enqueue_chunks, plan_chunks, prediction_queue

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(seconds=60)
MAX_ATTEMPTS = 5
BATCH = 1000
ALIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def job_is_alive(job_id, connection):
    try:
        return Job.fetch(job_id, connection=connection).get_status() in ALIVE
    except NoSuchJobError:
        return False


def stale_predictions(db, now):
    return list(db.predictions.find(
        {"status": {"$in": ["queued", "running"]}, "_updated": {"$lt": now - STALE_AFTER}},
        {"_id": 1, "input": 1, "job": 1, "model": 1, "version": 1, "attempts": 1},
    ).limit(BATCH))


def orphaned(db, connection, now):
    """Stale predictions whose job is not alive."""
    by_job = lambda p: p.get("job") or ""  # noqa: E731
    found = []
    for job_id, group in groupby(sorted(stale_predictions(db, now), key=by_job), key=by_job):
        if not job_is_alive(job_id, connection):
            found.extend(group)
    return found


def reconcile(db, connection, now=None):
    """One pass; returns counts of what it did."""
    now = now or datetime.now(timezone.utc)
    requeue, give_up, never_stored = [], [], []
    for prediction in orphaned(db, connection, now):
        source = db.inputs.find_one({"_id": prediction["input"]}, {"features": 1})
        if source is None:
            never_stored.append(prediction["_id"])
        elif prediction.get("attempts", 0) >= MAX_ATTEMPTS:
            give_up.append(str(prediction["_id"]))
        else:
            requeue.append({**prediction, "_id": prediction["input"],
                            "features": source["features"], "prediction": prediction["_id"]})
    if never_stored:
        db.predictions.delete_many({"_id": {"$in": never_stored}})
    if give_up:
        writeback.mark_failed(db, give_up, {"type": "GaveUp", "message":
                                            f"no result after {MAX_ATTEMPTS} attempts"})
    chunks = plan_chunks(requeue)
    for job_id, _, _, rows in chunks:
        writeback.mark_queued(db, [str(r["prediction"]) for r in rows], job_id)
    if chunks:
        enqueue_chunks(prediction_queue(connection), chunks, request_id="reconciler")
    counts = {"requeued": len(requeue), "failed": len(give_up), "deleted": len(never_stored)}
    if any(counts.values()):
        log.warning("reconciled predictions: %s", counts)
    return counts
