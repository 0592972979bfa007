"""Writing job progress and results into prediction documents.

Every write filters on `_id` alone and goes out in bulk batches of WRITE_BATCH. MongoDB
takes any batch size; FerretDB v1 (the development database) uses its _id index only
for a filter that is exactly {_id: ...}, and each statement of an update command holds
one of its 100 SQLite connections until the command ends: concurrent commands that add
up to 100 statements deadlock it. Ten per command leaves room for many workers."""
import hashlib
from datetime import datetime, timezone

from bson import ObjectId
from pymongo import UpdateOne

WRITE_BATCH = 10


def now():
    return datetime.now(timezone.utc)


def etag_for(prediction_id, status, stamp):
    return hashlib.sha1(f"{prediction_id}/{status}/{stamp.isoformat()}".encode()).hexdigest()


def bulk_update(db, updates):
    for start in range(0, len(updates), WRITE_BATCH):
        db.predictions.bulk_write(updates[start:start + WRITE_BATCH], ordered=False)


def status_update(prediction_id, status, fields, stamp, inc=None):
    """$set the fields plus a new _updated and _etag, so that Eve's conditional GETs
    (If-None-Match) see the change."""
    change = {"$set": {"status": status, "_updated": stamp,
                       "_etag": etag_for(prediction_id, status, stamp), **fields}}
    if inc:
        change["$inc"] = inc
    return UpdateOne({"_id": ObjectId(prediction_id)}, change)


def mark_queued(db, prediction_ids, job_id):
    stamp = now()
    bulk_update(db, [status_update(pid, "queued", {"job": job_id, "queued_at": stamp}, stamp)
                     for pid in prediction_ids])


def mark_running(db, prediction_ids):
    stamp = now()
    bulk_update(db, [status_update(pid, "running", {"started_at": stamp}, stamp,
                                   inc={"attempts": 1}) for pid in prediction_ids])


def write_outcomes(db, prediction_ids, outcomes):
    """outcomes: [("done", result) | ("failed", error), ...] in prediction_ids order.
    Rewriting the same outcome is harmless: a model gives the same result for the same
    row, so a retried chunk converges on the same documents."""
    stamp = now()
    updates = []
    for pid, (status, value) in zip(prediction_ids, outcomes):
        field = "result" if status == "done" else "error"
        updates.append(status_update(pid, status, {field: value, "finished_at": stamp}, stamp))
    bulk_update(db, updates)


def mark_failed(db, prediction_ids, error):
    write_outcomes(db, prediction_ids, [("failed", error)] * len(prediction_ids))
