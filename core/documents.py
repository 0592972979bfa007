"""The prediction document, its statuses and its ETags: written by the API (stored
`queued`) and by the workers (each status after that)."""
import hashlib
from datetime import datetime, timezone
from typing import Any

import settings

from .types import InputItem

QUEUED, RUNNING, DONE, FAILED, CANCELLED = settings.STATUSES
UNFINISHED = (QUEUED, RUNNING)
FINISHED = (DONE, FAILED, CANCELLED)
# The workers write a row only while it is unfinished: a finished row (done, failed, or
# cancelled with its batch) is never written again, whoever comes back late with it.
STILL_UNFINISHED = {"$in": list(UNFINISHED)}


def now() -> datetime:
    return datetime.now(timezone.utc)


def etag_for(document_id: str, what: str, stamp: datetime) -> str:
    """A new _etag for a document changed by `what` at `stamp`, so that Eve's
    conditional GETs (If-None-Match) see the change."""
    return hashlib.sha1(f"{document_id}/{what}/{stamp.isoformat()}".encode()).hexdigest()


def prediction_document(item: InputItem, job_id: str, stamp: datetime) -> dict[str, Any]:
    """The `queued` prediction of a stored input `item` (with its `_id` and `prediction`
    ids), to be worked by job `job_id`."""
    document: dict[str, Any] = {
        "_id": item["prediction"], "input": item["_id"], "model": item["model"],
        "version": item["version"], "status": QUEUED, "attempts": 0, "job": job_id,
        "queued_at": stamp, "_created": stamp, "_updated": stamp,
        "_etag": f"{item['prediction']}-queued",
    }
    if "owner" in item:
        document["owner"] = item["owner"]
    if item.get("batch"):
        document["batch"] = item["batch"]
    if item.get("callback_url"):
        document["callback_url"] = item["callback_url"]
        document["callback"] = {"status": "pending", "attempts": 0, "last_error": None}
    return document


def needs_review(status: str, value: dict[str, Any], review_threshold: float | None) -> bool:
    """A classifier's answer whose top probability is below the version's threshold
    (it waits for a person in the review queue)."""
    return (review_threshold is not None and status == DONE and "probabilities" in value
            and max(value["probabilities"].values()) < review_threshold)


def answered_document(item: InputItem, result: dict[str, Any], stamp: datetime,
                      review_threshold: float | None) -> dict[str, Any]:
    """The prediction of a stored input answered at submission from the result cache
    (core/cache.py): `done`, `cached`, no job."""
    document = prediction_document(item, "", stamp)
    del document["job"]
    document.update(status=DONE, result=result, cached=True, started_at=stamp,
                    finished_at=stamp, worker="cache",
                    _etag=etag_for(str(item["prediction"]), DONE, stamp))
    if needs_review(DONE, result, review_threshold):
        document["review"] = "pending"
    return document
