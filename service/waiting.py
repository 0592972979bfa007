"""Long polling: `Prefer: wait=N` (RFC 7240, 1 <= N <= 60) on GET /predictions/{id},
/batches/{id} and /trainings/{id}; and on POST /inputs, where it holds the answer until
every prediction of the request is finished (service/answers.py).

The request is held until the prediction (or batch) is finished or N seconds pass, then answered as
usual, with `Preference-Applied: wait=N`. The workers publish the ids they finish on one
Redis channel (core/finished.py); each API process listens to it in one
thread and wakes the requests waiting for those ids. A waiting request reads the
database twice (is it finished already? then Eve's own GET), never while it waits.

Each waiting request holds one of gunicorn's threads (API_PROCESSES x API_THREADS of
them in all)."""
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from bson import ObjectId
from bson.errors import InvalidId
from flask import Request, Response, abort, after_this_request, current_app
from redis.client import PubSub

from core import finished
from core.documents import FINISHED

from . import context

log = logging.getLogger(__name__)

MAX_WAIT_SECONDS = 60
WAITABLE = ("predictions", "batches", "trainings")
WAIT = re.compile(r'\s*wait\s*=\s*"?([^",;\s]*)"?\s*$', re.IGNORECASE)


def requested_wait(request: Request) -> int | None:
    """N of the request's `Prefer: wait=N`, None without one; 400 unless 1 <= N <= 60."""
    for header in request.headers.getlist("Prefer"):
        for preference in header.split(","):
            match = WAIT.match(preference.split(";")[0])
            if match:
                value = match.group(1)
                if not (re.fullmatch("[0-9]{1,2}", value)
                        and 1 <= int(value) <= MAX_WAIT_SECONDS):
                    abort(400, description=f"`Prefer: wait=N` takes a whole number of "
                                           f"seconds from 1 to {MAX_WAIT_SECONDS}")
                return int(value)
    return None


class Wait:
    """One request's wait for some ids: over once each is announced finished; keeps the
    answers the announcements carry (core/finished.py)."""

    def __init__(self, ids: Iterable[str]) -> None:
        self.ids = list(ids)
        self.pending = set(self.ids)
        self.answers: dict[str, finished.Answer] = {}
        self.over = threading.Event()
        if not self.pending:
            self.over.set()

    def heard(self, document_id: str, answer: finished.Answer | None) -> None:
        """Called under Waiters.lock."""
        self.pending.discard(document_id)
        if answer is not None:
            self.answers[document_id] = answer
        if not self.pending:
            self.over.set()


class Waiters:
    """The requests of this process waiting for predictions, and the listener that wakes
    them (started by the first wait)."""

    def __init__(self, connection: redis.Redis, timeout_seconds: float) -> None:
        self.connection, self.timeout_seconds = connection, timeout_seconds
        self.lock = threading.Lock()
        self.waits: dict[str, list[Wait]] = {}  # document id -> the waits for it
        self.listener: threading.Thread | None = None

    def register(self, ids: Iterable[str]) -> Wait:
        """A wait for the ids, subscribed before it is returned, so that no announcement
        made after that is missed; `unregister` it when done."""
        self.listen()
        wait = Wait(ids)
        with self.lock:
            for document_id in wait.pending:
                self.waits.setdefault(document_id, []).append(wait)
        return wait

    def unregister(self, wait: Wait) -> None:
        with self.lock:
            for document_id in wait.ids:
                waiting = self.waits.get(document_id, [])
                if wait in waiting:
                    waiting.remove(wait)
                if not waiting:
                    self.waits.pop(document_id, None)

    @contextmanager
    def waiting_for(self, ids: Iterable[str]) -> Iterator[Wait]:
        wait = self.register(ids)
        try:
            yield wait
        finally:
            self.unregister(wait)

    def listen(self) -> None:
        with self.lock:
            if self.listener is not None and self.listener.is_alive():
                return
            pubsub = self.connection.pubsub()
            pubsub.subscribe(finished.CHANNEL)
            confirmed = pubsub.get_message(timeout=self.timeout_seconds)
            if not confirmed or confirmed["type"] != "subscribe":
                pubsub.close()
                raise redis.ConnectionError("no confirmation of the subscription")
            self.listener = threading.Thread(target=self.wake_from, args=(pubsub,),
                                             name="long-poll listener", daemon=True)
            self.listener.start()

    def wake_from(self, pubsub: PubSub) -> None:
        try:
            while True:
                message = pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message and message["type"] == "message":
                    self.wake(*finished.finished(message["data"]))
        except redis.RedisError as exc:
            log.warning("long-poll listener stopped: %s", exc)
        finally:
            pubsub.close()
            with self.lock:  # nothing will wake them now: they answer with what is stored
                for waits in self.waits.values():
                    for wait in waits:
                        wait.over.set()

    def wake(self, document_ids: Iterable[str],
             answers: dict[str, finished.Answer] | None = None) -> None:
        with self.lock:
            for document_id in document_ids:
                for wait in self.waits.get(document_id, ()):
                    wait.heard(document_id, (answers or {}).get(document_id))


def is_finished_or_absent(resource: str, document_id: str) -> bool:
    """One read: is the caller's prediction (or batch) finished, or not there to wait
    for?"""
    query: dict[str, Any] = {"_id": ObjectId(document_id)}
    owner = context.auth_value()  # Eve's auth_field value (auth.py)
    if owner is not None:
        query["owner"] = owner
    document = context.db()[resource].find_one(query, {"status": 1})
    return document is None or document.get("status") in FINISHED


def on_pre_get(resource: str, request: Request, lookup: dict[str, Any]) -> None:
    """Eve's pre-GET hook: hold an item GET that asks to wait."""
    if resource not in WAITABLE or "_id" not in lookup:
        return  # a list: nothing to wait for, the preference is ignored
    seconds = requested_wait(request)
    if seconds is None:
        return

    @after_this_request
    def applied(response: Response) -> Response:
        response.headers["Preference-Applied"] = f"wait={seconds}"
        return response
    try:
        prediction_id = str(ObjectId(lookup["_id"]))
    except (InvalidId, TypeError):
        return  # Eve answers 404
    with current_app.extensions["waiters"].waiting_for([prediction_id]) as wait:
        if not is_finished_or_absent(resource, prediction_id):
            wait.over.wait(seconds)


def attach(app: Any) -> None:
    app.extensions["waiters"] = Waiters(app.redis, app.config["REDIS_TIMEOUT_SECONDS"])
    app.on_pre_GET += on_pre_get
