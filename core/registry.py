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

from .types import ModelDocument


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
