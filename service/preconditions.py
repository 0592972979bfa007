"""`If-Match: *` on PATCH and DELETE means "if the document exists" (RFC 9110 §13.1.1),
which Eve checks anyway (404 when it does not): the header is dropped before Eve
compares it with the document's _etag, which `*` never equals."""
from flask import Flask, request

CONDITIONAL_WRITES = ("PATCH", "PUT", "DELETE")


def any_representation() -> None:
    if (request.method in CONDITIONAL_WRITES
            and request.environ.get("HTTP_IF_MATCH", "").strip() == "*"):
        del request.environ["HTTP_IF_MATCH"]


def attach(app: Flask) -> None:
    app.before_request(any_representation)
