"""Writing job progress and results into prediction documents, by `_id`.

A chunk costs two commands: one update_many marks all its predictions running, one
bulk_write sets each one's own result. (FerretDB, the development database, needs the
fixes in tools/ferretdb-v1.24.2.patch for either to use its _id index and not to hang.)"""
import hashlib
from datetime import datetime, timezone

from bson import ObjectId
from pymongo import UpdateOne


def now():
    return datetime.now(timezone.utc)


def etag_for(prediction_id, status, stamp):
    return hashlib.sha1(f"{prediction_id}/{status}/{stamp.isoformat()}".encode()).hexdigest()


def status_update(prediction_id, status, fields, stamp):
    """$set the fields plus a new _updated and _etag, so that Eve's conditional GETs
    (If-None-Match) see the change."""
    return UpdateOne({"_id": ObjectId(prediction_id)},
                     {"$set": {"status": status, "_updated": stamp,
                               "_etag": etag_for(prediction_id, status, stamp), **fields}})


def mark_queued(db, prediction_ids, job_id):
    stamp = now()
    db.predictions.bulk_write(
        [status_update(pid, "queued", {"job": job_id, "queued_at": stamp}, stamp)
         for pid in prediction_ids], ordered=False)


def mark_running(db, prediction_ids):
    """One update for the whole chunk. Its documents share the new _etag, which is
    enough: an ETag has to change when its own document changes, nothing more."""
    stamp = now()
    db.predictions.update_many(
        {"_id": {"$in": [ObjectId(pid) for pid in prediction_ids]}},
        {"$set": {"status": "running", "started_at": stamp, "_updated": stamp,
                  "_etag": etag_for(",".join(prediction_ids), "running", stamp)},
         "$inc": {"attempts": 1}})


def write_outcomes(db, prediction_ids, outcomes):
    """outcomes: [("done", result) | ("failed", error), ...] in prediction_ids order.
    Rewriting the same outcome is harmless: a model gives the same result for the same
    row, so a retried chunk converges on the same documents."""
    stamp = now()
    updates = []
    for pid, (status, value) in zip(prediction_ids, outcomes):
        field = "result" if status == "done" else "error"
        updates.append(status_update(pid, status, {field: value, "finished_at": stamp}, stamp))
    db.predictions.bulk_write(updates, ordered=False)


def mark_failed(db, prediction_ids, error):
    write_outcomes(db, prediction_ids, [("failed", error)] * len(prediction_ids))
