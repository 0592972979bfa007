"""Writing job progress and results into prediction documents, by `_id`.

Every write is conditional on the row being unfinished (`queued` or `running`): a row
is finished once, by the first worker to write it. A worker that comes back late with
a chunk another worker has finished meanwhile (its host cut off, its job resumed
elsewhere by the reconciler) changes nothing, and counts nothing: what it counts is
what its own write finished (finished_here).

A model call's rows cost one command, a bulk_write setting each row's own result, or
two when it runs longer than RUNNING_AFTER_SECONDS: then one update_many marks all its
rows `running` first. (FerretDB, the development database, needs the
fixes in tools/ferretdb/patches/ for either to use its _id index and not to hang.)"""
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import UpdateOne
from pymongo.database import Database

import settings
from core.documents import DONE, FAILED, QUEUED, RUNNING, STILL_UNFINISHED, etag_for, needs_review, now
from core.types import Outcome


def worker_id() -> str:
    """`host:pid` of this process, recorded on each row it finishes."""
    return f"{socket.gethostname()}:{os.getpid()}"


class WriteStamps:
    """The `finished_at` of this process's writes: now, to the millisecond (as the
    database keeps it), and later than every stamp handed out before, so that a row's
    `worker` and `finished_at` name the one write that finished it (finished_here), also
    of two writes in one millisecond."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last: datetime | None = None

    def next(self) -> datetime:
        with self.lock:
            stamp = now()
            stamp = stamp.replace(microsecond=stamp.microsecond // 1000 * 1000)
            if self.last is not None and stamp <= self.last:
                stamp = self.last + timedelta(milliseconds=1)
            self.last = stamp
            return stamp


write_stamp = WriteStamps().next


def status_update(prediction_id: str, status: str, fields: dict[str, Any], stamp: datetime,
                  counts_attempt: bool = False) -> UpdateOne:
    """$set the fields plus a new _updated and _etag, so that Eve's conditional GETs
    (If-None-Match) see the change."""
    update: dict[str, dict[str, Any]] = {"$set": {"status": status, "_updated": stamp,
                       "_etag": etag_for(prediction_id, status, stamp), **fields}}
    if counts_attempt:
        update["$inc"] = {"attempts": 1}
    return UpdateOne({"_id": ObjectId(prediction_id), "status": STILL_UNFINISHED}, update)


def mark_queued(db: Database[Any], prediction_ids: list[str], job_id: str) -> None:
    stamp = now()
    db.predictions.bulk_write(
        [status_update(pid, QUEUED, {"job": job_id, "queued_at": stamp}, stamp)
         for pid in prediction_ids], ordered=False)


def mark_running(db: Database[Any], prediction_ids: list[str]) -> None:
    """One update for the whole chunk. Its documents share the new _etag, which is
    enough: an ETag has to change when its own document changes, nothing more."""
    stamp = now()
    db.predictions.update_many(
        {"_id": {"$in": [ObjectId(pid) for pid in prediction_ids]}, "status": STILL_UNFINISHED},
        {"$set": {"status": RUNNING, "started_at": stamp, "_updated": stamp,
                  "_etag": etag_for(",".join(prediction_ids), RUNNING, stamp)},
         "$inc": {"attempts": 1}})


@contextmanager
def running_if_slow(db: Database[Any], prediction_ids: list[str],
                    after_seconds: float | None = None) -> Iterator[Callable[[], bool]]:
    """Marks the rows `running` (mark_running) if the block takes longer than
    after_seconds (RUNNING_AFTER_SECONDS); yields a function that tells whether it did.
    A quicker block leaves them `queued`, for write_outcomes to take them to their final
    status with one write per row instead of two. On leaving, a mark under way is
    waited for, so that it never lands after the final write."""
    marked = threading.Event()

    def mark() -> None:
        mark_running(db, prediction_ids)
        marked.set()
    timer = threading.Timer(settings.RUNNING_AFTER_SECONDS if after_seconds is None
                            else after_seconds, mark)
    timer.start()
    try:
        yield marked.is_set
    finally:
        timer.cancel()
        timer.join()



def write_outcomes(db: Database[Any], prediction_ids: list[str], outcomes: list[Outcome],
                   started_at: datetime | None = None, stamp: datetime | None = None,
                   review_threshold: float | None = None,
                   shadows: list[dict[str, Any] | None] | None = None) -> set[str]:
    """outcomes: [("done", result) | ("failed", error), ...] in prediction_ids order.
    With started_at (rows not marked running), the write also sets it and counts the
    attempt. Rows finished already (by another worker, or cancelled) are left as they
    are. A classifier's answer less sure than review_threshold is written with
    `review: "pending"` (the review queue). shadows: each row's shadow answer
    ({"version", "result"}, or None), written beside its own result.
    Returns the ids of the rows this write finished."""
    stamp = stamp or write_stamp()
    updates: list[UpdateOne] = []
    worker = worker_id()
    for index, (pid, (status, value)) in enumerate(zip(prediction_ids, outcomes)):
        field = "result" if status == DONE else "error"
        fields: dict[str, Any] = {field: value, "finished_at": stamp, "worker": worker}
        if status == DONE and shadows is not None and shadows[index] is not None:
            fields["shadow"] = shadows[index]
        if needs_review(status, value, review_threshold):
            fields["review"] = "pending"
        if started_at is not None:
            fields["started_at"] = started_at
        updates.append(status_update(pid, status, fields, stamp,
                                     counts_attempt=started_at is not None))
    if db.predictions.bulk_write(updates, ordered=False).matched_count == len(updates):
        return set(prediction_ids)
    return finished_here(db, prediction_ids, stamp)


def mark_failed(db: Database[Any], prediction_ids: list[str], error: dict[str, Any]) -> set[str]:
    return write_outcomes(db, prediction_ids, [(FAILED, error)] * len(prediction_ids))


def finished_here(db: Database[Any], prediction_ids: list[str], stamp: datetime) -> set[str]:
    """The ids, among prediction_ids, of the rows that the write of this process at
    `stamp` finished, when it finished fewer than all of them: the others were finished
    by someone else, and are theirs to count."""
    return {str(p["_id"]) for p in db.predictions.find(
        {"_id": {"$in": [ObjectId(pid) for pid in prediction_ids]},
         "finished_at": stamp, "worker": worker_id()}, {"_id": 1})}
