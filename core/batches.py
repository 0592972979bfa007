"""Batches (POST /api/v1/batches, service/batches/): a file of rows, each an ordinary
input and prediction with a `batch` field. This module names a batch's rows and keeps
its counters, for the API (storing, cancelling) and the workers (counting).

Row ids: the n-th row's input and prediction ids are the batch's own prefixes (the
batch's timestamp, then 5 random bytes, one prefix for inputs, one for predictions)
followed by n in 3 bytes. A batch's rows are then one `_id` range, in file order, which
the database reads by its `_id` index (results, cancel) without a `row` field to index.

Counters: `done`, `failed` and `cancelled` are kept on the batch document, so reading
them costs one lookup. A worker adds a job's rows once it has written them; the job's id
goes into the batch's `counted` list in the same update, so a job run twice (retried,
or resumed after a crash) is counted once. When the counters reach `total`, the batch is
finished: `done`, or `cancelled` when any row was. Should a count still be lost, the
reconciler recounts a batch that has no row left to finish (jobs/reconcile.py).

Cancelling: the batch is marked `cancel_requested`; its jobs still in the queue are
taken off it (LREM, which a worker's dequeue cannot also win) and their rows cancelled,
and so are those of its jobs still waiting for their turn (deferred, core/queue.py:
Turns); a job of the batch that a worker starts later (a retry, a chunk stored after the
cancel) cancels its own rows instead of predicting them; a job already running
finishes. So a row is written by one job only, and is never both done and cancelled."""
import os
from collections.abc import Iterable, Mapping
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.database import Database
from rq import Queue
from rq.job import Job

from . import finished as finished_channel
from . import rq_seams
from .documents import CANCELLED, DONE, FAILED, QUEUED, RUNNING, UNFINISHED, etag_for, now
from .queue import Queues

BatchId = ObjectId | str  # a batch's _id, or its string in a job's meta


def new_prefixes(batch_id: ObjectId) -> dict[str, str]:
    """{"inputs": hex, "predictions": hex}: 9 bytes each, the batch's timestamp first."""
    return {kind: (batch_id.binary[:4] + os.urandom(5)).hex()
            for kind in ("inputs", "predictions")}


def row_id(prefix: str, row: int) -> ObjectId:
    """The id of row `row` (1 = the first row after the header)."""
    return ObjectId(bytes.fromhex(prefix) + row.to_bytes(3, "big"))


def row_of(document_id: ObjectId) -> int:
    return int.from_bytes(document_id.binary[9:], "big")


def rows_filter(prefix: str, total: int, first: int = 1) -> dict[str, Any]:
    """The rows first..total of a batch, as an `_id` range."""
    return {"_id": {"$gte": row_id(prefix, first), "$lte": row_id(prefix, total)}}


def touch(batch_id: BatchId, what: str) -> dict[str, Any]:
    stamp = now()
    return {"_updated": stamp, "_etag": etag_for(str(batch_id), what, stamp)}


def update(db: Database[Any], batch_id: BatchId, changes: dict[str, Any],
           condition: dict[str, Any] | None = None, what: str = "update") -> dict[str, Any] | None:
    """Apply `changes` to the batch (when it also matches `condition`), with a new
    _updated and _etag, in one atomic update. Returns the batch after it, or None if
    none matched."""
    changes = {**changes, "$set": {**changes.get("$set", {}), **touch(batch_id, what)}}
    return db.batches.find_one_and_update({"_id": ObjectId(batch_id), **(condition or {})},
                                          changes, return_document=ReturnDocument.AFTER)


def count_job(db: Database[Any], batch_id: BatchId, job_id: str, done: int = 0, failed: int = 0,
              cancelled: int = 0) -> dict[str, Any] | None:
    """Add a job's rows to its batch, once per job. Returns the batch after the update,
    or None when the job had been counted (or the batch is gone)."""
    batch = update(db, batch_id,
                   {"$inc": {"done": done, "failed": failed, "cancelled": cancelled},
                    "$push": {"counted": job_id}},
                   condition={"counted": {"$ne": job_id}}, what=f"{job_id}/{done}/{failed}")
    if batch is not None and batch.get("status") == QUEUED:
        batch = update(db, batch_id, {"$set": {"status": RUNNING}},
                       condition={"status": QUEUED}, what=RUNNING) or batch
    return batch


def is_complete(batch: Mapping[str, Any]) -> bool:
    return batch["done"] + batch["failed"] + batch["cancelled"] >= batch["total"]


def finish_if_complete(db: Database[Any], batch: Mapping[str, Any] | None) -> bool:
    """Set the final status once the counters reach total. True for the one caller that
    did (it announces the batch and calls it back)."""
    if batch is None or not batch.get("stored") or not is_complete(batch):
        return False
    final = CANCELLED if batch["cancelled"] else DONE
    return update(db, batch["_id"], {"$set": {"status": final, "finished_at": now()}},
                  condition={"status": {"$in": list(UNFINISHED)}}, what=final) is not None


def finished(db: Database[Any], queues: Queues, batch: Mapping[str, Any] | None) -> None:
    """After a batch's counters changed: finish it if they are complete, and then tell
    the long-polling requests and its callback_url."""
    if batch is not None and finish_if_complete(db, batch):
        finished_channel.announce(queues.connection, [str(batch["_id"])])
        if batch.get("callback_url"):
            queues.enqueue_deliveries({str(batch["_id"]): batch["callback_url"]},
                                      collection="batches")


def count_jobs(db: Database[Any], queues: Queues, counts: Iterable[tuple[Job | None, int, int]]) -> None:
    """counts: [(job, done, failed), ...] of jobs whose rows were just written."""
    for job, done, failed in counts:
        batch_id = job.meta.get("batch") if job is not None else None
        if batch_id:
            assert job is not None  # a batch id comes from a job's meta
            finished(db, queues, count_job(db, batch_id, job.id, done, failed))


def cancel_rows(db: Database[Any], prediction_ids: list[str]) -> int:
    """Take the rows that are still `queued` to `cancelled`; returns how many."""
    stamp = now()
    return db.predictions.update_many(
        {"_id": {"$in": [ObjectId(pid) for pid in prediction_ids]}, "status": QUEUED},
        {"$set": {"status": CANCELLED, "finished_at": stamp, "_updated": stamp,
                  "_etag": etag_for(prediction_ids[0], CANCELLED, stamp)}}).modified_count


def cancel_jobs(db: Database[Any], queues: Queues, jobs: Iterable[Job]) -> None:
    """Cancel the rows of these jobs of a batch, instead of predicting them."""
    for job in jobs:
        taken = cancel_rows(db, job.args[2])
        finished(db, queues, count_job(db, job.meta["batch"], job.id, cancelled=taken))


def cancel_requested(db: Database[Any], batch_ids: set[str]) -> set[str]:
    """The ids, among batch_ids, of batches whose cancellation was asked for."""
    if not batch_ids:
        return set()
    return {str(b["_id"]) for b in db.batches.find(
        {"_id": {"$in": [ObjectId(b) for b in batch_ids]}, "cancel_requested": True},
        {"_id": 1})}


def of_batch(queue: Queue, job_ids: list[str], batch_id: BatchId) -> list[str]:
    """Those of the jobs that are the batch's (by their meta, without their rows)."""
    return [job_id for job_id, meta in zip(job_ids, rq_seams.metas_of(queue, job_ids))
            if meta.get("batch") == str(batch_id)]


def queued_jobs_of(queue: Queue, batch_id: BatchId) -> list[Job]:
    """Take the batch's jobs off the queue; returns those this call removed."""
    return rq_seams.take_off_queue(queue, of_batch(queue, queue.get_job_ids(), batch_id))


def deferred_jobs_of(queue: Queue, batch_id: BatchId) -> list[Job]:
    """The batch's jobs waiting for their turn (RQ's deferred registry)."""
    mine = of_batch(queue, queue.deferred_job_registry.get_job_ids(), batch_id)
    return [job for job in queue.job_class.fetch_many(mine, connection=queue.connection,
                                                      serializer=queue.serializer)
            if job is not None]


def cancel(db: Database[Any], queues: Queues, batch: Mapping[str, Any]) -> dict[str, Any]:
    """POST /batches/{id}/cancel: see the module's docstring. Returns the batch."""
    batch_id, queue = batch["_id"], queues.predictions()
    update(db, batch_id, {"$set": {"cancel_requested": True}}, what="cancel")
    jobs = queued_jobs_of(queue, batch_id) + deferred_jobs_of(queue, batch_id)
    cancel_jobs(db, queues, jobs)
    for job in jobs:
        job.cancel()  # shown as canceled in RQ (and its dashboard), not as queued
    after: dict[str, Any] | None = db.batches.find_one({"_id": batch_id})
    assert after is not None  # the caller's batch: cancelling does not delete it
    return after


def recount(db: Database[Any], batch: Mapping[str, Any]) -> dict[str, int] | None:
    """The batch's counters read from its rows; None while a row is unfinished."""
    counts = {DONE: 0, FAILED: 0, CANCELLED: 0}
    for prediction in db.predictions.find(
            rows_filter(batch["rows"]["predictions"], batch["total"]), {"status": 1}):
        status = prediction.get("status")
        if status in UNFINISHED:
            return None
        if status in counts:
            counts[status] += 1
    return counts
