"""The shapes of the documents and messages both sides pass around, named once.

MongoDB, Eve and RQ hand these over as plain dicts; the TypedDicts say which keys a
reader may expect (`total=False`: a key may be missing, as in the stored documents)."""
from datetime import datetime
from typing import Any, Literal, TypedDict

from bson import ObjectId

Task = Literal["classification", "regression"]
Role = Literal["admin", "client", "reviewer", "analyst"]
Features = list[Any]  # a row's values in the model's order: numbers, strings, booleans


class ArtifactRef(TypedDict, total=False):
    sha256: str
    size: int
    format: str
    path: str


class Slicer(TypedDict, total=False):
    """A feature's (or the prediction's) bins in a reference profile (core/profiles.py)."""
    name: str
    bins: list[float]
    categories: list[Any]
    reference: list[float]


class Profile(TypedDict):
    """A version's reference profile: its rows' shares per bin (core/profiles.py)."""
    source: str
    rows: int
    features: list[Slicer]
    prediction: Slicer


class ModelDocument(TypedDict, total=False):
    """A registered model version (collection `models`)."""
    _id: ObjectId
    name: str
    version: int
    task: Task
    features: list[str]
    feature_types: list[str]
    classes: list[str]
    metrics: dict[str, Any]
    artifact: ArtifactRef
    trained_at: datetime
    sklearn_version: str
    aliases: list[str]
    retired: bool
    drift_threshold: float
    review_threshold: float | None
    reference: Profile | None
    shadow: int | None
    cache_seconds: int
    training: dict[str, Any]
    trained_from: dict[str, Any]
    _created: datetime
    _updated: datetime
    _etag: str


class ClassificationResult(TypedDict):
    label: str
    probabilities: dict[str, float]


class RegressionResult(TypedDict):
    value: float


Result = dict[str, Any]  # a ClassificationResult or a RegressionResult, as stored
ErrorInfo = TypedDict("ErrorInfo", {"type": str, "message": str})
Outcome = tuple[str, dict[str, Any]]  # ("done", result) or ("failed", error)


class Account(TypedDict):
    """A token's account, as the API remembers it (service/auth.py)."""
    _id: str
    name: str
    role: Role


class JobMeta(TypedDict, total=False):
    """What a prediction job carries beside its rows (core/queue.py)."""
    model: str
    version: int
    rows: int
    batch: str | None
    request_id: str | None
    client: str | None
    inputs: list[str]
    callbacks: dict[str, str]
    answer: bool


class InputItem(TypedDict, total=False):
    """An input as the API stores it (collection `inputs`), with its prediction's id."""
    _id: ObjectId
    prediction: ObjectId
    model: str
    version: int
    alias: str
    features: Any
    ref: str
    owner: str
    batch: ObjectId
    callback_url: str
    status: str
    _created: datetime
    _updated: datetime
    _etag: str


Chunk = tuple[str, str, int, list[InputItem]]  # (job id, model, version, inputs)
