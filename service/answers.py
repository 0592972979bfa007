"""Answers at submission: the result cache (core/cache.py) and `Prefer: wait=N` on
POST /inputs (RFC 7240: create and wait).

Cache: an input of a version with `cache_seconds` > 0 whose row, as validated and
stored, that version answered within that time is answered now: its prediction is stored
`done` with `cached: true` and no job, and it counts in the version's quality and drift
as a served row (core/quality.py), once the request has stored it. A cache that is not
there, full or down is a miss.

Create and wait: the request's predictions are subscribed to on the finished channel
(service/waiting.py) before their jobs are queued, and the jobs say `answer`, so that the
workers announce each row's answer with its id; the answer to the POST is held until
every prediction of the request is finished or N seconds pass, and each item then shows
its status and, once finished, its result or error. Rows whose answer the channel did not
carry (finished by another path, or a listener that restarted) are read once, at the
end."""
import json
import re
from datetime import datetime
from typing import Any

from bson import ObjectId
from flask import Request, Response, abort, after_this_request, current_app, g
from werkzeug.wrappers import Response as BaseResponse

from core import finished, quality
from core.cache import ResultCache
from core.documents import DONE, FINISHED
from core.types import InputItem, ModelDocument, Result

from . import context, metrics
from .waiting import Wait, Waiters, requested_wait

EXACT_WAIT = re.compile(r"wait=([1-9]|[1-5][0-9]|60)")


def answer_cache() -> ResultCache:
    cache: ResultCache = current_app.extensions["answer_cache"]
    return cache


def kept_answers(items: list[InputItem], models: list[ModelDocument]) -> list[Result | None]:
    """Each item's answer from the cache, or None: one round trip per caching version."""
    answers: list[Result | None] = [None] * len(items)
    by_version: dict[ObjectId, list[int]] = {}
    for index, model in enumerate(models):
        if (model.get("cache_seconds") or 0) > 0:
            by_version.setdefault(model["_id"], []).append(index)
    for indices in by_version.values():
        model = models[indices[0]]
        found = answer_cache().get_many(model["_id"], [items[i]["features"] for i in indices])
        for index, answer in zip(indices, found):
            answers[index] = answer
        hits = sum(answer is not None for answer in found)
        metrics.CACHE_HITS.labels(model["name"], str(model["version"])).inc(hits)
        metrics.CACHE_MISSES.labels(model["name"], str(model["version"])).inc(len(found) - hits)
    return answers


def count_cached(items: list[InputItem], models: list[ModelDocument],
                 answers: list[Result | None], stamp: datetime) -> None:
    """The rows answered from the cache count as served rows of their version (and the
    version's hour counts its hits and misses, for the pages' hit rate)."""
    for model_id in {model["_id"] for model in models if (model.get("cache_seconds") or 0) > 0}:
        indices = [i for i, model in enumerate(models) if model["_id"] == model_id]
        model = models[indices[0]]
        hits = [i for i in indices if answers[i] is not None]
        terms = quality.served_terms(model, [items[i]["features"] for i in hits],
                                     [answers[i] for i in hits],  # type: ignore[misc]
                                     model.get("reference"), [0.0] * len(hits)) if hits else {}
        terms.update({"ch": len(hits), "cm": len(indices) - len(hits)})
        quality.add(context.db(), model, stamp, {k: v for k, v in terms.items() if v})


def begin(items: list[InputItem], answers: list[Result | None]) -> bool:
    """For a POST that asks to wait: subscribe to its unfinished predictions before their
    jobs are queued (the answers from the cache are known already). Whether it waits."""
    seconds = g.get("answer_within")
    if seconds is None:
        return False
    waiters: Waiters = current_app.extensions["waiters"]
    wait = waiters.register([str(item["prediction"]) for item, answer in zip(items, answers)
                             if answer is None])
    for item, answer in zip(items, answers):
        if answer is not None:
            wait.answers[str(item["prediction"])] = finished.answer_of(DONE, answer)
    g.answers_wait = wait
    after_request_unregister(waiters, wait)
    return True


def after_request_unregister(waiters: Waiters, wait: Wait) -> None:
    def unregister(response: BaseResponse) -> BaseResponse:
        waiters.unregister(wait)
        return response
    after_this_request(unregister)


def on_pre_post_inputs(request: Request) -> None:
    """`Prefer: wait=N` checked (400) before anything is read or stored. Here, unlike on
    a GET, the header holds that preference alone (what the OpenAPI document says): a
    POST whose Prefer is anything else is refused rather than stored without waiting."""
    values = [value.strip() for value in request.headers.getlist("Prefer") if value.strip()]
    if values and not all(EXACT_WAIT.fullmatch(value) for value in values):
        abort(400, description="`Prefer` on POST /inputs is `wait=N`, N from 1 to 60")
    g.answer_within = requested_wait(request)


def read_answers(ids: list[str]) -> dict[str, finished.Answer]:
    """The answers of the finished ones among ids, read from the store."""
    found = context.db().predictions.find(
        {"_id": {"$in": [ObjectId(pid) for pid in ids]}, "status": {"$in": list(FINISHED)}},
        {"status": 1, "result": 1, "error": 1})
    return {str(p["_id"]): finished.answer_of(p["status"], p.get("result") or p.get("error")
                                              or {}) for p in found}


def shown(item: dict[str, Any], answers: dict[str, finished.Answer]) -> dict[str, Any]:
    answer = answers.get(str(item.get("prediction")))
    return {**item, **answer} if answer else item


def on_post_post_inputs(request: Request, payload: Response) -> None:
    """Hold a created submission's answer until its predictions are finished or N s
    pass; then each item shows its status, and its result or error once finished."""
    wait: Wait | None = g.get("answers_wait")
    seconds = g.get("answer_within")
    if seconds is None:
        return
    payload.headers["Preference-Applied"] = f"wait={seconds}"
    if wait is None or payload.status_code != 201:
        return
    wait.over.wait(seconds)
    answers = dict(wait.answers)
    unheard = [pid for pid in wait.ids if pid not in answers]
    if unheard:
        answers.update(read_answers(unheard))
    body = json.loads(payload.get_data())
    if "_items" in body:
        body["_items"] = [shown(item, answers) for item in body["_items"]]
    else:
        body = shown(body, answers)
    payload.set_data(json.dumps(body))


def attach(app: Any) -> None:
    app.extensions["answer_cache"] = ResultCache(app.config.get("CACHE_URL"))
    app.on_pre_POST_inputs += on_pre_post_inputs
    app.on_post_POST_inputs += on_post_post_inputs

