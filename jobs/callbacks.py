"""Callbacks: when a prediction (or a batch, core/batches.py) that carries a
`callback_url` is finished, its document is POSTed there as JSON, signed with
`X-Signature: sha256=<HMAC-SHA256 of the body with CALLBACK_SECRET>`.

Each delivery is an RQ job on its own queue, `callbacks`, worked by its own worker
process (`python -m jobs.worker callbacks`), so a receiver that hangs holds that worker
and never the predictions. A failed attempt (an error, or an answer that is not 2xx)
raises, and RQ's Retry runs it again after CALLBACK_RETRY_INTERVALS, up to 5 times. Each
attempt is recorded on the prediction as `callback`: {status: pending | delivered |
failed, attempts, last_error}. A delivery job that finds its prediction delivered
already (enqueued twice by a retried prediction job) does nothing."""
import hashlib
import hmac
import json
import logging
from datetime import datetime
from typing import Any

import requests
from bson import ObjectId
from rq import get_current_job

import settings
from core.connections import mongo_db
from core.documents import etag_for, now

log = logging.getLogger(__name__)

HIDDEN = ("owner", "counted", "rows", "stored", "cancel_requested",  # nor does the API
          "shadow")  # a shadow's answer is never the prediction's


class DeliveryFailed(Exception):
    pass


def as_json(document: dict[str, Any]) -> bytes:
    """The prediction as the API shows it: ids as strings, dates as Eve writes them."""
    def value(v: Any) -> Any:
        if isinstance(v, ObjectId):
            return str(v)
        if isinstance(v, datetime):
            return v.strftime(settings.DATE_FORMAT)
        if isinstance(v, dict):
            return {k: value(x) for k, x in v.items()}
        return v
    return json.dumps({k: value(v) for k, v in document.items() if k not in HIDDEN},
                      sort_keys=True).encode()


def signature(body: bytes) -> str:
    digest = hmac.new(settings.CALLBACK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def attempt(url: str, body: bytes) -> str | None:
    """None when the receiver accepted the body, else what went wrong."""
    try:
        response = requests.post(url, data=body, timeout=settings.CALLBACK_TIMEOUT_SECONDS,
                                 allow_redirects=False,
                                 headers={"Content-Type": "application/json",
                                          "X-Signature": signature(body)})
    except requests.RequestException as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    return None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"


def deliver(document_id: str, url: str, collection: str = "predictions") -> str:
    """RQ job: one delivery attempt of the prediction's (or batch's) document to url."""
    db = mongo_db()
    document = db[collection].find_one({"_id": ObjectId(document_id)})
    if document is None or document.get("callback", {}).get("status") == "delivered":
        return "nothing to deliver"
    attempts = document.get("callback", {}).get("attempts", 0) + 1
    error = attempt(url, as_json(document))
    job = get_current_job()
    last = job is None or not job.retries_left
    status = "delivered" if error is None else "failed" if last else "pending"
    stamp = now()
    db[collection].update_one({"_id": document["_id"]}, {"$set": {
        "callback": {"status": status, "attempts": attempts, "last_error": error},
        "_updated": stamp, "_etag": etag_for(document_id, f"callback-{attempts}", stamp)}})
    if error:
        raise DeliveryFailed(f"{url}: {error}")
    return status
