"""Model artifacts: their bytes in the database (GridFS bucket `artifacts`, one file per
sha256, so a worker on any host needs only MONGO_URI), read back only when they still
hash to their name, and turned into an estimator by their format.

`.skops` files are loaded with skops.io and only the types skops trusts by default:
no code of the file's choosing runs. joblib/pickle files run whatever code they carry
when loaded: only admins may upload models, and an admin token is therefore code
execution on the workers (see the README)."""
import hashlib
import io
from typing import Any

import gridfs
import joblib
import skops.io
from pymongo.database import Database

from .types import ArtifactRef

BUCKET = "artifacts"
SKOPS = "skops"
JOBLIB = "joblib"


class ArtifactError(Exception):
    """Artifact bytes that are missing, do not match their sha256, or do not load."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def format_of(filename: str | None, data: bytes) -> str:
    """skops files are zip archives; anything else is read as a joblib/pickle dump."""
    if (filename or "").lower().endswith(".skops") or data[:4] == b"PK\x03\x04":
        return SKOPS
    return JOBLIB


def store(db: Database[Any], data: bytes, artifact_format: str) -> ArtifactRef:
    """Store the bytes under their sha256 (once: the same bytes are one file)."""
    sha256 = sha256_of(data)
    bucket = gridfs.GridFS(db, collection=BUCKET)
    if not bucket.exists(sha256):
        try:
            bucket.put(data, _id=sha256, format=artifact_format)
        except gridfs.errors.FileExists:
            pass  # stored by a concurrent upload of the same bytes
    return {"sha256": sha256, "size": len(data), "format": artifact_format}


def read_verified(db: Database[Any], artifact: ArtifactRef) -> bytes:
    """The stored bytes of `artifact`, only if they hash to its sha256."""
    try:
        data = gridfs.GridFS(db, collection=BUCKET).get(artifact["sha256"]).read()
    except gridfs.errors.NoFile:
        raise ArtifactError(f"artifact sha256 {artifact['sha256']} is not stored") from None
    if sha256_of(data) != artifact["sha256"]:
        raise ArtifactError(f"artifact bytes do not match sha256 {artifact['sha256']};"
                            " refusing to load them")
    return data


def untrusted_types(data: bytes) -> list[str]:
    """The types in a skops file that skops does not trust by default."""
    untrusted: list[str] = skops.io.get_untrusted_types(data=data)
    return untrusted


def load(data: bytes, artifact_format: str) -> Any:
    """The estimator in `data`; a skops file only when it holds trusted types alone."""
    if artifact_format == SKOPS:
        untrusted = untrusted_types(data)
        if untrusted:
            raise ArtifactError(f"the .skops file holds types skops does not trust: "
                                f"{', '.join(untrusted[:5])}")
        return skops.io.loads(data)
    return joblib.load(io.BytesIO(data))
