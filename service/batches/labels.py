"""POST /api/v1/batches/{id}/feedback: a CSV of `ref,actual` (refs as in the uploaded
file, each once) labels the batch's rows as POST /feedback labels predictions; any bad
row: 422 listing them, nothing stored."""
from typing import Any

from eve.auth import requires_auth
from eve.render import send_response
from flask import abort, g
from pymongo.database import Database
from werkzeug.wrappers import Response

from core.documents import DONE
from core.types import ModelDocument

from .. import context, feedback
from . import files as batch_files
from .common import Issue, batch_model, body_lines, caller_batch, owner, refused
from .export import batch_rows


def label_rows(db: Database[Any], batch: dict[str, Any], model: ModelDocument,
               records: list[tuple[Any, Any]]) -> tuple[list[tuple[Any, Any]], list[Issue]]:
    """[(prediction id, actual), ...] for the file's `ref,actual` records, or the issues
    ({"row", "field", "message"}, rows counted from 1 after the header)."""
    wanted: dict[Any, tuple[int, Any]] = {}
    issues: list[Issue] = []
    for number, (ref, actual) in enumerate(records, 1):
        if ref in wanted:
            issues.append(batch_files.issue(number, "ref", f"ref {ref!r} twice"))
        wanted[ref] = (number, actual)
    labels: list[tuple[Any, Any]] = []
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
def label_batch(resource: str, batch_id: str) -> Response:
    """POST /batches/{id}/feedback: a CSV of `ref,actual` labels the batch's rows as
    POST /feedback labels predictions; any bad row: 422 listing them, nothing stored."""
    batch = caller_batch(batch_id)
    db = context.db()
    model = batch_model(batch)
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
