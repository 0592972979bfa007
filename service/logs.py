"""JSON-lines logs for the API and the workers.

Every record is one JSON object; fields passed as `extra={"audit": {...}}` are merged in.
The audit trail is two events per row:
  {"event": "input_accepted", "request_id", "client", "input", "prediction", "model", "version"}
  {"event": "prediction_written", "request_id", "client", "input", "prediction", "model",
   "version", "artifact_sha256", "status", "duration_ms"}
so `grep <request id>` gives who asked what, and which model and artifact answered."""
import json
import logging
import os
import sys
import time
import uuid
from datetime import datetime, timezone

from flask import g, request


class JsonFormatter(logging.Formatter):
    def __init__(self, process_kind):
        super().__init__()
        self.process_kind = process_kind

    def format(self, record):
        line = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                    timespec="milliseconds"),
                "level": record.levelname, "process": self.process_kind,
                "logger": record.name, "message": record.getMessage()}
        line.update(getattr(record, "audit", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(process_kind):
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(process_kind))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO"))


def audit(logger, event, **fields):
    logger.info(event, extra={"audit": {"event": event, **fields}})


def request_id_from(header):
    """The caller's X-Request-ID when it is a sane token, else a new one."""
    if header and len(header) <= 64 and all(c.isalnum() or c in "-_." for c in header):
        return header
    return uuid.uuid4().hex


def attach(app):
    """A request id for every request (echoed as X-Request-ID) and one log line per
    request with its status, duration and client."""
    log = logging.getLogger("service.request")

    @app.before_request
    def assign_request_id():
        g.request_id = request_id_from(request.headers.get("X-Request-ID"))
        g.log_started = time.perf_counter()

    @app.after_request
    def log_request(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        account = g.get("account")
        audit(log, "request", request_id=g.get("request_id"), method=request.method,
              path=request.path, status=response.status_code,
              client=account["name"] if account else None,
              duration_ms=round((time.perf_counter() - g.get("log_started", 0)) * 1000, 2))
        return response
