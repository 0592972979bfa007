"""MAX_PENDING_ROWS per client: a submission that would take the client's unfinished
rows (queued or running) past it is refused with 429 and `Retry-After`, before anything
of it is stored. One count per submission, on the (owner, status) index; admins are not
limited."""
from flask import abort, current_app, make_response

from core.documents import UNFINISHED

from .errors import error_body

RETRY_AFTER_SECONDS = 30


def refuse_past_pending(owner, rows):
    limit = current_app.config["MAX_PENDING_ROWS"]
    if owner is None:
        return
    pending = current_app.data.driver.db.predictions.count_documents(
        {"owner": owner, "status": {"$in": list(UNFINISHED)}})
    if pending + rows > limit:
        response = make_response(*error_body(
            429, f"{pending:,} of your rows are unfinished and this submission has {rows:,}: "
                 f"at most {limit:,} may be (MAX_PENDING_ROWS); try again later"))
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        abort(response)
