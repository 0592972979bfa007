"""The model registry: `models` documents, one per (name, version), whose artifact bytes
are in the database (core/artifacts.py); how an input's model version is resolved.

A model is registered by an upload (POST /api/v1/models, `register-model`), or, for the
three shipped in artifacts/ (manifest.json), at the first start through the same path:
the bytes are read, loaded, described and stored exactly as an upload's.
The file-based reading below (manifest, load_model) serves training, tests and
benchmarks, which need the shipped estimator without a database."""
import io
import json
import logging
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from os import PathLike
from pathlib import Path
from typing import Any

import joblib
import sklearn
from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError
from sklearn.exceptions import InconsistentVersionWarning

import settings
from core import artifacts, profiles, registry
from core.artifacts import ArtifactError
from core.describe import ModelRefused, describe
from core.inference import compute
from core.training import TrainingRefused, read_table, store_file
from core.types import Features, ModelDocument, Profile

ARTIFACTS_DIR = Path(settings.ARTIFACTS_DIR)
MANIFEST = "manifest.json"
PRODUCTION = registry.PRODUCTION
log = logging.getLogger(__name__)
ManifestEntry = dict[str, Any]  # a model of artifacts/manifest.json
Reference = Callable[[ModelDocument], list[Features]]  # the reference rows of a described upload


def read_manifest(artifacts_dir: str | PathLike[str] = ARTIFACTS_DIR) -> list[ManifestEntry]:
    with open(Path(artifacts_dir) / MANIFEST) as f:
        return json.load(f)["models"]


def manifest_entry(name: str, version: int,
                   artifacts_dir: str | PathLike[str] = ARTIFACTS_DIR) -> ManifestEntry:
    for entry in read_manifest(artifacts_dir):
        if entry["name"] == name and entry["version"] == version:
            return entry
    raise ArtifactError(f"model {name!r} version {version} is not in the manifest")


sha256_of = artifacts.sha256_of


def read_verified(entry: ManifestEntry, artifacts_dir: str | PathLike[str] = ARTIFACTS_DIR) -> bytes:
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


_loaded: dict[tuple[str, str, int], tuple[ManifestEntry, Any]] = {}


def load_model(name: str, version: int,
               artifacts_dir: str | PathLike[str] = ARTIFACTS_DIR) -> tuple[ManifestEntry, Any]:
    """The estimator for (name, version), loaded once per process from a verified artifact.

    Bytes are hashed and unpickled from the same buffer, so the file cannot change in
    between."""
    key = (str(artifacts_dir), name, version)
    if key not in _loaded:
        entry = manifest_entry(name, version, artifacts_dir)
        estimator = joblib.load(io.BytesIO(read_verified(entry, artifacts_dir)))
        _loaded[key] = (entry, estimator)
    return _loaded[key]


def load_upload(data: bytes, artifact_format: str) -> Any:
    """The estimator in uploaded bytes, or ModelRefused saying why not."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", InconsistentVersionWarning)
            return artifacts.load(data, artifact_format)
    except InconsistentVersionWarning as warning:
        raise ModelRefused(
            f"the model was saved with scikit-learn {warning.original_sklearn_version}; the "
            f"workers run {sklearn.__version__}: save it again with that version") from None
    except ArtifactError as exc:
        raise ModelRefused(str(exc)) from None
    except Exception as exc:  # whatever unpickling a file that is not a model raises
        raise ModelRefused(f"the file does not load as a model: {type(exc).__name__}: "
                           f"{str(exc)[:200]}") from None


class ReferenceRefused(Exception):
    """A reference file that cannot be the version's reference rows (why: the message)."""


def describe_upload(db: Database[Any], data: bytes, filename: str | None = None,
                    features: list[str] | None = None,
                    reference: Reference | None = None) -> ModelDocument:
    """The registry fields of a model file: loaded and described, then its bytes stored.
    `reference(fields)`, when given, returns the reference rows whose profile the version
    gets (core/profiles.py). Raises ModelRefused or ReferenceRefused before anything is
    stored."""
    artifact_format = artifacts.format_of(filename, data)
    estimator = load_upload(data, artifact_format)
    fields = describe(estimator, features)
    if reference is not None:
        rows = reference(fields)
        fields["reference"] = profiles.build(fields, rows, compute(fields, estimator, rows),
                                             "upload")
    fields["artifact"] = artifacts.store(db, data, artifact_format)
    fields["sklearn_version"] = sklearn.__version__
    return fields








def register_upload(db: Database[Any], name: str, data: bytes, filename: str | None = None,
                    features: list[str] | None = None, alias: str | None = None,
                    reference: Reference | None = None,
                    training: bytes | None = None) -> ModelDocument:
    """A new version of `name` (its latest + 1) from the file's bytes, with `alias` if
    given (taken from the version that had it first), and the training file kept with
    it (core/training.py) if given."""
    fields = describe_upload(db, data, filename, features, reference)
    if training is not None:
        fields["training"] = training_file(db, fields, training)
    model_id = ObjectId()
    if alias:
        take_alias(db, name, alias, model_id)
    return registry.insert_next_version(
        db, name, {**fields, "aliases": [alias] if alias else [], "retired": False},
        datetime.now(timezone.utc), model_id)


def training_file(db: Database[Any], fields: ModelDocument, data: bytes) -> dict[str, Any]:
    """A training file's rows checked against the version's features and classes, and
    its bytes kept; raises TrainingRefused saying why not."""
    try:
        rows, _ = read_table(io.StringIO(data.decode("utf-8-sig"), newline=""), fields)
    except UnicodeDecodeError as exc:
        raise TrainingRefused(f"not UTF-8 text: {exc}") from None
    return store_file(db, data, len(rows))


def take_alias(db: Database[Any], name: str, alias: str, keep_id: ObjectId) -> None:
    """An alias names one version at a time: take it from the other versions of name."""
    now = datetime.now(timezone.utc)
    for other in db.models.find({"name": name, "aliases": alias, "_id": {"$ne": keep_id}}):
        aliases = [a for a in other["aliases"] if a != alias]
        db.models.update_one({"_id": other["_id"]}, {"$set": {
            "aliases": aliases, "_updated": now,
            "_etag": registry.etag_of({**other, "aliases": aliases, "_updated": now})}})


def shipped_reference(entry: ManifestEntry,
                      artifacts_dir: str | PathLike[str] = ARTIFACTS_DIR) -> Profile | None:
    """The reference profile of a shipped version (its training rows), or None."""
    if not entry.get("reference"):
        return None
    return json.loads((Path(artifacts_dir) / entry["reference"]).read_text())


def shipped_training(db: Database[Any], entry: ManifestEntry,
                     artifacts_dir: str | PathLike[str] = ARTIFACTS_DIR) -> dict[str, Any]:
    """A shipped version's training file (its training split), kept as an upload's is."""
    data = (Path(artifacts_dir) / entry["training"]).read_bytes()
    described: ModelDocument = {"features": entry["features"], "task": entry["task"],
                                "classes": entry.get("classes", [])}
    return training_file(db, described, data)


def register_shipped(db: Database[Any], entry: ManifestEntry,
                     artifacts_dir: str | PathLike[str] = ARTIFACTS_DIR) -> None:
    """A shipped model, through the upload's path, at its manifest version (once); one
    registered before reference profiles or training files existed gets them."""
    found = db.models.find_one({"name": entry["name"], "version": entry["version"],
                                "artifact.size": {"$exists": True}},
                               {"reference": 1, "training": 1})
    if found:
        if found.get("reference") is None and entry.get("reference"):
            db.models.update_one({"_id": found["_id"], "reference": None},
                                 {"$set": {"reference": shipped_reference(entry, artifacts_dir)}})
        if found.get("training") is None and entry.get("training"):
            db.models.update_one({"_id": found["_id"]}, {"$set": {
                "training": shipped_training(db, entry, artifacts_dir)}})
        return
    data = read_verified(entry, artifacts_dir)
    fields = describe_upload(db, data, entry["artifact"]["path"], entry["features"])
    fields["artifact"]["path"] = entry["artifact"]["path"]
    fields["metrics"] = entry["metrics"]
    if "classes" in entry:  # trained on class indices; the manifest names them
        fields["classes"] = entry["classes"]
    fields["trained_at"] = datetime.fromisoformat(entry["trained_at"])
    fields["reference"] = shipped_reference(entry, artifacts_dir)
    if entry.get("training"):
        fields["training"] = shipped_training(db, entry, artifacts_dir)
    document = registry.with_meta({"name": entry["name"], "version": entry["version"], **fields},
                         datetime.now(timezone.utc))
    db.models.update_one(
        {"name": entry["name"], "version": entry["version"]},
        {"$set": {k: v for k, v in document.items() if k != "_created"},
         "$setOnInsert": {"_created": document["_created"], "aliases": [], "retired": False}},
        upsert=True)


def sync_manifest(db: Database[Any], artifacts_dir: str | PathLike[str] = ARTIFACTS_DIR) -> None:
    """Register every shipped model not registered yet (idempotent).

    Every API process does this at start: when two upsert the same new model at once,
    the unique index makes one fail, and its retry finds the document the other made
    (MongoDB's advice for concurrent upserts)."""
    for entry in read_manifest(artifacts_dir):
        try:
            try:
                register_shipped(db, entry, artifacts_dir)
            except DuplicateKeyError:
                register_shipped(db, entry, artifacts_dir)
        except (ArtifactError, ModelRefused) as exc:  # the others are still served
            log.error("shipped model %s v%s not registered: %s", entry["name"],
                      entry["version"], exc)


def find_model(db: Database[Any], name: str, version: int | None = None,
               alias: str | None = None) -> ModelDocument | None:
    """The version an input gets: the one it names, or the one its alias names; with
    neither, the version aliased `production`, else the latest one not retired."""
    if version is not None:
        return db.models.find_one({"name": name, "version": version})
    if alias is not None:
        return db.models.find_one({"name": name, "aliases": alias})
    production = db.models.find_one({"name": name, "aliases": PRODUCTION})
    if production and not production.get("retired"):
        return production
    found = list(db.models.find({"name": name, "retired": {"$ne": True}})
                 .sort("version", -1).limit(1))
    return found[0] if found else None
