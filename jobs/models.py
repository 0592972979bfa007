"""The worker's loaded models: each version read from the database the first time a job
needs it (its bytes verified against its sha256), then kept in a least-recently-used
cache bounded by count and by artifact bytes (MODEL_CACHE_MB). A new version or a
moved alias needs no restart: jobs name the version they were resolved to."""
import logging
import time
from collections import OrderedDict

import settings
from core import artifacts, profiles
from core.inference import compute

log = logging.getLogger(__name__)


class ModelCache:
    def __init__(self, max_models, max_bytes):
        self.max_models = max_models
        self.max_bytes = max_bytes
        self.loaded = OrderedDict()  # (name, version) -> (document, estimator)

    def get(self, db, name, version):
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

    def size(self):
        return sum(document["artifact"].get("size", 0) for document, _ in self.loaded.values())

    def evict(self):
        """Oldest first, keeping at least the model just loaded."""
        while len(self.loaded) > 1 and (len(self.loaded) > self.max_models
                                        or self.size() > self.max_bytes):
            self.loaded.popitem(last=False)


cache = ModelCache(settings.MODEL_CACHE_MODELS, settings.MODEL_CACHE_MB * 2**20)


def load(db, name, version):
    """(model document, estimator) for one registered version."""
    return cache.get(db, name, version)


def warm_up(entry, estimator):
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
SETTINGS_FIELDS = {"review_threshold": 1, "drift_threshold": 1, "reference": 1}
settings_cache = {}  # model _id -> (read at, {review_threshold, drift_threshold, reference})


def settings_of(db, entry):
    """The fields of a version that change after it is registered, read again at most
    every SETTINGS_SECONDS (the document in the cache is the one loaded)."""
    read_at, fields = settings_cache.get(entry["_id"], (None, None))
    if read_at is None or time.monotonic() - read_at > SETTINGS_SECONDS:
        fields = db.models.find_one({"_id": entry["_id"]}, SETTINGS_FIELDS) or {}
        settings_cache[entry["_id"]] = (time.monotonic(), fields)
    return fields


def forget_settings(entry):
    settings_cache.pop(entry["_id"], None)
