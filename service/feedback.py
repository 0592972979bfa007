"""Ground truth: POST /api/v1/feedback, one `{"prediction", "actual"}` or a list of them.

on_pre_POST (before Eve validates): the predictions the items name are read in one query,
the caller's own only (an admin's: any), with their model versions, so that the
validator's rules (service/validation.py) can check each item: a prediction that is the
caller's and `done`, an `actual` among the version's classes or a finite number. Any
item refused: 422, nothing stored.
on_inserted_feedback: each prediction shows the latest `actual` (and leaves the review
queue, with `reviewed_by`), and its version's hour bucket moves by the change
(core/quality.py: the new label's terms, less the old one's)."""
import logging
from datetime import datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from flask import g
from pymongo import ReturnDocument
from pymongo.database import Database

from core import compare, quality
from core.documents import DONE, etag_for, now
from core.logs import audit
from core.types import ModelDocument

from . import context, metrics

log = logging.getLogger(__name__)

TARGET_FIELDS = {"model": 1, "version": 1, "status": 1, "result": 1, "finished_at": 1,
                 "owner": 1, "actual": 1}

# An item's prediction (the TARGET_FIELDS of it) and its model version (None: deleted)
Target = tuple[dict[str, Any], ModelDocument | None]


def caller() -> str | None:
    """The client's name (Eve's auth value); None for an admin."""
    return context.auth_value()


def as_id(value: Any) -> ObjectId | None:
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None


def resolve_targets(items: list[dict[str, Any]]) -> None:
    """g.feedback_targets: {prediction id: (prediction, model)} of the caller's own
    predictions among the items' (one query for the predictions, one per version)."""
    ids = {as_id(item.get("prediction")) for item in items} - {None}
    query: dict[str, Any] = {"_id": {"$in": list(ids)}}
    if caller() is not None:
        query["owner"] = caller()
    db = context.db()
    predictions = list(db.predictions.find(query, TARGET_FIELDS)) if ids else []
    versions: dict[tuple[str, int], ModelDocument | None] = {}
    for prediction in predictions:
        key = (prediction["model"], prediction["version"])
        if key not in versions:
            versions[key] = db.models.find_one({"name": key[0], "version": key[1]})
    g.feedback_targets = {str(p["_id"]): (p, versions[(p["model"], p["version"])])
                          for p in predictions}


def target_of(prediction_id: object) -> Target | None:
    """(prediction, model) of an item's prediction, or None when it is not the caller's."""
    target: Target | None = g.get("feedback_targets", {}).get(str(prediction_id))
    return target


def actual_error(model: ModelDocument | None, actual: Any) -> str | None:
    """Why `actual` cannot be the outcome of a prediction of `model`, or None."""
    if model is None:
        return "the prediction's model version is gone"
    if model["task"] == "classification":
        if not isinstance(actual, str) or actual not in model["classes"]:
            return f"one of the version's classes: {', '.join(model['classes'])}"
        return None
    if isinstance(actual, bool) or not isinstance(actual, (int, float)) \
            or actual != actual or actual in (float("inf"), float("-inf")):
        return "a finite number"
    return None


def prediction_error(prediction_id: object) -> str | None:
    found = target_of(prediction_id)
    if found is None:
        return "unknown prediction"
    prediction, _ = found
    if prediction["status"] != DONE:
        return f"the prediction is not done (it is {prediction['status']})"
    return None


def accepted_target(prediction_id: object) -> tuple[dict[str, Any], ModelDocument]:
    """target_of an item the validator accepted: the caller's, with its model version."""
    found = target_of(prediction_id)
    assert found is not None and found[1] is not None  # the validator refused it otherwise
    return found[0], found[1]


def on_insert_feedback(items: list[dict[str, Any]]) -> None:
    account = g.get("account") or {}
    for item in items:
        prediction, model = accepted_target(item["prediction"])
        item["model"], item["version"] = prediction["model"], prediction["version"]
        item["by"] = account.get("name")


def label(db: Database[Any], prediction_id: ObjectId, actual: Any, by: str | None,
          stamp: datetime) -> dict[str, Any] | None:
    """Show `actual` on the prediction (and take it out of the review queue); returns
    the prediction as it was before."""
    before: dict[str, Any] | None = db.predictions.find_one_and_update(
        {"_id": prediction_id, "status": DONE},
        {"$set": {"actual": actual, "feedback_at": stamp, "_updated": stamp,
                  "_etag": etag_for(str(prediction_id), "feedback", stamp)}},
        return_document=ReturnDocument.BEFORE)
    if before is not None and before.get("review") == "pending":
        db.predictions.update_one({"_id": prediction_id, "review": "pending"},
                                  {"$set": {"review": "done", "reviewed_by": by}})
    return before


def store(db: Database[Any], model: ModelDocument, labels: list[tuple[ObjectId, Any]],
          owner: str | None, by: str | None) -> None:
    """Keep a file's labels as POST /feedback keeps each submission."""
    stamp = now()
    documents: list[dict[str, Any]] = []
    for prediction_id, actual in labels:
        document: dict[str, Any] = {"_id": ObjectId(), "prediction": prediction_id, "actual": actual,
                    "model": model["name"], "version": model["version"], "by": by,
                    "_created": stamp, "_updated": stamp}
        document["_etag"] = etag_for(str(document["_id"]), "new", stamp)
        if owner is not None:
            document["owner"] = owner
        documents.append(document)
    if documents:
        db.feedback.insert_many(documents, ordered=False)


def apply(db: Database[Any], labels: list[tuple[ObjectId, Any, ModelDocument]],
          by: str | None) -> None:
    """labels: [(prediction id, actual, model), ...] already checked. Each prediction
    shows its latest label, and its bucket moves by the change."""
    stamp = now()
    shadows: dict[tuple[str, int], ModelDocument | None] = {}
    for prediction_id, actual, model in labels:
        before = label(db, prediction_id, actual, by, stamp)
        if before is None:
            continue
        old = before.get("actual")
        terms = quality.relabel_terms(model, before["result"], old, actual)
        shadow = before.get("shadow")
        if shadow:
            terms = {**terms, **compare.relabel_pair_terms(
                model["task"], before["result"], shadow["result"], shadow["version"], old,
                actual)}
            label_shadow(db, shadows, model, shadow, before["finished_at"], old, actual)
        quality.add(db, model, before["finished_at"], terms)
    metrics.FEEDBACK.inc(len(labels))


def label_shadow(db: Database[Any], shadows: dict[tuple[str, int], ModelDocument | None],
                 model: ModelDocument, shadow: dict[str, Any], finished_at: Any, old: Any,
                 new: Any) -> None:
    """A row a shadow answered counts in the shadow's quality with the same label."""
    key = (model["name"], shadow["version"])
    if key not in shadows:
        shadows[key] = db.models.find_one({"name": key[0], "version": key[1]})
    version = shadows[key]
    if version is None or (version["task"] == "classification" and any(
            label is not None and label not in version["classes"] for label in (old, new))):
        return  # a version deleted since, or a label it cannot answer
    quality.add(db, version, finished_at,
                quality.relabel_terms(version, shadow["result"], old, new))


def on_inserted_feedback(items: list[dict[str, Any]]) -> None:
    db = context.db()
    by = (g.get("account") or {}).get("name")
    apply(db, [(item["prediction"], item["actual"], accepted_target(item["prediction"])[1])
               for item in items], by)
    for item in items:
        audit(log, "feedback_accepted", request_id=g.get("request_id"), client=by,
              prediction=item["prediction"], model=item["model"], version=item["version"])


def attach(app: Any) -> None:
    app.on_insert_feedback += on_insert_feedback
    app.on_inserted_feedback += on_inserted_feedback
