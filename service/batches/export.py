"""GET /api/v1/batches/{id}/results: every row of a file, in file order, as it is at the
time of the request (finished rows with their results, the others with their status):
CSV by default (ref, the features, status, label and p_<class> or value, error), JSON
lines with ?format=jsonl. Streamed: the API holds one page of 1,000 rows at a time."""
import csv
import io
import json
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from eve.auth import requires_auth
from flask import Response, abort, request, stream_with_context
from pymongo.database import Database

from core import batches as counters
from core.types import ModelDocument

from .. import context
from .common import batch_model, caller_batch

Document = dict[str, Any]
Row = tuple[int, Document | None, Document | None]  # (row, input, prediction)
Pending = tuple[int, int, list[Future[dict[int, Document]]]]


def result_columns(model: ModelDocument) -> list[str]:
    """The CSV columns after `ref`, the features and `status`."""
    if model["task"] == "classification":
        return ["label", *(f"p_{name}" for name in model["classes"])]
    return ["value"]


def result_cells(model: ModelDocument, prediction: Document | None) -> list[Any]:
    result = (prediction or {}).get("result") or {}
    if model["task"] == "classification":
        probabilities = result.get("probabilities", {})
        return [result.get("label", ""), *(probabilities.get(c, "") for c in model["classes"])]
    return [result.get("value", "")]


def error_text(prediction: Document | None) -> str:
    error = (prediction or {}).get("error")
    return f"{error.get('type')}: {error.get('message')}" if error else ""


PROJECTIONS = {"inputs": {"features": 1, "ref": 1},
               "predictions": {"status": 1, "result": 1, "error": 1}}


def batch_rows(db: Database[Any], batch: Document,
               page: int = 1000) -> Iterator[tuple[int, Document | None, Document | None]]:
    """(row, input, prediction) of every row in file order, read 1,000 rows at a time,
    each page by two `_id` ranges (core/batches.py). The inputs and the predictions of a
    page are read at the same time, and the next page while this one is sent."""
    prefixes, total = batch["rows"], batch["total"]

    def read(kind: str, first: int, last: int) -> dict[int, Document]:
        return {counters.row_of(d["_id"]): d for d in db[kind].find(
            counters.rows_filter(prefixes[kind], last, first), PROJECTIONS[kind])}

    def start(pool: ThreadPoolExecutor, first: int) -> Pending:
        last = min(total, first + page - 1)
        return first, last, [pool.submit(read, kind, first, last) for kind in PROJECTIONS]

    with ThreadPoolExecutor(2 * len(PROJECTIONS)) as pool:
        pending: Pending | None = start(pool, 1)
        while pending:
            first, last, reads = pending
            pending = start(pool, last + 1) if last < total else None
            inputs, predictions = (future.result() for future in reads)
            for row in range(first, last + 1):
                yield row, inputs.get(row), predictions.get(row)


def csv_lines(model: ModelDocument, rows: Iterable[Row]) -> Iterator[str]:
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


def jsonl_lines(model: ModelDocument, rows: Iterable[Row]) -> Iterator[str]:
    for row, source, prediction in rows:
        source, prediction = source or {}, prediction or {}
        yield json.dumps({
            "row": row, "ref": source.get("ref"),
            "features": dict(zip(model["features"], source.get("features", []))),
            "prediction": str(prediction["_id"]) if prediction else None,
            "status": prediction.get("status", "deleted"), "result": prediction.get("result"),
            "error": prediction.get("error")}) + "\n"


@requires_auth("item")
def results(resource: str, batch_id: str) -> Response:
    batch = caller_batch(batch_id)
    output = request.args.get("format", "csv")
    if output not in ("csv", "jsonl"):
        abort(400, description="format is csv (the default) or jsonl")
    db = context.db()
    model = batch_model(batch)
    lines = (csv_lines if output == "csv" else jsonl_lines)(model, batch_rows(db, batch))
    mimetype = "text/csv" if output == "csv" else "application/jsonl"
    return Response(stream_with_context(lines), mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="batch-{batch_id}.{output}"'})
