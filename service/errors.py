"""JSON error responses: an unreachable store is a 503, anything unexpected a 500, and
no response carries a stack trace."""
import logging
from collections.abc import Mapping
from typing import Any, cast

import bson.errors
import pymongo.errors
import redis.exceptions
from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.sansio.response import Response as BaseResponse

log = logging.getLogger(__name__)

UNAVAILABLE = (pymongo.errors.ConnectionFailure, pymongo.errors.ServerSelectionTimeoutError,
               redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)

# What an error handler answers: a JSON body and its status (and headers), or the
# response an abort() carried.
ErrorAnswer = BaseResponse | tuple[Response, int] | tuple[Response, int, dict[str, str]]


def api_prefix(config: Mapping[str, Any]) -> str:
    """Where the API's routes are: /api/v1."""
    return f"/{config['URL_PREFIX']}/{config['API_VERSION']}"


def error_document(code: int, message: str,
                   issues: dict[str, Any] | list[Any] | None = None) -> dict[str, Any]:
    """The body of every error answer, as Eve writes its own (`_issues` for a 422)."""
    document: dict[str, Any] = {"_status": "ERR", "_error": {"code": code, "message": message}}
    if issues is not None:
        document["_issues"] = issues
    return document


def error_body(code: int, message: str) -> tuple[Response, int]:
    return jsonify(error_document(code, message)), code


def store_unavailable(exc: Exception) -> tuple[Response, int]:
    store = "redis" if isinstance(exc, redis.exceptions.RedisError) else "mongo"
    log.warning("%s unavailable: %s", store, type(exc).__name__)
    return error_body(503, f"{store} is unavailable, try again shortly")


def http_error(exc: HTTPException) -> ErrorAnswer:
    """Werkzeug's own errors (413 from MAX_CONTENT_LENGTH, ...) as JSON, like Eve's."""
    if exc.response is not None:  # an abort() that carries its own response
        return exc.response
    # Flask hands its handlers only HTTP errors with a code (one without is answered as
    # it is); werkzeug's errors all have a description
    assert exc.code is not None
    body, code = error_body(exc.code, cast(str, exc.description))
    return body, code, dict(exc.get_headers()) | {"Content-Type": "application/json"}


def method_not_allowed(exc: HTTPException) -> tuple[Response, int, dict[str, str]]:
    """405 with the `Allow` header (RFC 9110): the methods this URL answers."""
    body, code = error_body(405, "this method is not allowed here")
    allowed = (getattr(exc, "valid_methods", None)
               or current_app.url_map.bind_to_environ(request.environ).allowed_methods())
    return body, code, {"Allow": ", ".join(sorted(allowed))}


def refused_query(exc: pymongo.errors.OperationFailure) -> ErrorAnswer:
    """The database refused a read (a malformed filter, sort or projection): the
    request was bad. Failed writes stay 500s."""
    if request.method in ("GET", "HEAD"):
        return error_body(400, "the database refused this query")
    return unexpected(exc)


def out_of_range(exc: Exception) -> tuple[Response, int]:
    """BSON cannot hold a value the client sent (an integer past 64 bits, say)."""
    return error_body(400, "a value in the request is out of range for the database")


def unexpected(exc: Exception) -> ErrorAnswer:
    if isinstance(exc, HTTPException):
        return http_error(exc)
    if isinstance(exc, UNAVAILABLE):
        return store_unavailable(exc)
    log.exception("unhandled error")
    return error_body(500, "internal error")


def attach(app: Flask) -> None:
    for exc_class in UNAVAILABLE:
        app.register_error_handler(exc_class, store_unavailable)
    app.register_error_handler(405, method_not_allowed)
    app.register_error_handler(pymongo.errors.OperationFailure, refused_query)
    app.register_error_handler(OverflowError, out_of_range)
    app.register_error_handler(bson.errors.InvalidDocument, out_of_range)
    app.register_error_handler(Exception, unexpected)
