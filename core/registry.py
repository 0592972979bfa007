"""Registering a model version: the document of a new version of a name is inserted once,
as the name's latest + 1, whoever registers it (an upload through the API, a training on
a worker). Its artifact bytes are stored first (core/artifacts.py), so a version is
never visible without them; a failure before the insert leaves no version at all."""
import hashlib
import json
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError
from redis import Redis

from .types import ModelDocument

GENERATION_KEY = "models:generation"
PRODUCTION = "production"


def models_changed(redis: Redis) -> None:
    """Every API process forgets the model versions it remembers
    (service/models/lookup.py): called by whatever registers, aliases, retires or
    deletes a version."""
    redis.incr(GENERATION_KEY)


def keep_default(db: Database[Any], name: str, serving: ModelDocument) -> bool:
    """Before a version is added to a name without a `production` alias, whose inputs
    naming no version go to its latest version: give `serving`, if it is that latest,
    the alias, so that those inputs keep going to it. Whether it did."""
    if db.models.find_one({"name": name, "aliases": PRODUCTION}, {"_id": 1}) is not None:
        return False
    latest = list(db.models.find({"name": name, "retired": {"$ne": True}}, {"version": 1})
                  .sort("version", -1).limit(1))
    if not latest or latest[0]["version"] != serving["version"]:
        return False
    return bool(db.models.update_one(
        {"_id": serving["_id"], "aliases": {"$ne": PRODUCTION}},
        {"$push": {"aliases": PRODUCTION}}).modified_count)


def etag_of(document: dict[str, Any]) -> str:
    """A new _etag for a changed document (Eve's If-Match and If-None-Match compare it)."""
    content = {k: v for k, v in document.items() if k != "_etag"}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:40]


def with_meta(document: dict[str, Any], now: datetime) -> dict[str, Any]:
    document.update(_created=now, _updated=now)
    document["_etag"] = etag_of(document)
    return document


def latest_version(db: Database[Any], name: str) -> int:
    found = list(db.models.find({"name": name}, {"version": 1}).sort("version", -1).limit(1))
    return int(found[0]["version"]) if found else 0


def insert_next_version(db: Database[Any], name: str, fields: dict[str, Any], now: datetime,
                        model_id: ObjectId | None = None) -> ModelDocument:
    """Insert `fields` as the name's next version (its latest + 1); a concurrent
    registration that took that number makes this one take the next."""
    model_id = model_id or ObjectId()
    while True:
        document = with_meta({"_id": model_id, "name": name,
                              "version": latest_version(db, name) + 1, **fields}, now)
        try:
            db.models.insert_one(document)
            return document  # type: ignore[return-value]
        except DuplicateKeyError:
            continue
