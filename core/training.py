"""Retraining a version from what the store holds: its labelled predictions (features as
stored, the latest `actual` as target) and the training file kept with it.

The holdout is drawn from the labelled predictions alone (stratified for a classifier,
with the training's recorded seed); the challenger is `sklearn.base.clone` of the source
version's estimator, whatever pipeline a user uploaded, fitted on the rest and on the
training file; champion and challenger are then scored on the same holdout rows with the
figures of `quality` (core/figures.py: quality_of). jobs/training.py runs this as an RQ
job; service/trainings.py checks at the request what can be known there."""
import csv
import io
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import gridfs
import numpy as np
from pymongo.database import Database
from sklearn.base import clone
from sklearn.model_selection import train_test_split

from . import figures, quality
from .documents import DONE
from .inference import compute, feature_types, model_input
from .types import Features, ModelDocument

MIN_LABELLED = 20
TARGET = "target"
TRAINING_BUCKET = "training"
MAX_TRAINING_ROWS = 1_000_000
READ_PAGE = 10_000


class TrainingRefused(Exception):
    """Why a version cannot be retrained from these rows (a 422 at the request, or the
    reason a training failed)."""


def labelled(db: Database[Any], entry: ModelDocument,
             since: datetime | None) -> tuple[list[Features], list[Any]]:
    """(features, actual) of the version's labelled predictions finished since `since`
    (None: all), oldest first."""
    query: dict[str, Any] = {"model": entry["name"], "version": entry["version"],
                             "status": DONE, "actual": {"$exists": True}}
    if since is not None:
        query["finished_at"] = {"$gte": since}
    labels = [(p["input"], p["actual"]) for p in db.predictions.find(
        query, {"input": 1, "actual": 1}).sort([("_id", 1)])]
    features: dict[Any, Features] = {}
    for start in range(0, len(labels), READ_PAGE):
        page = [input_id for input_id, _ in labels[start:start + READ_PAGE]]
        features.update((i["_id"], i["features"]) for i in db.inputs.find(
            {"_id": {"$in": page}}, {"features": 1}))
    kept = [(features[input_id], actual) for input_id, actual in labels if input_id in features]
    return [row for row, _ in kept], [actual for _, actual in kept]


def refusal(entry: ModelDocument, targets: list[Any]) -> str | None:
    """Why these labels cannot train a challenger, or None."""
    if len(targets) < MIN_LABELLED:
        return (f"{len(targets)} labelled rows in the window: at least {MIN_LABELLED} are "
                "needed (POST /feedback labels predictions)")
    if entry["task"] == "classification" and len(set(targets)) < 2:
        return f"every labelled row is of one class ({targets[0]!r}): a classifier needs two"
    return None


def converters(entry: ModelDocument) -> list[Any]:
    """A function per feature from a CSV cell to its value (ValueError when it is not)."""
    def number(text: str) -> float:
        value = float(text)
        if not np.isfinite(value):
            raise ValueError("not a finite number")
        return value

    def boolean(text: str) -> bool:
        lowered = text.strip().lower()
        if lowered not in ("true", "false", "1", "0"):
            raise ValueError("not true or false (or 1 or 0)")
        return lowered in ("true", "1")
    kinds = {"number": number, "boolean": boolean, "string": str}
    return [kinds[kind] for kind in feature_types(entry)]


def read_table(lines: Iterable[str], entry: ModelDocument) -> tuple[list[Features], list[Any]]:
    """The rows of a training file: a header naming the model's features (any order) and
    `target`, then one row per example. Raises TrainingRefused naming the first problem."""
    records = csv.reader(lines, strict=True)
    try:
        header = [name.strip() for name in next(records, [])]
        missing = [name for name in [*entry["features"], TARGET] if name not in header]
        unknown = [name for name in header if name not in entry["features"] and name != TARGET]
        if missing or unknown or len(set(header)) != len(header):
            raise TrainingRefused(f"the header names the features and `{TARGET}` once each "
                                  f"(missing: {missing}, unknown: {unknown})")
        at = [header.index(name) for name in entry["features"]]
        target_at, convert = header.index(TARGET), converters(entry)
        classes = set(entry.get("classes") or [])
        rows: list[Features] = []
        targets: list[Any] = []
        for number, record in enumerate(records, 1):
            if not record:
                continue
            if len(rows) >= MAX_TRAINING_ROWS:
                raise TrainingRefused(f"more than {MAX_TRAINING_ROWS:,} rows")
            if len(record) != len(header):
                raise TrainingRefused(f"row {number}: {len(record)} values for {len(header)} "
                                      "columns")
            try:
                rows.append([conv(record[i]) for conv, i in zip(convert, at)])
                target: Any = record[target_at]
                if entry["task"] == "regression":
                    target = convert_target(target)
                elif target not in classes:
                    raise ValueError(f"target {target!r} is not one of the version's classes")
            except ValueError as exc:
                raise TrainingRefused(f"row {number}: {exc}") from None
            targets.append(target)
    except csv.Error as exc:
        raise TrainingRefused(f"not a CSV file: {exc}") from None
    if not rows:
        raise TrainingRefused("a header and no rows")
    return rows, targets


def convert_target(text: str) -> float:
    value = float(text)
    if not np.isfinite(value):
        raise ValueError("the target is not a finite number")
    return value


def store_file(db: Database[Any], data: bytes, rows: int) -> dict[str, Any]:
    """Keep a training file's bytes (GridFS bucket `training`, one file per sha256);
    returns what the version's document records of it."""
    from .artifacts import sha256_of
    sha256 = sha256_of(data)
    bucket = gridfs.GridFS(db, collection=TRAINING_BUCKET)
    if not bucket.exists(sha256):
        try:
            bucket.put(data, _id=sha256)
        except gridfs.errors.FileExists:
            pass  # stored by a concurrent upload of the same bytes
    return {"sha256": sha256, "rows": rows, "size": len(data)}


def training_file(db: Database[Any], entry: ModelDocument) -> tuple[list[Features], list[Any]]:
    """The rows of the training file kept with the version (none without one)."""
    kept = entry.get("training")
    if not kept:
        return [], []
    data = gridfs.GridFS(db, collection=TRAINING_BUCKET).get(kept["sha256"]).read()
    return read_table(io.StringIO(data.decode("utf-8-sig"), newline=""), entry)


def as_csv(entry: Mapping[str, Any], rows: list[Features], targets: list[Any]) -> bytes:
    """Rows and targets as a training file (the new version keeps what it learnt from)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*entry["features"], TARGET])
    for row, target in zip(rows, targets):
        writer.writerow([*row, target])
    return out.getvalue().encode()


def split(entry: ModelDocument, rows: list[Features], targets: list[Any], holdout: float,
          seed: int) -> tuple[list[Features], list[Features], list[Any], list[Any]]:
    """(train rows, holdout rows, train targets, holdout targets) of the labelled rows:
    a stratified split for a classifier, with the recorded seed."""
    stratify = targets if entry["task"] == "classification" else None
    try:
        train, hold, train_y, hold_y = train_test_split(
            rows, targets, test_size=holdout, random_state=seed, stratify=stratify)
    except ValueError as exc:  # e.g. a class with a single labelled row
        raise TrainingRefused(f"the labelled rows cannot be split: {exc}") from None
    return list(train), list(hold), list(train_y), list(hold_y)


def fit(entry: ModelDocument, source: Any, rows: list[Features], targets: list[Any]) -> Any:
    """A clone of the source estimator fitted on the rows, given to it in the form the
    source was fitted on (an array, or a DataFrame of the training columns)."""
    try:
        challenger = clone(source)
    except Exception as exc:  # an estimator scikit-learn cannot clone
        raise TrainingRefused(f"the estimator cannot be cloned: {type(exc).__name__}: "
                              f"{str(exc)[:300]}") from None
    try:
        return challenger.fit(model_input(entry, source, rows), np.asarray(targets))
    except Exception as exc:
        raise TrainingRefused(f"the clone did not fit: {type(exc).__name__}: "
                              f"{str(exc)[:300]}") from None


def score(entry: ModelDocument, estimator: Any, rows: list[Features],
          targets: list[Any]) -> dict[str, Any]:
    """The version's figures on the rows, as `quality` gives them for labelled rows."""
    results = compute(entry, estimator, rows)
    totals = quality.served_terms(entry, rows, results)
    for result, actual in zip(results, targets):
        for key, value in quality.label_terms(entry, result, actual).items():
            totals[key] = totals.get(key, 0) + value
    scored = figures.quality_of(entry, totals)
    scored.pop("held_out", None)
    return scored
