"""GET /api/v1/health: open to all, 200 when MongoDB and Redis both answer, else 503."""
from collections.abc import Callable
from typing import TypeVar

from flask import Blueprint, Response, jsonify

from core.liveness import live_workers
from core.queue import Queues

from . import context
from .queues import queues

blueprint = Blueprint("health", __name__)

T = TypeVar("T")


def check(part: str, probe: Callable[[], T]) -> tuple[T | None, str | None]:
    try:
        return probe(), None
    except Exception as exc:  # any failure of a store is reported, not raised
        return None, f"{part}: {type(exc).__name__}"


def prediction_workers(service_queues: Queues) -> int:
    """Live workers of either prediction queue (those of small submissions only
    included): RQ keeps a worker killed registered for minutes, its liveness key
    (core/liveness.py) is gone within WORKER_ALIVE_SECONDS."""
    return live_workers(service_queues.both())


@blueprint.get("/health")
def health() -> tuple[Response, int]:
    db = context.db()
    _, mongo_error = check("mongo", lambda: db.command("ping"))
    both = queues()
    workers, redis_error = check("redis", lambda: prediction_workers(both))
    queued, _ = check("redis", lambda: sum(q.count for q in both.both()))
    body = {"mongo": mongo_error or "ok", "redis": redis_error or "ok",
            "workers": workers, "queued": queued}
    return jsonify(body), 503 if (mongo_error or redis_error) else 200
