"""RETENTION_DAYS (unset: keep everything): finished predictions, their inputs, feedback
and finished batches older than that are deleted by the workers' maintenance pass (every
MAINTENANCE_SECONDS, under the reconciler's lock), in slices of SLICE documents. The
hourly quality counts (core/quality.py) stay: a version's quality over `all` outlives
the rows it was counted from."""
import logging
from datetime import datetime, timedelta
from typing import Any

from pymongo.database import Database

import settings
from core.documents import FINISHED

log = logging.getLogger(__name__)

SLICE = 10_000


def cutoff(now: datetime) -> datetime | None:
    days = settings.RETENTION_DAYS
    return None if days is None else now - timedelta(days=days)


def delete_predictions(db: Database[Any], before: datetime) -> int:
    """One slice of finished predictions older than `before`, with their inputs."""
    old = list(db.predictions.find({"status": {"$in": list(FINISHED)},
                                    "finished_at": {"$lt": before}},
                                   {"input": 1}).limit(SLICE))
    if not old:
        return 0
    db.inputs.delete_many({"_id": {"$in": [p["input"] for p in old if p.get("input")]}})
    return db.predictions.delete_many({"_id": {"$in": [p["_id"] for p in old]}}).deleted_count


def delete_older(db: Database[Any], collection: str, query: dict[str, Any]) -> int:
    ids = [d["_id"] for d in db[collection].find(query, {"_id": 1}).limit(SLICE)]
    return db[collection].delete_many({"_id": {"$in": ids}}).deleted_count if ids else 0


def sweep(db: Database[Any], now: datetime) -> dict[str, int]:
    """One pass: at most a slice of each kind. Returns what it deleted."""
    before = cutoff(now)
    if before is None:
        return {}
    deleted = {
        "predictions": delete_predictions(db, before),
        "feedback": delete_older(db, "feedback", {"_created": {"$lt": before}}),
        "batches": delete_older(db, "batches", {"status": {"$in": list(FINISHED)},
                                                "finished_at": {"$lt": before}}),
    }
    if any(deleted.values()):
        log.info("retention: deleted %s", deleted)
    return deleted
