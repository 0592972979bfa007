"""The worker's loaded models: each version read from the database the first time a job
needs it (its bytes verified against its sha256), then kept in a least-recently-used
cache bounded by count and by artifact bytes (MODEL_CACHE_MB). A new version or a
moved alias needs no restart: jobs name the version they were resolved to."""
import logging
import time
from collections import OrderedDict
from typing import Any, TypedDict

from bson import ObjectId
from pymongo.database import Database

import settings
from core import artifacts, profiles
from core.inference import compute
from core.types import ModelDocument, Profile

log = logging.getLogger(__name__)


Loaded = tuple[ModelDocument, Any]  # (model document, estimator)


class ModelCache:
    def __init__(self, max_models: int, max_bytes: int) -> None:
        self.max_models = max_models
        self.max_bytes = max_bytes
        self.loaded: OrderedDict[tuple[str, int], Loaded] = OrderedDict()  # by (name, version)

    def get(self, db: Database[Any], name: str, version: int) -> Loaded:
        key = (name, version)
        if key in self.loaded:
            self.loaded.move_to_end(key)
            return self.loaded[key]
        document = db.models.find_one({"name": name, "version": version})
        if document is None:
            raise artifacts.ArtifactError(f"model {name!r} version {version} is not registered")
        artifact = document["artifact"]
        estimator = artifacts.load(artifacts.read_verified(db, artifact),
                                   artifact.get("format", artifacts.JOBLIB))
        self.loaded[key] = (document, estimator)
        self.evict()
        return self.loaded[key]

    def size(self) -> int:
        return sum(document["artifact"].get("size", 0) for document, _ in self.loaded.values())

    def evict(self) -> None:
        """Oldest first, keeping at least the model just loaded."""
        while len(self.loaded) > 1 and (len(self.loaded) > self.max_models
                                        or self.size() > self.max_bytes):
            self.loaded.popitem(last=False)


cache = ModelCache(settings.MODEL_CACHE_MODELS, settings.MODEL_CACHE_MB * 2**20)


def load(db: Database[Any], name: str, version: int) -> Loaded:
    """(model document, estimator) for one registered version."""
    return cache.get(db, name, version)


def warm_up(entry: ModelDocument, estimator: Any) -> None:
    """One model call on an example row, answered to no one: a library's first call in a
    process sets things up (imports, caches), and the first row a worker serves should
    not wait for that. Best effort: a model that refuses the row is warmed by its first
    job instead."""
    try:
        compute(entry, estimator, [profiles.example_row(entry)])
    except Exception as exc:
        log.info("model %s v%s not warmed up: %s", entry.get("name"), entry.get("version"),
                 exc)


SETTINGS_SECONDS = 5  # a PATCH of a threshold, or a new reference, is seen within this
SETTINGS_FIELDS = {"review_threshold": 1, "drift_threshold": 1, "reference": 1, "shadow": 1,
                   "cache_seconds": 1}


class Settings(TypedDict, total=False):
    """The fields of a version that change after it is registered (SETTINGS_FIELDS)."""
    _id: ObjectId
    review_threshold: float | None
    drift_threshold: float
    reference: Profile | None
    shadow: int | None
    cache_seconds: int


settings_cache: dict[ObjectId, tuple[float, Settings]] = {}  # model _id -> (read at, settings)


def settings_of(db: Database[Any], entry: ModelDocument) -> Settings:
    """The fields of a version that change after it is registered, read again at most
    every SETTINGS_SECONDS (the document in the cache is the one loaded)."""
    read_at, fields = settings_cache.get(entry["_id"], (None, None))
    if read_at is None or time.monotonic() - read_at > SETTINGS_SECONDS:
        fields = db.models.find_one({"_id": entry["_id"]}, SETTINGS_FIELDS) or Settings()
        settings_cache[entry["_id"]] = (time.monotonic(), fields)
    assert fields is not None  # read now, or cached with its read_at
    return fields


def forget_settings(entry: ModelDocument) -> None:
    settings_cache.pop(entry["_id"], None)
