"""JSON-lines logs for the API and the workers (the API adds its request lines:
service/logs.py).

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
from datetime import datetime, timezone
from typing import Any


class JsonFormatter(logging.Formatter):
    def __init__(self, process_kind: str) -> None:
        super().__init__()
        self.process_kind = process_kind

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                    timespec="milliseconds"),
                "level": record.levelname, "process": self.process_kind,
                "logger": record.name, "message": record.getMessage()}
        line.update(getattr(record, "audit", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(process_kind: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(process_kind))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO"))


def audit(logger: logging.Logger, event: str, **fields: Any) -> None:
    logger.info(event, extra={"audit": {"event": event, **fields}})
