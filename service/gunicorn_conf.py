"""gunicorn settings for the API (`run.py` passes -c python:service.gunicorn_conf)."""
import gc
from typing import Any

# no 414 for long `where` filters: the app bounds the query string (service/query.py)
limit_request_line = 0
accesslog = None  # the app logs each request itself, as JSON with its request id


def post_worker_init(worker: Any) -> None:
    """Runs in each API process once the app is built."""
    from core import logs
    logs.configure("api")
    # What the app's imports made (Eve, pandas, scikit-learn) lives as long as the
    # process: out of every later collection, whose full passes stop all the process's
    # requests while they walk it (docs/operations.md, "Garbage collection").
    gc.freeze()
