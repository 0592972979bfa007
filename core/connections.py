"""Connections of a worker process to MongoDB and Redis, made once per process."""
from functools import lru_cache
from typing import Any

import pymongo
from pymongo.database import Database
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

import settings


@lru_cache(maxsize=None)
def mongo_db() -> Database[Any]:
    options: dict[str, Any] = settings.MONGO_OPTIONS
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(settings.MONGO_URI, **options)
    return client.get_default_database()


def redis_from_url(url: str | None = None,
                   socket_timeout: float | None = settings.REDIS_TIMEOUT_SECONDS) -> Redis:
    """A Redis client with bounded timeouts. A worker passes socket_timeout=None: it
    blocks on BLPOP far longer than any request should.
    One immediate retry covers a pooled connection left stale by a Redis restart;
    redis-py's default (backoff, 3 retries) spends 4 s per call on a server that is down."""
    return Redis.from_url(url or settings.REDIS_URL, socket_timeout=socket_timeout,
                          socket_connect_timeout=settings.REDIS_TIMEOUT_SECONDS,
                          retry=Retry(NoBackoff(), 1))
