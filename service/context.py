"""The request's view of the Eve app, typed: Eve adds `data`, `redis` and `auth` to the
Flask app, which Flask's own types do not know. Every module of the API reaches them
through these functions."""
from typing import Any

from flask import current_app
from pymongo.database import Database
from redis import Redis


def db() -> Database[Any]:
    """The API's database (Eve's data layer's pymongo database)."""
    database: Database[Any] = current_app.data.driver.db  # type: ignore[attr-defined]
    return database


def redis() -> Redis:
    connection: Redis = current_app.redis  # type: ignore[attr-defined]
    return connection


def auth_value() -> str | None:
    """The caller's value of Eve's auth_field (the client's token name), None for an
    admin or a request without auth: what Eve adds to the queries of owned resources."""
    auth = current_app.auth  # type: ignore[attr-defined]
    return auth.get_request_auth_value() if auth else None


def list_bounds(resource: str) -> dict[str, Any]:
    """What the store adds to every list query of `resource` (service/data.py)."""
    bounds: dict[str, Any] = current_app.data.list_bounds(resource)  # type: ignore[attr-defined]
    return bounds
