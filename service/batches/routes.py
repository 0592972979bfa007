"""/api/v1/batches: files of rows.

POST /batches?model=M[&version=N|&alias=A][&ref_column=ref][&callback_url=U], the body a
CSV file (text/csv) or a multipart/form-data field `file`: the file is validated whole
(service/batches/files.py) and only then stored, 1,000 rows at a time, as ordinary inputs
and predictions with a `batch` field, each chunk queued for the workers as soon as it is
stored. GET /batches and /batches/{id} are Eve's (settings.py); their counters are kept
by the workers (core/batches.py). GET /batches/{id}/results streams every row, in file
order, as it is at the time of the request (finished rows with their results, the others
with their status). POST /batches/{id}/cancel cancels the rows not started yet.

Isolation as for inputs: a client's batches carry its name as `owner`, and a batch of
another client is a 404 on every route."""
import csv
import io
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from bson import ObjectId
from bson.errors import InvalidId
from eve.auth import requires_auth
from eve.render import send_response
from flask import Blueprint, Response, abort, current_app, g, request, stream_with_context

from core import batches as counters
from core.documents import DONE, QUEUED, UNFINISHED, etag_for, prediction_document
from core.logs import audit
from core.queue import Turns, enqueue_chunks, plan_chunks, prediction_queue

from .. import feedback, limits
from ..errors import api_prefix, error_document
from ..validation import callback_refusal, lookup_model, ordered_features
from . import files as batch_files

log = logging.getLogger(__name__)
blueprint = Blueprint("batches", __name__)

UPLOAD_MAX_BYTES = 1024 * 2**20  # a million rows of 30 features fit
TOUCH_EVERY_CHUNKS = 10  # the reconciler takes a batch unchanged for a minute as abandoned
SHOWN = ("_id", "model", "version", "status", "total", "done", "failed", "cancelled",
         "created", "finished_at", "ref_column", "callback_url", "callback",
         "_created", "_updated", "_etag")


def refused(issues, status=422):
    body = error_document(status, f"the batch was refused: {len(issues)} issue(s)", issues)
    return send_response("batches", (body, None, None, status))


def shown(batch):
    return {key: batch[key] for key in SHOWN if key in batch}


def owner():
    """The client's name, which Eve's auth_field filters on (auth.py); None for an admin."""
    return current_app.auth.get_request_auth_value()


def caller_batch(batch_id):
    """The caller's batch, or 404 (another client's batch is not there for it)."""
    try:
        query = {"_id": ObjectId(batch_id)}
    except (InvalidId, TypeError):
        abort(404)
    if owner() is not None:
        query["owner"] = owner()
    batch = current_app.data.driver.db.batches.find_one(query, {"counted": 0})
    if batch is None:
        abort(404)
    return batch


def parameters():
    """(model document, ref column, callback_url) from the query string; 422 else."""
    args = request.args
    name, alias, ref_column = args.get("model"), args.get("alias"), args.get("ref_column", "ref")
    version = args.get("version")
    issues = []
    if not name:
        issues.append(batch_files.issue(0, "model", "required: ?model=NAME"))
    if version is not None and not (version.isascii() and version.isdigit()
                                    and 1 <= int(version) < 2**31):
        issues.append(batch_files.issue(0, "version", "a whole number from 1"))
    if version is not None and alias is not None:
        issues.append(batch_files.issue(0, "alias", "give a version or an alias, not both"))
    if not ref_column or len(ref_column) > 128:
        issues.append(batch_files.issue(0, "ref_column", "1 to 128 characters"))
    callback_url = args.get("callback_url")
    if callback_url is not None:
        refusal = callback_refusal(callback_url, current_app.config["CALLBACK_ALLOWED_HOSTS"],
                                   current_app.config["CALLBACK_SECRET"])
        if refusal:
            issues.append(batch_files.issue(0, "callback_url", refusal))
    if issues:
        return None, issues
    model = lookup_model(name, int(version) if version else None, alias)
    if model is None:
        return None, [batch_files.issue(0, "model", f"unknown model {name!r}" + (
            f" version {version}" if version else "") + (f" alias {alias!r}" if alias else ""))]
    if model.get("retired") and (version or alias):
        return None, [batch_files.issue(0, "model", f"model {name!r} version "
                                                    f"{model['version']} is retired")]
    return (model, ref_column, callback_url), []


def body_lines():
    """The body as lines of text, read as the CSV parser asks for them."""
    content_type = request.mimetype
    if content_type == "text/csv":
        raw = request.stream
    elif content_type == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            return None
        raw = upload.stream
    else:
        abort(415, description="send the file as text/csv, or as multipart/form-data "
                               "field `file`")
    return io.TextIOWrapper(io.BufferedReader(Readable(raw), 1 << 16),
                            encoding="utf-8-sig", newline="")


class Readable(io.RawIOBase):
    """Any object with read(n) (the WSGI input, an upload) as a raw stream, for
    TextIOWrapper."""

    def __init__(self, source):
        self.source = source

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self.source.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def drain():
    """Read what is left of the body: a server that answers before reading it all
    makes the client's connection reset, and the client never sees the answer."""
    stream = request.stream
    while stream.read(1 << 20):
        pass


def create():
    """Whatever the answer, the body is read to its end before it is sent (drain)."""
    request.max_content_length = UPLOAD_MAX_BYTES
    if request.content_length is not None and request.content_length > UPLOAD_MAX_BYTES:
        abort(413, description=f"a batch file holds at most {UPLOAD_MAX_BYTES // 2**20} MB")
    try:
        return create_batch(resource="batches")
    finally:
        drain()


@requires_auth("resource")
def create_batch(resource):
    current_app.redis.ping()  # Redis down: 503 now, before anything is read or stored
    found, issues = parameters()
    if issues:
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


def new_batch(model, total, ref_column, callback_url):
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


def row_items(batch, model, first_row, rows, stamp):
    items = []
    for row, (features, ref) in enumerate(rows, first_row):
        input_id = counters.row_id(batch["rows"]["inputs"], row)
        item = {"_id": input_id, "prediction": counters.row_id(batch["rows"]["predictions"], row),
                "model": model["name"], "version": model["version"], "batch": batch["_id"],
                "features": ordered_features(model, features), "status": QUEUED,
                "_created": stamp, "_updated": stamp, "_etag": etag_for(str(input_id), "new", stamp)}
        if ref is not None:
            item["ref"] = ref
        if "owner" in batch:
            item["owner"] = batch["owner"]
        items.append(item)
    return items


def store(model, total, validated, ref_column, callback_url):
    """Store the batch, then its rows chunk by chunk, each chunk queued once stored.
    Anything failing on the way deletes what was stored (and raises: 503)."""
    db = current_app.data.driver.db
    batch = new_batch(model, total, ref_column, callback_url)
    db.batches.insert_one(batch)
    queue, stored = prediction_queue(current_app.redis), 0
    turns = Turns(current_app.config["FILE_CHUNKS_QUEUED"])
    try:
        for number, rows in enumerate(batch_files.chunks(validated)):
            stamp = datetime.now(timezone.utc)
            items = row_items(batch, model, stored + 1, rows, stamp)
            planned = plan_chunks(items)
            db.inputs.insert_many(items, ordered=False)
            db.predictions.insert_many([prediction_document(item, job_id, stamp)
                                        for job_id, _, _, chunk in planned for item in chunk],
                                       ordered=False)
            enqueue_chunks(queue, planned, request_id=g.get("request_id"), client=owner(),
                           turns=turns)
            stored += len(rows)
            if number % TOUCH_EVERY_CHUNKS == TOUCH_EVERY_CHUNKS - 1:
                counters.update(db, batch["_id"], {}, what=f"stored/{stored}")
    except Exception:
        forget(db, batch)
        raise
    batch = counters.update(db, batch["_id"], {"$set": {"stored": True}},
                            what="stored")
    counters.finished(db, current_app.redis, batch)  # its rows may all be finished already
    return batch


def forget(db, batch):
    try:
        for kind in ("predictions", "inputs"):
            db[kind].delete_many(counters.rows_filter(batch["rows"][kind], batch["total"]))
        db.batches.delete_one({"_id": batch["_id"]})
    except Exception:  # the reconciler deletes it (never stored) once the store is back
        log.exception("batch %s not deleted after a failed upload", batch["_id"])


def result_columns(model):
    """The CSV columns after `ref`, the features and `status`."""
    if model["task"] == "classification":
        return ["label", *(f"p_{name}" for name in model["classes"])]
    return ["value"]


def result_cells(model, prediction):
    result = (prediction or {}).get("result") or {}
    if model["task"] == "classification":
        probabilities = result.get("probabilities", {})
        return [result.get("label", ""), *(probabilities.get(c, "") for c in model["classes"])]
    return [result.get("value", "")]


def error_text(prediction):
    error = (prediction or {}).get("error")
    return f"{error.get('type')}: {error.get('message')}" if error else ""


PROJECTIONS = {"inputs": {"features": 1, "ref": 1},
               "predictions": {"status": 1, "result": 1, "error": 1}}


def batch_rows(db, batch, page=1000):
    """(row, input, prediction) of every row in file order, read 1,000 rows at a time,
    each page by two `_id` ranges (core/batches.py). The inputs and the predictions of a
    page are read at the same time, and the next page while this one is sent."""
    prefixes, total = batch["rows"], batch["total"]

    def read(kind, first, last):
        return {counters.row_of(d["_id"]): d for d in db[kind].find(
            counters.rows_filter(prefixes[kind], last, first), PROJECTIONS[kind])}

    def start(pool, first):
        last = min(total, first + page - 1)
        return first, last, [pool.submit(read, kind, first, last) for kind in PROJECTIONS]

    with ThreadPoolExecutor(2 * len(PROJECTIONS)) as pool:
        pending = start(pool, 1)
        while pending:
            first, last, reads = pending
            pending = start(pool, last + 1) if last < total else None
            inputs, predictions = (future.result() for future in reads)
            for row in range(first, last + 1):
                yield row, inputs.get(row), predictions.get(row)


def csv_lines(model, rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["ref", *model["features"], "status", *result_columns(model), "error"])
    for _, source, prediction in rows:
        writer.writerow([(source or {}).get("ref") or "", *(source or {}).get("features", []),
                         (prediction or {}).get("status", "deleted"),
                         *result_cells(model, prediction), error_text(prediction)])
        if buffer.tell() > 1 << 16:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def jsonl_lines(model, rows):
    for row, source, prediction in rows:
        source, prediction = source or {}, prediction or {}
        yield json.dumps({
            "row": row, "ref": source.get("ref"),
            "features": dict(zip(model["features"], source.get("features", []))),
            "prediction": str(prediction["_id"]) if prediction else None,
            "status": prediction.get("status", "deleted"), "result": prediction.get("result"),
            "error": prediction.get("error")}) + "\n"


@requires_auth("item")
def results(resource, batch_id):
    batch = caller_batch(batch_id)
    output = request.args.get("format", "csv")
    if output not in ("csv", "jsonl"):
        abort(400, description="format is csv (the default) or jsonl")
    db = current_app.data.driver.db
    model = db.models.find_one({"name": batch["model"], "version": batch["version"]})
    if model is None:
        abort(409, description="the batch's model version was deleted: its rows are "
                               "still in /inputs and /predictions")
    lines = (csv_lines if output == "csv" else jsonl_lines)(model, batch_rows(db, batch))
    mimetype = "text/csv" if output == "csv" else "application/jsonl"
    return Response(stream_with_context(lines), mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="batch-{batch_id}.{output}"'})


@requires_auth("item")
def cancel(resource, batch_id):
    """Cancel the rows not started yet; a finished batch is answered as it is."""
    batch = caller_batch(batch_id)
    if batch["status"] in UNFINISHED:
        batch = counters.cancel(current_app.data.driver.db, prediction_queue(current_app.redis),
                                batch)
        audit(log, "batch_cancelled", request_id=g.get("request_id"), client=owner(),
              batch=batch["_id"], cancelled=batch["cancelled"])
    return send_response("batches", (shown(batch), None, batch["_etag"], 200))


def label_rows(db, batch, model, records):
    """[(prediction id, actual), ...] for the file's `ref,actual` records, or the issues
    ({"row", "field", "message"}, rows counted from 1 after the header)."""
    wanted, issues = {}, []
    for number, (ref, actual) in enumerate(records, 1):
        if ref in wanted:
            issues.append(batch_files.issue(number, "ref", f"ref {ref!r} twice"))
        wanted[ref] = (number, actual)
    labels = []
    for row, source, prediction in batch_rows(db, batch):
        ref = (source or {}).get("ref")
        if ref not in wanted:
            continue
        number, actual = wanted.pop(ref)
        if (prediction or {}).get("status") != DONE:
            issues.append(batch_files.issue(number, "ref", f"row {row} is not done"))
        refusal = feedback.actual_error(model, actual)
        if refusal:
            issues.append(batch_files.issue(number, "actual", refusal))
        labels.append((prediction["_id"] if prediction else None, actual))
    issues += [batch_files.issue(number, "ref", f"no row of the batch has ref {ref!r}")
               for ref, (number, _) in wanted.items()]
    return labels, sorted(issues, key=lambda i: i["row"])[:batch_files.MAX_ISSUES]


@requires_auth("item")
def label_batch(resource, batch_id):
    """POST /batches/{id}/feedback: a CSV of `ref,actual` labels the batch's rows as
    POST /feedback labels predictions; any bad row: 422 listing them, nothing stored."""
    batch = caller_batch(batch_id)
    db = current_app.data.driver.db
    model = db.models.find_one({"name": batch["model"], "version": batch["version"]})
    if model is None:
        abort(409, description="the batch's model version was deleted")
    lines = body_lines()
    if lines is None:
        return refused([batch_files.issue(0, "file", "required: the multipart field `file`")])
    try:
        records = batch_files.label_records(lines, model)
    except batch_files.FileRefused as exc:
        return refused(exc.issues, exc.status)
    except batch_files.NotCsv as exc:
        abort(400, description=str(exc))
    labels, issues = label_rows(db, batch, model, records)
    if issues:
        return refused(issues)
    by = (g.get("account") or {}).get("name")
    feedback.store(db, model, labels, owner(), by)
    feedback.apply(db, [(pid, actual, model) for pid, actual in labels], by)
    return send_response("batches", ({"labelled": len(labels)}, None, None, 200))


blueprint.add_url_rule("/batches", view_func=create, methods=["POST"])
blueprint.add_url_rule("/batches/<batch_id>/feedback", view_func=label_batch, methods=["POST"],
                       defaults={"resource": "batches"})
blueprint.add_url_rule("/batches/<batch_id>/results", view_func=results, methods=["GET"],
                       defaults={"resource": "batches"})
blueprint.add_url_rule("/batches/<batch_id>/cancel", view_func=cancel, methods=["POST"],
                       defaults={"resource": "batches"})


def attach(app):
    app.register_blueprint(blueprint, url_prefix=api_prefix(app.config))
