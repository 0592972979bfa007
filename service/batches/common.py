"""What the routes of /api/v1/batches share: the caller's batch (isolation as for
inputs: a batch of another client is a 404 on every route), the fields a batch shows,
a refusal's body, and the request body read as lines of CSV text."""
import io
from typing import TYPE_CHECKING, Any, Protocol

from bson import ObjectId
from bson.errors import InvalidId
from eve.render import send_response
from flask import abort, request
from werkzeug.wrappers import Response

from core.types import ModelDocument

from .. import context
from ..errors import error_document

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

SHOWN = ("_id", "model", "version", "status", "total", "done", "failed", "cancelled",
         "created", "finished_at", "ref_column", "callback_url", "callback",
         "_created", "_updated", "_etag")
Issue = dict[str, Any]  # {"row": n, "field": ..., "message": ...}


def refused(issues: list[Issue], status: int = 422) -> Response:
    body = error_document(status, f"the batch was refused: {len(issues)} issue(s)", issues)
    return send_response("batches", (body, None, None, status))


def shown(batch: dict[str, Any]) -> dict[str, Any]:
    return {key: batch[key] for key in SHOWN if key in batch}


def owner() -> str | None:
    """The client's name, which Eve's auth_field filters on (auth.py); None for an admin."""
    return context.auth_value()


def caller_batch(batch_id: str) -> dict[str, Any]:
    """The caller's batch, or 404 (another client's batch is not there for it)."""
    try:
        query: dict[str, Any] = {"_id": ObjectId(batch_id)}
    except (InvalidId, TypeError):
        abort(404)
    if owner() is not None:
        query["owner"] = owner()
    batch = context.db().batches.find_one(query, {"counted": 0})
    if batch is None:
        abort(404)
    return batch


def batch_model(batch: dict[str, Any]) -> ModelDocument:
    """The batch's model version, or 409: it was deleted, its rows stay in /inputs and
    /predictions."""
    model = context.db().models.find_one(
        {"name": batch["model"], "version": batch["version"]})
    if model is None:
        abort(409, description="the batch's model version was deleted: its rows are "
                               "still in /inputs and /predictions")
    return model


class Source(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class Readable(io.RawIOBase):
    """Any object with read(n) (the WSGI input, an upload) as a raw stream, for
    TextIOWrapper."""

    def __init__(self, source: Source) -> None:
        self.source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "WriteableBuffer") -> int:
        view = memoryview(buffer)
        data = self.source.read(len(view))
        view[:len(data)] = data
        return len(data)


def body_lines() -> io.TextIOWrapper | None:
    """The body as lines of text, read as the CSV parser asks for them; None for a form
    without its `file` field."""
    content_type = request.mimetype
    raw: Source
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
