"""Batches (POST /api/v1/batches, service/batches.py): a file of rows, each an ordinary
input and prediction with a `batch` field. This module keeps a batch's counters.

Row ids: the n-th row's input and prediction ids are the batch's own prefixes (the
batch's timestamp, then 5 random bytes, one prefix for inputs, one for predictions)
followed by n in 3 bytes. A batch's rows are then one `_id` range, in file order, which
the database reads by its `_id` index (results, cancel) without a `row` field to index.

Counters: `done`, `failed` and `cancelled` are kept on the batch document, so reading
them costs one lookup. A worker adds a job's rows once it has written them; the job's id
goes into the batch's `counted` list in the same update, so a job run twice (retried,
or resumed after a crash) is counted once. Cancelling counts the rows it takes from
`queued` to `cancelled`, each once: the workers' writes skip a cancelled row
(jobs/writeback.py), and only one update can take a row out of `queued`. When the
counters reach `total`, the batch is finished: `done`, or `cancelled` when any row was.
Should a count still be lost, the reconciler recounts a batch that has no row left to
finish (repair)."""
import os
from datetime import datetime, timezone

from bson import ObjectId
from pymongo import ReturnDocument

from . import callbacks, writeback
from .writeback import etag_for

UNFINISHED = ("queued", "running")
MAX_ROWS = 2**24 - 1  # what 3 bytes of row number hold


def new_prefixes(batch_id):
    """{"inputs": hex, "predictions": hex}: 9 bytes each, the batch's timestamp first."""
    return {kind: (batch_id.binary[:4] + os.urandom(5)).hex()
            for kind in ("inputs", "predictions")}


def row_id(prefix, row):
    """The id of row `row` (1 = the first row after the header)."""
    return ObjectId(bytes.fromhex(prefix) + row.to_bytes(3, "big"))


def row_of(document_id):
    return int.from_bytes(document_id.binary[9:], "big")


def rows_filter(prefix, total, first=1):
    """The rows first..total of a batch, as an `_id` range."""
    return {"_id": {"$gte": row_id(prefix, first), "$lte": row_id(prefix, total)}}


def now():
    return datetime.now(timezone.utc)


def touch(batch_id, what):
    stamp = now()
    return {"_updated": stamp, "_etag": etag_for(str(batch_id), what, stamp)}


def count_job(db, batch_id, job_id, done, failed):
    """Add a job's written rows to its batch, once per job. Returns the batch after the
    update, or None when the job had been counted (or the batch is gone)."""
    return db.batches.find_one_and_update(
        {"_id": ObjectId(batch_id), "counted": {"$ne": job_id}},
        {"$inc": {"done": done, "failed": failed}, "$push": {"counted": job_id},
         "$set": touch(batch_id, f"{job_id}/{done}/{failed}")},
        projection={"counted": 0}, return_document=ReturnDocument.AFTER)


def mark_running(db, batch):
    if batch is not None and batch.get("status") == "queued":
        db.batches.update_one({"_id": batch["_id"], "status": "queued"},
                              {"$set": {"status": "running", **touch(batch["_id"], "running")}})


def cancel_rows(db, batch_id, rows_filter_):
    """Take the batch's rows that match and are still `queued` to `cancelled`, and count
    them. Returns the batch after the update."""
    stamp = now()
    taken = db.predictions.update_many(
        {**rows_filter_, "status": "queued"},
        {"$set": {"status": "cancelled", "finished_at": stamp, "_updated": stamp,
                  "_etag": etag_for(str(batch_id), "cancelled", stamp)}}).modified_count
    return db.batches.find_one_and_update(
        {"_id": ObjectId(batch_id)},
        {"$inc": {"cancelled": taken}, "$set": touch(batch_id, f"cancel/{taken}")},
        projection={"counted": 0}, return_document=ReturnDocument.AFTER)


def is_complete(batch):
    return batch["done"] + batch["failed"] + batch["cancelled"] >= batch["total"]


def finish_if_complete(db, batch):
    """Set the final status once the counters reach total. True for the one caller that
    did (it announces the batch and calls it back)."""
    if batch is None or not batch.get("stored") or not is_complete(batch):
        return False
    final = "cancelled" if batch["cancelled"] else "done"
    stamp = now()
    result = db.batches.update_one(
        {"_id": batch["_id"], "status": {"$in": list(UNFINISHED)}},
        {"$set": {"status": final, "finished_at": stamp, **touch(batch["_id"], final)}})
    return result.modified_count == 1


def cancel_requested(db, batch_ids):
    """The ids, among batch_ids, of batches whose cancellation was asked for."""
    if not batch_ids:
        return set()
    return {str(b["_id"]) for b in db.batches.find(
        {"_id": {"$in": [ObjectId(b) for b in batch_ids]}, "cancel_requested": True},
        {"_id": 1})}


def recount(db, batch):
    """The batch's counters read from its rows; None while a row is unfinished."""
    counts = {"done": 0, "failed": 0, "cancelled": 0}
    for prediction in db.predictions.find(
            rows_filter(batch["rows"]["predictions"], batch["total"]), {"status": 1}):
        status = prediction.get("status")
        if status in UNFINISHED:
            return None
        if status in counts:
            counts[status] += 1
    return counts


def finished(db, connection, batch):
    """After a batch's counters changed: finish it if they are complete, and then tell
    the long-polling requests and its callback_url."""
    if finish_if_complete(db, batch):
        writeback.announce(connection, [str(batch["_id"])])
        if batch.get("callback_url"):
            callbacks.enqueue_deliveries(connection, {str(batch["_id"]): batch["callback_url"]},
                                         collection="batches")


def count_jobs(db, connection, counts):
    """counts: [(job, done, failed), ...] of jobs whose rows were just written."""
    for job, done, failed in counts:
        batch_id = job.meta.get("batch") if job is not None else None
        if batch_id:
            batch = count_job(db, batch_id, job.id, done, failed)
            mark_running(db, batch)
            finished(db, connection, batch)


def cancel_jobs(db, connection, jobs):
    """The rows of these jobs, whose batches are being cancelled, are cancelled here
    rather than predicted (those still queued; a row already written stays as it is)."""
    for job in jobs:
        batch = cancel_rows(db, job.meta["batch"],
                            {"_id": {"$in": [ObjectId(pid) for pid in job.args[2]]}})
        count_job(db, job.meta["batch"], job.id, 0, 0)
        finished(db, connection, batch)
