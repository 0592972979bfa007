"""POST /api/v1/predictions/{id}/cancel (the owner or an admin): a prediction not yet
started becomes `cancelled` (200 with the document); one already running or finished
is 409. Its job may still run for the other rows it carries: the write-back never
writes a cancelled row (jobs/writeback.py)."""
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from eve.render import send_response
from flask import Blueprint, Flask, Response, g
from pymongo import ReturnDocument

from core import finished
from core.documents import CANCELLED, QUEUED, etag_for, now

from . import context
from .errors import api_prefix, error_body
from .queues import queues
from .roles import ADMIN, CLIENT, required

blueprint = Blueprint("cancel", __name__)


@blueprint.post("/predictions/<prediction_id>/cancel")
@required(ADMIN, CLIENT)
def cancel(prediction_id: str) -> Response | tuple[Response, int]:
    account = g.account
    try:
        query: dict[str, Any] = {"_id": ObjectId(prediction_id)}
    except (InvalidId, TypeError):
        return error_body(404, "no such prediction")
    if account["role"] != "admin":
        query["owner"] = account["name"]
    db, stamp = context.db(), now()
    cancelled = db.predictions.find_one_and_update(
        {**query, "status": QUEUED},
        {"$set": {"status": CANCELLED, "finished_at": stamp, "_updated": stamp,
                  "_etag": etag_for(prediction_id, CANCELLED, stamp)}},
        return_document=ReturnDocument.AFTER)
    if cancelled is None:
        found = db.predictions.find_one(query, {"status": 1})
        if found is None:
            return error_body(404, "no such prediction")
        return error_body(409, f"the prediction is {found['status']}: only a queued one "
                               "can be cancelled")
    finished.announce(context.redis(), [prediction_id])
    if cancelled.get("callback_url"):
        queues().enqueue_deliveries({prediction_id: cancelled["callback_url"]})
    cancelled.pop("owner", None)
    return send_response("predictions", (cancelled, None, cancelled["_etag"], 200))


def attach(app: Flask) -> None:
    app.register_blueprint(blueprint, url_prefix=api_prefix(app.config))
