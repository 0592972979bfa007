"""The workers' side of live quality and drift: the rows of each model call are added to
their version's hour bucket in one update (core/quality.py), binned by the version's
reference profile when it has one (core/profiles.py). A version registered without a
reference gets one from the first REFERENCE_ROWS rows it serves."""
import logging
from datetime import datetime, timezone
from typing import Any

from pymongo.database import Database

import settings
from core import profiles, quality
from core.documents import DONE
from core.types import Features, ModelDocument, Outcome

from . import models

log = logging.getLogger(__name__)

REFERENCE_ROWS = 1000


def done_indices(prediction_ids: list[str], outcomes: list[Outcome], finished_ids: set[str]) -> list[int]:
    """The indices of the rows this worker wrote `done` (finished_ids: those it finished)."""
    return [i for i, (status, _) in enumerate(outcomes)
            if status == DONE and prediction_ids[i] in finished_ids]


def waits_of(enqueued: list[datetime | None], finished_at: datetime) -> list[float | None]:
    """Seconds from each row's enqueue (its job's, None when unknown) to `finished_at`."""
    return [None if stamp is None else
            (finished_at - (stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)))
            .total_seconds() for stamp in enqueued]


def count(db: Database[Any], entry: ModelDocument | None, prediction_ids: list[str], rows: list[Features],
          outcomes: list[Outcome], finished_ids: set[str], finished_at: datetime | None,
          enqueued: list[datetime | None] | None = None) -> None:
    """Add the rows just written to their version's bucket (`enqueued`: when each row's
    job was enqueued, for the submit-to-done time); best effort, like the announcement:
    a bucket that misses them undercounts, the predictions are written."""
    if entry is None or not rows or not settings.QUALITY_COUNTS:
        return
    try:
        assert finished_at is not None  # written with its rows (jobs/predict.py)
        done = done_indices(prediction_ids, outcomes, finished_ids)
        if not done:
            return
        waits = waits_of(enqueued or [None] * len(rows), finished_at)
        profile = models.settings_of(db, entry).get("reference")
        quality.add(db, entry, finished_at, quality.served_terms(
            entry, [rows[i] for i in done], [outcomes[i][1] for i in done], profile,
            [waits[i] for i in done]))
    except Exception:  # a store down now: the rows are written, their counts are lost
        log.exception("rows of %s v%s not counted", entry["name"], entry["version"])


def make_reference_if_due(db: Database[Any], entry: ModelDocument | None) -> None:
    """For a version without a reference: once it has served REFERENCE_ROWS rows, the
    first of them become its reference profile (source `served`). Called after the
    rows are announced: the worker that crosses the mark reads those rows and their
    inputs, and the rows of its chunk are not kept waiting for that. Best effort: a
    failure leaves it to the next chunk."""
    if entry is None or not settings.QUALITY_COUNTS:
        return
    try:
        if models.settings_of(db, entry).get("reference") is None:
            make_reference_if_served(db, entry)
    except Exception:
        log.exception("no reference made for %s v%s", entry["name"], entry["version"])


def make_reference_if_served(db: Database[Any], entry: ModelDocument) -> None:
    """Once the version has served REFERENCE_ROWS rows, the first of them become its
    reference profile (source `served`), unless it has one by then."""
    served = quality.totals(quality.buckets(db, entry["_id"], None)).get("n", 0)
    if served < REFERENCE_ROWS:
        return
    first = list(db.predictions.find(
        {"model": entry["name"], "version": entry["version"], "status": DONE},
        {"input": 1, "result": 1}).sort([("_created", 1)]).limit(REFERENCE_ROWS))
    features = {i["_id"]: i["features"] for i in db.inputs.find(
        {"_id": {"$in": [p["input"] for p in first]}}, {"features": 1})}
    pairs = [(features[p["input"]], p["result"]) for p in first if p["input"] in features]
    profile = profiles.build(entry, [row for row, _ in pairs], [r for _, r in pairs], "served")
    db.models.update_one({"_id": entry["_id"], "reference": None}, {"$set": {"reference": profile}})
    models.forget_settings(entry)
