"""Eve event hooks for `inputs`: after validation, around the insert.

on_insert_inputs (before the inputs are stored): resolve the model version, normalise
the features, mint the input and prediction ids, and store the `queued` prediction
documents first. Should the inputs' insert then fail, the request deletes them again.
on_inserted_inputs: enqueue one RQ job per chunk, all in one Redis pipeline.

Whatever dies between those steps leaves a `queued` prediction whose job does not
exist: the reconciler (jobs/reconcile.py) enqueues it again, or deletes it when its
input was never stored."""
import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from bson import ObjectId
from flask import Request, abort, after_this_request, current_app, g
from werkzeug.wrappers import Response as BaseResponse

from core.logs import audit
from core.types import InputItem

from . import answers, context, feedback, limits, submission
from .models.lookup import lookup_model, model_of
from .queues import queues

log = logging.getLogger(__name__)


def on_pre_post(resource: str, request: Request) -> None:
    """Refuse, before Eve looks at it, a body that is not one object or a non-empty list
    of objects, one nested too deeply to parse, or a bulk over the limit; then look up
    the inputs' models."""
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        abort(400, description="the JSON body is nested too deeply")
    if body is None:
        return  # not JSON: Eve answers 400
    items = [body] if isinstance(body, dict) else body
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        abort(400, description="the body must be a JSON object or a list of objects")
    if not items:
        abort(400, description="the list is empty: nothing to create")
    limit = current_app.config["MAX_BULK_ITEMS"]
    if len(items) > limit:
        abort(422, description=f"at most {limit} items per request, got {len(items)}")
    if resource == "inputs":
        resolve_models(items)
    if resource == "feedback":
        feedback.resolve_targets(items)


def resolve_models(items: list[dict[str, Any]]) -> None:
    """Look the items' model versions up now, before Eve validates them: Eve reports any
    error raised during validation as a 422, but a database that cannot answer is a 503
    (service/errors.py). The validator then finds them in the request's own cache."""
    for item in items:
        model_of(item)


def delete_predictions_unless_created(
        prediction_ids: list[ObjectId]) -> Callable[[BaseResponse], BaseResponse]:
    def cleanup(response: BaseResponse) -> BaseResponse:
        if response.status_code != 201:
            context.db().predictions.delete_many({"_id": {"$in": prediction_ids}})
        return response
    return cleanup


def on_insert_inputs(items: list[InputItem]) -> None:
    """Before Eve stores the inputs: their predictions are stored (answered at once from
    the result cache where it has their rows: service/answers.py), and a request that
    waits for its answers subscribes to them."""
    # Redis down: the request got its 503 before this, from the rate limit (ratelimit.py)
    limits.refuse_past_pending(items[0].get("owner"), len(items))
    models = []
    for item in items:
        model = lookup_model(item["model"], item.get("version"), item.get("alias"))
        assert model is not None  # the validator refused the request otherwise
        models.append(model)
        submission.prepare(item, model)
    kept = answers.kept_answers(items, models)
    stamp = datetime.now(timezone.utc)
    g.chunks = submission.store_predictions(context.db(), items, stamp,
                                            current_app.config["CHUNK_SIZE"], kept, models)
    g.submitted = (models, kept, stamp)
    after_this_request(delete_predictions_unless_created(
        [item["prediction"] for item in items]))
    answers.begin(items, kept)


def on_inserted_inputs(items: list[InputItem]) -> None:
    models, kept, stamp = g.submitted
    submission.enqueue(queues().for_rows(len(items)), g.chunks,
                       answer=g.get("answers_wait") is not None)
    if any(answer is not None for answer in kept) or \
            any((model.get("cache_seconds") or 0) > 0 for model in models):
        answers.count_cached(items, models, kept, stamp)
        queues().enqueue_deliveries({str(item["prediction"]): item["callback_url"]
                                     for item, answer in zip(items, kept)
                                     if answer is not None and item.get("callback_url")})
    client = submission.client_name()
    for item in items:
        audit(log, "input_accepted", request_id=g.get("request_id"), client=client,
              input=item["_id"], prediction=item["prediction"], model=item["model"],
              version=item["version"])


def attach(app: Any) -> None:
    app.on_pre_POST += on_pre_post
    app.on_insert_inputs += on_insert_inputs
    app.on_inserted_inputs += on_inserted_inputs
