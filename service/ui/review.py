"""The review queue: classifier answers less sure than their version's
review_threshold (jobs/writeback.py writes them `review: "pending"`), oldest first,
each with its features and probabilities. A reviewer's label is sent as feedback,
through POST /feedback's own path (Eve's post_internal with the same hooks and
validation), so the row leaves the queue with `reviewed_by` and the quality moves."""
from typing import Any

from eve.methods.post import post_internal
from pymongo.database import Database

from core.types import ModelDocument

from .. import context, feedback


def pending(db: Database[Any], limit: int) -> tuple[list[dict[str, Any]], int]:
    """(the oldest `limit` pending predictions, each with its model and features; how
    many are pending in all). The store's list bounds (service/data.py) let the
    development database sort in SQL, as Eve's own list queries do."""
    queue = {"review": "pending", **context.list_bounds("predictions")}
    predictions = list(db.predictions.find(
        queue,
        {"model": 1, "version": 1, "input": 1, "result": 1, "finished_at": 1, "_created": 1,
         "owner": 1}).sort([("_created", 1)]).limit(limit))
    features = {i["_id"]: i.get("features") for i in db.inputs.find(
        {"_id": {"$in": [p["input"] for p in predictions]}}, {"features": 1})}
    versions: dict[tuple[str, int], ModelDocument | None] = {}
    for prediction in predictions:
        key = (prediction["model"], prediction["version"])
        if key not in versions:
            versions[key] = db.models.find_one({"name": key[0], "version": key[1]},
                                               {"features": 1, "classes": 1, "task": 1,
                                                "name": 1, "version": 1})
    rows: list[dict[str, Any]] = []
    for prediction in predictions:
        model = versions[(prediction["model"], prediction["version"])] or {}
        values = features.get(prediction["input"]) or []
        result = prediction.get("result") or {}
        rows.append({"prediction": prediction, "model": model,
                     "features": list(zip(model.get("features", []), values)),
                     "probabilities": sorted((result.get("probabilities") or {}).items(),
                                             key=lambda item: -item[1])})
    return rows, db.predictions.count_documents(queue)


def send_feedback(prediction_id: str, actual: str) -> tuple[bool, str | None]:
    """POST /feedback as the signed-in admin (g.account): (stored, why not). Only
    classifiers' answers wait for review, so `actual` is one of the version's classes."""
    item = {"prediction": prediction_id, "actual": actual}
    feedback.resolve_targets([item])
    body, _, _, status, _ = post_internal("feedback", item)
    if status == 201:
        return True, None
    issues = body.get("_issues") or {}
    return False, "; ".join(f"{field}: {issue}" for field, issue in issues.items()) \
        or body.get("_error", {}).get("message", f"refused ({status})")
