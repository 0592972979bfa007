"""POST /api/v1/batches?model=M[&version=N|&alias=A][&ref_column=ref][&callback_url=U]: a
file of rows, the body a CSV file (text/csv) or a multipart/form-data field `file`.

The file is validated whole (files.py) and only then stored, 1,000 rows at a time, as
ordinary inputs and predictions with a `batch` field (service/submission.py, as a POST of
inputs stores them), each chunk queued for the workers as soon as it is stored, in turns
with other files (core/queue.py: Turns). GET /batches and /batches/{id} are Eve's
(settings.py); their counters are kept by the workers (core/batches.py)."""
import logging
from datetime import datetime, timezone
from typing import IO, Any

from bson import ObjectId
from eve.auth import requires_auth
from eve.render import send_response
from flask import abort, current_app, g, request
from pymongo.database import Database
from werkzeug.wrappers import Response

from core import batches as counters
from core.documents import QUEUED, etag_for
from core.logs import audit
from core.queue import Turns
from core.types import InputItem, ModelDocument

from .. import context, limits, submission
from ..callback_policy import callback_refusal
from ..models.lookup import BOTH_NAMED, lookup_model, naming_refusal
from ..queues import queues
from . import files as batch_files
from .common import Issue, body_lines, owner, refused, shown

log = logging.getLogger(__name__)

UPLOAD_MAX_BYTES = 1024 * 2**20  # a million rows of 30 features fit
TOUCH_EVERY_CHUNKS = 10  # the reconciler takes a batch unchanged for a minute as abandoned
Parameters = tuple[ModelDocument, str, str | None]  # (model, ref column, callback_url)


def parameters() -> tuple[Parameters | None, list[Issue]]:
    """(model document, ref column, callback_url) from the query string, or the issues
    that refuse them (the inputs' messages: service/models/lookup.py)."""
    args = request.args
    name, alias, ref_column = args.get("model"), args.get("alias"), args.get("ref_column", "ref")
    version = args.get("version")
    issues: list[Issue] = []
    if not name:
        issues.append(batch_files.issue(0, "model", "required: ?model=NAME"))
    if version is not None and not (version.isascii() and version.isdigit()
                                    and 1 <= int(version) < 2**31):
        issues.append(batch_files.issue(0, "version", "a whole number from 1"))
    if version is not None and alias is not None:
        issues.append(batch_files.issue(0, "alias", BOTH_NAMED))
    if not ref_column or len(ref_column) > 128:
        issues.append(batch_files.issue(0, "ref_column", "1 to 128 characters"))
    callback_url = args.get("callback_url")
    if callback_url is not None:
        refusal = callback_refusal(callback_url, current_app.config["CALLBACK_ALLOWED_HOSTS"],
                                   current_app.config["CALLBACK_SECRET"])
        if refusal:
            issues.append(batch_files.issue(0, "callback_url", refusal))
    if issues or not name:
        return None, issues
    number = int(version) if version else None
    model = lookup_model(name, number, alias)
    refusal = naming_refusal(name, number, alias, model)
    if refusal or model is None:
        return None, [batch_files.issue(0, "model", refusal or "")]
    return (model, ref_column, callback_url), []


def drain() -> None:
    """Read what is left of the body: a server that answers before reading it all
    makes the client's connection reset, and the client never sees the answer."""
    stream = request.stream
    while stream.read(1 << 20):
        pass


def create() -> Response:
    """Whatever the answer, the body is read to its end before it is sent (drain)."""
    request.max_content_length = UPLOAD_MAX_BYTES
    if request.content_length is not None and request.content_length > UPLOAD_MAX_BYTES:
        abort(413, description=f"a batch file holds at most {UPLOAD_MAX_BYTES // 2**20} MB")
    try:
        return create_batch(resource="batches")
    finally:
        drain()


@requires_auth("resource")
def create_batch(resource: str) -> Response:
    context.redis().ping()  # Redis down: 503 now, before anything is read or stored
    found, issues = parameters()
    if found is None:
        return refused(issues)
    model, ref_column, callback_url = found
    lines = body_lines()
    if lines is None:
        return refused([batch_files.issue(0, "file", "required: the multipart field `file`")])
    try:
        total, validated = batch_files.validate(lines, model, ref_column)
    except batch_files.FileRefused as exc:
        return refused(exc.issues, exc.status)
    except batch_files.NotCsv as exc:
        abort(400, description=str(exc))
    with validated:
        limits.refuse_past_pending(owner(), total)
        batch = store(model, total, validated, ref_column, callback_url)
    audit(log, "batch_accepted", request_id=g.get("request_id"), client=owner(),
          batch=batch["_id"], model=model["name"], version=model["version"], rows=total)
    response = send_response("batches", ({**shown(batch), "_status": "OK"}, None,
                                         batch["_etag"], 201))
    response.headers["Location"] = f"{request.base_url}/{batch['_id']}"
    return response


def new_batch(model: ModelDocument, total: int, ref_column: str,
              callback_url: str | None) -> dict[str, Any]:
    stamp = datetime.now(timezone.utc)
    batch_id = ObjectId()
    batch = {"_id": batch_id, "model": model["name"], "version": model["version"],
             "status": QUEUED, "total": total, "done": 0, "failed": 0, "cancelled": 0,
             "created": stamp, "finished_at": None, "ref_column": ref_column,
             "_created": stamp, "_updated": stamp, "_etag": etag_for(str(batch_id), "new", stamp),
             "rows": counters.new_prefixes(batch_id), "stored": False, "counted": []}
    if owner() is not None:
        batch["owner"] = owner()
    if callback_url:
        batch["callback_url"] = callback_url
        batch["callback"] = {"status": "pending", "attempts": 0, "last_error": None}
    return batch


def row_items(batch: dict[str, Any], model: ModelDocument, first_row: int,
              rows: list[tuple[list[Any], str | None]], stamp: datetime) -> list[InputItem]:
    """The inputs of a chunk of the file's rows, with the batch's ids by row number."""
    items: list[InputItem] = []
    for row, (features, ref) in enumerate(rows, first_row):
        input_id = counters.row_id(batch["rows"]["inputs"], row)
        item: InputItem = {"model": model["name"], "batch": batch["_id"], "features": features,
                           "_created": stamp, "_updated": stamp,
                           "_etag": etag_for(str(input_id), "new", stamp)}
        if ref is not None:
            item["ref"] = ref
        if "owner" in batch:
            item["owner"] = batch["owner"]
        items.append(submission.prepare(item, model, input_id,
                                        counters.row_id(batch["rows"]["predictions"], row)))
    return items


def store(model: ModelDocument, total: int, validated: IO[bytes],
          ref_column: str, callback_url: str | None) -> dict[str, Any]:
    """Store the batch, then its rows chunk by chunk, each chunk queued once stored.
    Anything failing on the way deletes what was stored (and raises: 503)."""
    db = context.db()
    batch = new_batch(model, total, ref_column, callback_url)
    db.batches.insert_one(batch)
    service_queues, stored = queues(), 0
    queue, turns = service_queues.predictions(), Turns(current_app.config["FILE_CHUNKS_QUEUED"])
    try:
        for number, rows in enumerate(batch_files.chunks(validated)):
            stamp = datetime.now(timezone.utc)
            items = row_items(batch, model, stored + 1, rows, stamp)
            db.inputs.insert_many(items, ordered=False)
            chunks = submission.store_predictions(db, items, stamp,
                                                  current_app.config["CHUNK_SIZE"])
            submission.enqueue(queue, chunks, turns)
            stored += len(rows)
            if number % TOUCH_EVERY_CHUNKS == TOUCH_EVERY_CHUNKS - 1:
                counters.update(db, batch["_id"], {}, what=f"stored/{stored}")
    except Exception:
        forget(db, batch)
        raise
    finished = counters.update(db, batch["_id"], {"$set": {"stored": True}}, what="stored")
    counters.finished(db, service_queues, finished)  # its rows may all be finished already
    return finished or batch


def forget(db: Database[Any], batch: dict[str, Any]) -> None:
    try:
        for kind in ("predictions", "inputs"):
            db[kind].delete_many(counters.rows_filter(batch["rows"][kind], batch["total"]))
        db.batches.delete_one({"_id": batch["_id"]})
    except Exception:  # the reconciler deletes it (never stored) once the store is back
        log.exception("batch %s not deleted after a failed upload", batch["_id"])
