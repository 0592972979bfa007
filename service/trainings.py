"""POST /api/v1/models/{id}/retrain (admin): a `trainings` document, queued for the
workers on the RQ queue `training` (jobs/training.py), answered 202. GET /trainings and
/trainings/{id} are Eve's (settings.py; long polling as for predictions,
service/waiting.py).

What can be known at the request is refused here with a 422 and nothing stored: a body
that is not `{"window", "holdout"}` within bounds, fewer than MIN_LABELLED labelled rows
of the version in the window, or labels of a single class. The rest (an estimator that
cannot be cloned or fitted) ends the training `failed` with the reason."""
import logging
import random
from datetime import timedelta
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from eve.render import send_response
from flask import Blueprint, abort, current_app, g, request
from werkzeug.wrappers import Response

from core.documents import DONE, now
from core.logs import audit
from core.registry import etag_of
from core.store import with_nested_arrays
from core.training import MIN_LABELLED
from core.types import ModelDocument

from . import context
from .errors import api_prefix, error_document
from .queues import queues
from .roles import ADMIN, required

log = logging.getLogger(__name__)
blueprint = Blueprint("trainings", __name__)

WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7),
           "all": None}
DEFAULT_WINDOW, DEFAULT_HOLDOUT = "all", 0.2
HOLDOUT_RANGE = (0.05, 0.5)


def refused(issues: dict[str, str]) -> Response:
    body = error_document(422, "the training was refused", issues)
    return send_response("trainings", (body, None, None, 422))


def model_or_404(model_id: str) -> ModelDocument:
    try:
        model: ModelDocument | None = context.db().models.find_one({"_id": ObjectId(model_id)})
    except (InvalidId, TypeError):
        model = None
    if model is None:
        abort(404, description="no such model version")
    return model


def body_issues(body: Any) -> dict[str, str]:
    """What is wrong with the request's body ({} when nothing)."""
    if not isinstance(body, dict):
        return {"body": 'a JSON object: {"window": "1h|24h|7d|all", "holdout": 0.05-0.5}'}
    issues = {field: "unknown field" for field in body if field not in ("window", "holdout")}
    if body.get("window", DEFAULT_WINDOW) not in WINDOWS:
        issues["window"] = f"one of {', '.join(WINDOWS)}"
    holdout = body.get("holdout", DEFAULT_HOLDOUT)
    low, high = HOLDOUT_RANGE
    if isinstance(holdout, bool) or not isinstance(holdout, (int, float)) \
            or not low <= holdout <= high:
        issues["holdout"] = f"a number from {low} to {high}"
    return issues


def labels_refusal(model: ModelDocument, window: str) -> str | None:
    """Too few labelled rows in the window, or labels of one class: the job would fail."""
    query: dict[str, Any] = {"model": model["name"], "version": model["version"],
                             "status": DONE, "actual": {"$exists": True}}
    span = WINDOWS[window]
    if span is not None:
        query["finished_at"] = {"$gte": now() - span}
    predictions = context.db().predictions
    labelled = predictions.count_documents(query, limit=MIN_LABELLED)
    if labelled < MIN_LABELLED:
        return (f"{labelled} labelled rows of this version in the window ({window}): at least "
                f"{MIN_LABELLED} are needed (POST /feedback labels predictions)")
    if model["task"] == "classification" and len(predictions.distinct("actual", query)) < 2:
        return "every labelled row in the window is of one class: a classifier needs two"
    return None


def new_training(model: ModelDocument, window: str, holdout: float) -> dict[str, Any]:
    stamp = now()
    training: dict[str, Any] = {
        "_id": ObjectId(), "model": model["_id"], "name": model["name"],
        "source_version": model["version"], "status": "queued", "window": window,
        "holdout": float(holdout), "seed": random.SystemRandom().randrange(2**31),
        "rows": None, "holdout_rows": None, "labelled_rows": None, "file_rows": None,
        "version": None, "metrics": None, "error": None, "attempts": 0,
        "started_at": None, "finished_at": None, "_created": stamp, "_updated": stamp}
    training["_etag"] = etag_of(training)
    return training


@blueprint.post("/models/<model_id>/retrain")
@required(ADMIN)
def retrain(model_id: str) -> Response:
    model = model_or_404(model_id)
    body = request.get_json(silent=True)
    body = {} if body is None and not request.get_data() else body
    issues = body_issues(body)
    if issues or not isinstance(body, dict):
        return refused(issues)
    window = body.get("window", DEFAULT_WINDOW)
    reason = labels_refusal(model, window)
    if reason:
        return refused({"model": reason})
    training = new_training(model, window, body.get("holdout", DEFAULT_HOLDOUT))
    context.db().trainings.insert_one(training)
    try:
        queues().enqueue_training(str(training["_id"]))
    except Exception:
        context.db().trainings.delete_one({"_id": training["_id"]})
        raise
    audit(log, "training_queued", request_id=g.get("request_id"), training=training["_id"],
          model=model["name"], version=model["version"], window=window)
    response: Response = send_response("trainings", ({**training, "_status": "OK"}, None,
                                                     training["_etag"], 202))
    response.headers["Location"] = (f"{request.host_url.rstrip('/')}"
                                    f"{api_prefix(current_app.config)}/trainings/{training['_id']}")
    return response


def on_fetched_item(training: dict[str, Any]) -> None:
    """The metrics as `quality` gives them (stored without nested arrays: core/store.py)."""
    if training.get("metrics"):
        training["metrics"] = with_nested_arrays(training["metrics"])


def on_fetched_resource(response: dict[str, Any]) -> None:
    for training in response.get("_items", []):
        on_fetched_item(training)


def attach(app: Any) -> None:
    app.register_blueprint(blueprint, url_prefix=api_prefix(app.config))
    app.on_fetched_item_trainings += on_fetched_item
    app.on_fetched_resource_trainings += on_fetched_resource
