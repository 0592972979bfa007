"""MAX_PENDING_ROWS per client: a submission that would take the client's unfinished
rows (queued or running) past it is refused with 429 and `Retry-After`, before anything
of it is stored; admins are not limited.

The count is one aggregate on the (owner, status) index. An interactive submission (at
most INTERACTIVE_MAX_ROWS rows) may use the count this process made less than
COUNT_SECONDS ago, plus the rows it accepted since, while that stays under
HEADROOM of the limit: a client sending a row every few seconds costs one count per
COUNT_SECONDS, not one per row, and can pass the limit by no more than what the other
API processes accept from it within COUNT_SECONDS. Larger submissions and files always
count."""
import time

from flask import Flask, abort, current_app, make_response

from core.documents import UNFINISHED

from . import context
from .errors import error_body
from .recent import Recent

RETRY_AFTER_SECONDS = 30
COUNT_SECONDS = 10.0
HEADROOM = 0.9


def count_pending(owner: str) -> int:
    return context.db().predictions.count_documents(
        {"owner": owner, "status": {"$in": list(UNFINISHED)}})


def pending_rows(owner: str, rows: int, limit: int) -> int:
    """The client's unfinished rows: counted, or, for an interactive submission, as this
    process counted them less than COUNT_SECONDS ago (plus the rows it accepted since)
    while that leaves the submission under HEADROOM of the limit."""
    counts: Recent[int] = current_app.extensions["pending_counts"]
    if rows <= current_app.config["INTERACTIVE_MAX_ROWS"]:
        pending = counts.get(owner, COUNT_SECONDS)
        if pending is not None and pending + rows <= limit * HEADROOM:
            return pending
    started = time.monotonic()
    pending = count_pending(owner)
    counts.put(owner, pending, learnt_at=started)
    return pending


def refuse_past_pending(owner: str | None, rows: int) -> None:
    limit = current_app.config["MAX_PENDING_ROWS"]
    if owner is None:
        return
    pending = pending_rows(owner, rows, limit)
    if pending + rows > limit:
        response = make_response(*error_body(
            429, f"{pending:,} of your rows are unfinished and this submission has {rows:,}: "
                 f"at most {limit:,} may be (MAX_PENDING_ROWS); try again later"))
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        abort(response)
    current_app.extensions["pending_counts"].add(owner, rows)


def attach(app: Flask) -> None:
    app.extensions["pending_counts"] = Recent()
