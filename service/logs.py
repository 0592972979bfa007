"""The API's request log: a request id for every request (echoed as X-Request-ID) and one
JSON line per request (core/logs.py writes the lines)."""
import logging
import time
import uuid

from flask import Flask, Response, g, request

from core.logs import audit


def request_id_from(header: str | None) -> str:
    """The caller's X-Request-ID when it is a sane token, else a new one."""
    if header and len(header) <= 64 and all(c.isalnum() or c in "-_." for c in header):
        return header
    return uuid.uuid4().hex


def attach(app: Flask) -> None:
    """A request id for every request (echoed as X-Request-ID) and one log line per
    request with its status, duration and client."""
    log = logging.getLogger("service.request")

    @app.before_request
    def assign_request_id() -> None:
        g.request_id = request_id_from(request.headers.get("X-Request-ID"))
        g.log_started = time.perf_counter()

    @app.after_request
    def log_request(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        account = g.get("account")
        audit(log, "request", request_id=g.get("request_id"), method=request.method,
              path=request.path, status=response.status_code,
              client=account["name"] if account else None,
              duration_ms=round((time.perf_counter() - g.get("log_started", 0)) * 1000, 2))
        return response
