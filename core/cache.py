"""The result cache: a version with `cache_seconds` > 0 has its answers kept for that long,
by the row as validated and stored, so that the same row sent again is answered at
submission (service/hooks.py), without a job or a model call.

The answers live in a Redis of their own (CACHE_URL: `make run` starts one with
`maxmemory` CACHE_MAX_MB and the `allkeys-lru` policy), never in the queue's: a full cache
evicts old answers, never queued work. The workers write each answer of such a version
after its write-back (jobs/predict.py); the API reads them. Whatever goes wrong with the
cache (not configured, cold, full, down) is a miss, never an error: after a failure the
cache is left alone for RETRY_SECONDS, so that a cache that is down costs no timeout
per request."""
import hashlib
import json
import logging
import threading
import time
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .types import Features, Result

log = logging.getLogger(__name__)

KEY_PREFIX = "answer:"
TIMEOUT_SECONDS = 1.0
RETRY_SECONDS = 5.0
WRITE_SLICE = 100


def row_key(model_id: Any, features: Features) -> str:
    """The key of a row's answer: the version's id and the row's values, as stored."""
    text = json.dumps([str(model_id), features], separators=(",", ":"), default=str)
    return KEY_PREFIX + hashlib.sha256(text.encode()).hexdigest()


class ResultCache:
    """The answers of one cache server (None: no cache, every row a miss)."""

    def __init__(self, url: str | None) -> None:
        self.connection = None if not url else redis.Redis.from_url(
            url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 0))
        self.lock = threading.Lock()
        self.resting_until = 0.0

    def usable(self) -> bool:
        return self.connection is not None and time.monotonic() >= self.resting_until

    def rest(self, exc: Exception) -> None:
        with self.lock:
            if time.monotonic() >= self.resting_until:
                log.warning("result cache unavailable, rows are misses for %.0f s: %s",
                            RETRY_SECONDS, exc)
            self.resting_until = time.monotonic() + RETRY_SECONDS

    def get_many(self, model_id: Any, rows: list[Features]) -> list[Result | None]:
        """Each row's kept answer, or None: one round trip for all of them."""
        if not rows or not self.usable():
            return [None] * len(rows)
        assert self.connection is not None
        try:
            found = self.connection.mget([row_key(model_id, row) for row in rows])
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            self.rest(exc)
            return [None] * len(rows)
        except redis.RedisError:
            return [None] * len(rows)
        return [None if value is None else json.loads(value) for value in found]

    def put_many(self, model_id: Any, rows: list[Features], results: list[Result],
                 seconds: int) -> None:
        """Keep the answers for `seconds`, WRITE_SLICE at a time (a long pipeline's buffer
        counts against a small cache's memory); best effort: a cache that refuses a write
        (full past what it can evict) keeps fewer answers, one that does not answer is
        left alone for a while."""
        if not rows or seconds <= 0 or not self.usable():
            return
        assert self.connection is not None
        try:
            for start in range(0, len(rows), WRITE_SLICE):
                with self.connection.pipeline(transaction=False) as pipeline:
                    for row, result in zip(rows[start:start + WRITE_SLICE],
                                           results[start:start + WRITE_SLICE]):
                        pipeline.set(row_key(model_id, row), json.dumps(result), ex=seconds)
                    pipeline.execute(raise_on_error=False)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            self.rest(exc)
