"""The model registry: the manifest in artifacts/, verified artifact loading, and the
`models` collection that the API validates inputs against."""
import hashlib
import io
import json
from datetime import datetime
from pathlib import Path

import joblib
from pymongo.errors import DuplicateKeyError

import settings

ARTIFACTS_DIR = Path(settings.ARTIFACTS_DIR)
MANIFEST = "manifest.json"


class ArtifactError(Exception):
    """An artifact is missing, outside artifacts/, or does not match its sha256."""


def read_manifest(artifacts_dir=ARTIFACTS_DIR):
    with open(Path(artifacts_dir) / MANIFEST) as f:
        return json.load(f)["models"]


def manifest_entry(name, version, artifacts_dir=ARTIFACTS_DIR):
    for entry in read_manifest(artifacts_dir):
        if entry["name"] == name and entry["version"] == version:
            return entry
    raise ArtifactError(f"model {name!r} version {version} is not in the manifest")


def sha256_of(data):
    return hashlib.sha256(data).hexdigest()


def read_verified(entry, artifacts_dir=ARTIFACTS_DIR):
    """The artifact's bytes, only from inside artifacts/ and only if the sha256 matches."""
    root = Path(artifacts_dir).resolve()
    path = (root / entry["artifact"]["path"]).resolve()
    if not path.is_relative_to(root):
        raise ArtifactError(f"artifact path {entry['artifact']['path']!r} leaves artifacts/")
    data = path.read_bytes()
    if sha256_of(data) != entry["artifact"]["sha256"]:
        raise ArtifactError(f"artifact {entry['artifact']['path']} does not match its sha256;"
                            " refusing to load it")
    return data


_loaded = {}


def load_model(name, version, artifacts_dir=ARTIFACTS_DIR):
    """The estimator for (name, version), loaded once per process from a verified artifact.

    Bytes are hashed and unpickled from the same buffer, so the file cannot change in
    between."""
    key = (str(artifacts_dir), name, version)
    if key not in _loaded:
        entry = manifest_entry(name, version, artifacts_dir)
        estimator = joblib.load(io.BytesIO(read_verified(entry, artifacts_dir)))
        _loaded[key] = (entry, estimator)
    return _loaded[key]


def model_document(entry):
    document = {k: entry[k] for k in ("name", "version", "task", "features", "metrics",
                                       "artifact", "sklearn_version")}
    if entry["task"] == "classification":
        document["classes"] = entry["classes"]
    document["trained_at"] = datetime.fromisoformat(entry["trained_at"])
    return document


def register(db, entry, now):
    document = model_document(entry)
    db.models.update_one(
        {"name": entry["name"], "version": entry["version"]},
        {"$set": {**document, "_updated": now},
         "$setOnInsert": {"_created": now, "_etag": sha256_of(json.dumps(
             entry, sort_keys=True).encode())[:40]}},
        upsert=True,
    )


def sync_manifest(db, artifacts_dir=ARTIFACTS_DIR):
    """Register every manifest entry in the `models` collection (idempotent).

    Every API process does this at start: when two upsert the same new model at once,
    the unique index makes one fail, and its retry updates the document the other made
    (MongoDB's advice for concurrent upserts)."""
    now = datetime.now().astimezone()
    for entry in read_manifest(artifacts_dir):
        try:
            register(db, entry, now)
        except DuplicateKeyError:
            register(db, entry, now)


def find_model(db, name, version=None):
    """The registered model document; the latest version when `version` is None."""
    query = {"name": name} if version is None else {"name": name, "version": version}
    found = list(db.models.find(query).sort("version", -1).limit(1))
    return found[0] if found else None
