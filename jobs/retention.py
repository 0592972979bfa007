"""RETENTION_DAYS (unset: keep everything): finished predictions with their inputs,
feedback and finished batches older than that are deleted by a thread of the workers
(`sweeping`: in the prediction and callback workers, never in the one of small
submissions), one pass at a time across all workers (a Redis lock), a pass every
MAINTENANCE_SECONDS or at once after one that found more than it could delete.

A pass deletes slice after slice of SLICE predictions until none older than the cutoff
is left, or RETENTION_PASS_SECONDS have gone, and then the next pass goes on: a store fed
faster than one slice per interval still comes back to its window, as fast as the
database deletes, and no job waits for a pass (it runs beside them). Each slice is read
on the (status, finished_at) index, its inputs are deleted first and then the
predictions, so that no input is ever left without its prediction (a pass cut in between
leaves predictions that the next one finds again).
The hourly quality counts (core/quality.py) stay: a version's quality over `all`
outlives the rows it was counted from."""
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from pymongo.database import Database
from redis import Redis

import settings
from core import store
from core.documents import FINISHED

log = logging.getLogger(__name__)

SLICE = 10_000


def cutoff(now: datetime) -> datetime | None:
    days = settings.RETENTION_DAYS
    return None if days is None else now - timedelta(days=days)


def expired_predictions(before: datetime) -> dict[str, Any]:
    return {"status": {"$in": list(FINISHED)}, **store.before("finished_at", before)}


def delete_predictions(db: Database[Any], before: datetime) -> int:
    """One slice of finished predictions older than `before`, their inputs first."""
    old = list(db.predictions.find(expired_predictions(before), {"input": 1}).limit(SLICE))
    if not old:
        return 0
    db.inputs.delete_many({"_id": {"$in": [p["input"] for p in old if p.get("input")]}})
    deleted: int = db.predictions.delete_many({"_id": {"$in": [p["_id"] for p in old]}}).deleted_count
    return deleted


def delete_older(db: Database[Any], collection: str, query: dict[str, Any]) -> int:
    """One slice of the collection's documents matching `query`."""
    ids = [d["_id"] for d in db[collection].find(query, {"_id": 1}).limit(SLICE)]
    if not ids:
        return 0
    deleted: int = db[collection].delete_many({"_id": {"$in": ids}}).deleted_count
    return deleted


def sweep(db: Database[Any], now: datetime, seconds: float | None = None) -> dict[str, int]:
    """One pass: slices of each kind until none is left or `seconds`
    (RETENTION_PASS_SECONDS) have gone. Returns what it deleted."""
    before = cutoff(now)
    if before is None:
        return {}
    deadline = time.monotonic() + (settings.RETENTION_PASS_SECONDS if seconds is None
                                   else seconds)
    kinds = [("predictions", lambda: delete_predictions(db, before)),
             ("feedback", lambda: delete_older(db, "feedback",
                                               store.before("_created", before))),
             ("batches", lambda: delete_older(db, "batches", {
                 "status": {"$in": list(FINISHED)}, **store.before("finished_at", before)}))]
    deleted = {}
    for kind, delete_slice in kinds:
        deleted[kind] = 0
        while True:
            count = delete_slice()
            deleted[kind] += count
            if count < SLICE or time.monotonic() >= deadline:
                break
    if any(deleted.values()):
        log.info("retention: deleted %s", deleted)
    return deleted


LOCK = "predictions:retention"


def sweeping(connection: Redis, database: Callable[[], Database[Any]]) -> threading.Event:
    """Run passes from a daemon thread until the returned event is set."""
    stopped = threading.Event()

    def loop() -> None:
        while not stopped.is_set():
            more = False
            lock = connection.lock(LOCK, timeout=settings.RETENTION_PASS_SECONDS + 30,
                                   blocking=False)
            try:
                if lock.acquire():
                    try:
                        deleted = sweep(database(), datetime.now(timezone.utc))
                    finally:
                        lock.release()
                    more = any(count >= SLICE for count in deleted.values())
            except Exception:  # a store down now: the next pass tries again
                log.exception("retention pass failed")
            stopped.wait(0 if more else settings.MAINTENANCE_SECONDS)
    if settings.RETENTION_DAYS is not None:
        threading.Thread(target=loop, name="retention", daemon=True).start()
    return stopped
