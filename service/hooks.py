"""Eve event hooks for `inputs`: after validation, before and after the insert.

on_insert_inputs: resolve the model version, normalise features, mint the prediction
id; fail fast (503, nothing stored) when Redis is down.
on_inserted_inputs: store the `queued` prediction documents, then enqueue one RQ job
per chunk in one pipeline. Should the process die in between, the inputs carry their
prediction ids and the reconciler completes the work."""
from datetime import datetime, timezone

from bson import ObjectId
from flask import abort, current_app, g

from jobs.queue import enqueue_chunks, plan_chunks, prediction_queue

from .validation import lookup_model, ordered_features


def on_pre_post_inputs(request):
    """Refuse an oversized bulk POST before Eve validates any of it."""
    body = request.get_json(silent=True)
    limit = current_app.config["MAX_BULK_ITEMS"]
    if isinstance(body, list) and len(body) > limit:
        abort(413, description=f"at most {limit} inputs per request, got {len(body)}")


def on_insert_inputs(items):
    current_app.redis.ping()
    for item in items:
        model = lookup_model(item["model"], item.get("version"))
        item["version"] = model["version"]
        item["features"] = ordered_features(model, item["features"])
        item["prediction"] = ObjectId()
        item["status"] = "queued"


def prediction_document(item, job_id, stamp):
    document = {
        "_id": item["prediction"], "input": item["_id"], "model": item["model"],
        "version": item["version"], "status": "queued", "attempts": 0, "job": job_id,
        "queued_at": stamp, "_created": stamp, "_updated": stamp,
        "_etag": f"{item['prediction']}-queued",
    }
    if "owner" in item:
        document["owner"] = item["owner"]
    return document


def on_inserted_inputs(items):
    stamp = datetime.now(timezone.utc)
    chunks = plan_chunks(items)
    documents = [prediction_document(item, job_id, stamp)
                 for job_id, _, _, chunk in chunks for item in chunk]
    current_app.data.driver.db.predictions.insert_many(documents, ordered=False)
    enqueue_chunks(prediction_queue(current_app.redis), chunks)
    g.enqueued_jobs = len(chunks)


def attach(app):
    app.on_pre_POST_inputs += on_pre_post_inputs
    app.on_insert_inputs += on_insert_inputs
    app.on_inserted_inputs += on_inserted_inputs
