"""Live quality, counted as it happens: one bucket document per model version and hour
(collection `quality`), to which the workers add the rows they write (one update per
model call) and the API adds each label it is given (feedback), so that a window's
figures are sums of a few buckets, whatever the number of predictions stored.

A row counts in the hour it was finished, its label too (whenever it comes). Fields:
  n        rows done                      top  Σ top probability (classification)
  waited   rows with a known submit time  wait Σ seconds from submission to done
  binned   rows counted into drift bins   f_<feature>_<bin>, p_<bin>: rows per bin
  labelled rows with a label
  classification: c_<actual>_<predicted> (class indices), ll Σ log loss, br Σ Brier
  regression:     ae Σ |error|, se Σ error², y Σ actual, yy Σ actual²
A changed label takes its old terms back (negated) and adds the new ones."""
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from . import profiles
from .types import Features, Profile, Result, Slicer

COLLECTION = "quality"
NOT_COUNTS = {"writers": 0}  # what a bucket keeps to count each write once (core/counting.py)
EPS = float(np.finfo(np.float64).eps)  # what sklearn's log_loss clips probabilities to


def hour_of(stamp: datetime) -> datetime:
    return stamp.replace(minute=0, second=0, microsecond=0)


def bucket_id(model_id: ObjectId, stamp: datetime) -> str:
    return f"{model_id}:{hour_of(stamp):%Y%m%d%H}"


def served_terms(entry: Mapping[str, Any], rows: list[Features], results: Sequence[Result],
                 profile: Profile | None = None,
                 waits: Sequence[float | None] | None = None) -> dict[str, float]:
    """What rows done with `results` add to their bucket (`waits`: each row's seconds
    from submission to done, None when unknown)."""
    terms: dict[str, float] = {"n": len(results)}
    known = [wait for wait in waits or [] if wait is not None]
    if known:
        terms.update(waited=len(known), wait=sum(known))
    if entry["task"] == "classification":
        terms["top"] = sum(max(result["probabilities"].values()) for result in results)
    if profile:
        terms["binned"] = len(results)
        for index, feature in enumerate(profile["features"]):
            terms.update(bin_counts(f"f_{index}_", feature, [row[index] for row in rows]))
        terms.update(bin_counts("p_", profile["prediction"],
                                [profiles.predicted_value(entry, r) for r in results]))
    return terms


def bin_counts(prefix: str, slicer: Slicer, values: Sequence[Any]) -> dict[str, int]:
    """{prefix + bin: rows} of the values' bins (numbers binned by numpy, all at once)."""
    if "bins" in slicer:
        slots = np.searchsorted(slicer["bins"], np.asarray(values, dtype=float), side="left")
        counts = np.bincount(slots, minlength=profiles.slot_count(slicer))
        return {f"{prefix}{slot}": int(count) for slot, count in enumerate(counts) if count}
    counted: dict[str, int] = {}
    for value in values:
        key = f"{prefix}{profiles.slot(slicer, value)}"
        counted[key] = counted.get(key, 0) + 1
    return counted


def label_terms(entry: Mapping[str, Any], result: Result, actual: str | float) -> dict[str, float]:
    """What one label of a row done with `result` adds to its bucket."""
    if entry["task"] == "classification":
        classes = entry["classes"]
        probabilities = [result["probabilities"][c] for c in classes]
        truth = classes.index(actual)
        return {"labelled": 1, f"c_{truth}_{classes.index(result['label'])}": 1,
                "ll": -math.log(min(max(probabilities[truth], EPS), 1 - EPS)),
                "br": sum((p - (i == truth)) ** 2 for i, p in enumerate(probabilities))}
    error = float(actual) - result["value"]
    return {"labelled": 1, "ae": abs(error), "se": error * error,
            "y": float(actual), "yy": float(actual) ** 2}


def relabel_terms(entry: Mapping[str, Any], result: Result, old: str | float | None,
                  new: str | float) -> dict[str, float]:
    """What changing a row's label from `old` (None: none yet) to `new` adds."""
    terms = label_terms(entry, result, new)
    if old is not None:
        for key, value in label_terms(entry, result, old).items():
            terms[key] = terms.get(key, 0) - value
    return {key: value for key, value in terms.items() if value != 0}


def add(db: Database[Any], model: Mapping[str, Any], stamp: datetime,
        terms: Mapping[str, float]) -> None:
    """$inc the version's bucket of `stamp`'s hour by `terms`, made when missing."""
    if not terms:
        return
    bucket = {"_id": bucket_id(model["_id"], stamp)}
    update = {"$inc": terms, "$setOnInsert": {
        "model_id": model["_id"], "model": model["name"], "version": model["version"],
        "hour": hour_of(stamp)}}
    try:
        db[COLLECTION].update_one(bucket, update, upsert=True)
    except DuplicateKeyError:  # made at the same moment by another writer: it is there now
        db[COLLECTION].update_one(bucket, update, upsert=True)


def create_index(db: Database[Any]) -> None:
    db[COLLECTION].create_index([("model_id", 1), ("hour", 1)], name="model_hour")


def buckets(db: Database[Any], model_id: ObjectId, since: datetime | None) -> list[dict[str, Any]]:
    query: dict[str, Any] = {"model_id": model_id}
    if since is not None:
        query["hour"] = {"$gte": hour_of(since)}
    return list(db[COLLECTION].find(query, NOT_COUNTS))


def totals(documents: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """The buckets' counts added up."""
    summed: dict[str, float] = {}
    for document in documents:
        for key, value in document.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) \
                    and key not in ("version",):
                summed[key] = summed.get(key, 0) + value
    return summed
