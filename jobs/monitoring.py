"""The workers' side of live quality and drift: the rows of each model call are added to
their version's hour bucket in one update (core/quality.py), binned by the version's
reference profile when it has one (core/profiles.py), and a shadow's answers to its own
version's bucket. Each write is counted once (core/counting.py): by this worker right
after it, or, when this worker died or lost its count, by the rerun of the job, which
finds its rows finished by that write (count_others_writes). A version registered
without a reference gets one from the first REFERENCE_ROWS rows it serves."""
import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from bson import ObjectId
from pymongo.database import Database

import settings
from core import counting, profiles, quality
from core.documents import DONE
from core.types import Features, ModelDocument, Outcome, Result

from . import models

log = logging.getLogger(__name__)

REFERENCE_ROWS = 1000
writer = counting.Writer()  # this process's counts


class CountLost(Exception):
    """Rows were written and their count did not land: the job is run again (RQ's
    retry), and its rerun counts them."""


def done_indices(prediction_ids: list[str], outcomes: list[Outcome], finished_ids: set[str]) -> list[int]:
    """The indices of the rows this worker wrote `done` (finished_ids: those it finished)."""
    return [i for i, (status, _) in enumerate(outcomes)
            if status == DONE and prediction_ids[i] in finished_ids]


def waits_of(enqueued: list[datetime | None], finished_at: datetime) -> list[float | None]:
    """Seconds from each row's enqueue (its job's, None when unknown) to `finished_at`."""
    return [None if stamp is None else
            (finished_at - (stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)))
            .total_seconds() for stamp in enqueued]


def on_insert(entry: ModelDocument, stamp: datetime) -> dict[str, Any]:
    """What a bucket made by a count holds beside its counts."""
    return {"model_id": entry["_id"], "model": entry["name"], "version": entry["version"],
            "hour": quality.hour_of(stamp)}


def from_stamp(stamp: int) -> datetime:
    return datetime.fromtimestamp(stamp / 1000, timezone.utc)


def writes_between(db: Database[Any], entry: ModelDocument, worker: str,
                   finished_at: datetime) -> Callable[[int | None, int], list[int]]:
    """For counting.claim: the stamps of `worker`'s writes into the version's bucket of
    `finished_at`'s hour (its own rows, or rows it shadowed) after hw and before stamp."""
    def between(hw: int | None, stamp: int) -> list[int]:
        low = from_stamp(hw) if hw is not None else \
            quality.hour_of(finished_at) - timedelta(milliseconds=1)
        query = {"status": DONE, "worker": worker,
                 "finished_at": {"$gt": low, "$lt": from_stamp(stamp)},
                 "$or": [{"model": entry["name"], "version": entry["version"]},
                         {"model": entry["name"], "shadow.version": entry["version"]}]}
        return sorted({counting.stamp_of(p["finished_at"])
                       for p in db.predictions.find(query, {"finished_at": 1})})
    return between


def count_write(db: Database[Any], entry: ModelDocument, finished_at: datetime, worker: str,
                terms: dict[str, float], own: bool) -> bool:
    """Count one write into the version's bucket, once: this process's own (own), or
    another's found by a rerun. Whether this call counted it."""
    bucket = quality.bucket_id(entry["_id"], finished_at)
    between = writes_between(db, entry, worker, finished_at)
    if own:
        return writer.count(db, quality.COLLECTION, bucket, worker, finished_at, terms,
                            on_insert(entry, finished_at), between)
    return counting.claim(db, quality.COLLECTION, bucket, worker, finished_at, terms,
                          on_insert(entry, finished_at), between)


def terms_of(db: Database[Any], entry: ModelDocument, rows: list[Features],
             results: list[Result], waits: list[float | None]) -> dict[str, float]:
    profile = models.settings_of(db, entry).get("reference")
    return quality.served_terms(entry, rows, results, profile, waits)


def count(db: Database[Any], entry: ModelDocument | None, prediction_ids: list[str],
          rows: list[Features], outcomes: list[Outcome], finished_ids: set[str],
          finished_at: datetime | None, worker: str, enqueued: list[datetime | None] | None = None,
          shadow: tuple[ModelDocument, list[Result | None]] | None = None) -> None:
    """Count the rows this write finished `done` into their version's bucket, and the
    shadow's answers to them (shadow: its version and each row's answer) into the
    shadow's (`enqueued`: when each row's job was enqueued, for the submit-to-done time).
    Raises CountLost when a count did not land."""
    if entry is None or not rows or not settings.QUALITY_COUNTS or finished_at is None:
        return
    done = done_indices(prediction_ids, outcomes, finished_ids)
    if not done:
        return
    waits = waits_of(enqueued or [None] * len(rows), finished_at)
    try:
        count_write(db, entry, finished_at, worker, terms_of(
            db, entry, [rows[i] for i in done], [outcomes[i][1] for i in done],
            [waits[i] for i in done]), own=True)
        if shadow is not None:
            shadow_entry, answers = shadow
            shadowed = [i for i in done if answers[i] is not None]
            if shadowed:
                count_write(db, shadow_entry, finished_at, worker, terms_of(
                    db, shadow_entry, [rows[i] for i in shadowed],
                    [answers[i] for i in shadowed],  # type: ignore[misc]
                    [waits[i] for i in shadowed]), own=True)
    except Exception as exc:
        log.exception("rows of %s v%s not counted now", entry["name"], entry["version"])
        raise CountLost(str(exc)) from exc


def count_others_writes(db: Database[Any], entry: ModelDocument | None,
                        prediction_ids: list[str], finished_ids: set[str]) -> int:
    """The rows of this job that another write finished (a worker that died or lost its
    count before counting them, or that is counting them now): count each such write
    unless it is counted. Returns how many writes this call counted."""
    others = [ObjectId(pid) for pid in prediction_ids if pid not in finished_ids]
    if entry is None or not others or not settings.QUALITY_COUNTS:
        return 0
    writes = {(p["worker"], p["finished_at"]) for p in db.predictions.find(
        {"_id": {"$in": others}, "status": DONE}, {"worker": 1, "finished_at": 1})
        if p.get("worker") and p.get("finished_at")}
    return sum(claim_write(db, entry, worker, finished_at) for worker, finished_at in writes)


def claim_write(db: Database[Any], entry: ModelDocument, worker: str,
                finished_at: datetime) -> int:
    """Count another process's write (all its rows of this version, and their shadow
    answers) unless it is counted."""
    written = list(db.predictions.find(
        {"status": DONE, "worker": worker, "finished_at": finished_at,
         "model": entry["name"], "version": entry["version"]},
        {"input": 1, "result": 1, "shadow": 1, "queued_at": 1}))
    features = {i["_id"]: i["features"] for i in db.inputs.find(
        {"_id": {"$in": [p["input"] for p in written]}}, {"features": 1})}
    written = [p for p in written if p["input"] in features]
    rows = [features[p["input"]] for p in written]
    waits = waits_of([p.get("queued_at") for p in written], finished_at)
    counted = count_write(db, entry, finished_at, worker, terms_of(
        db, entry, rows, [p["result"] for p in written], waits), own=False)
    for version in {p["shadow"]["version"] for p in written if p.get("shadow")}:
        shadow_entry, _ = models.load(db, entry["name"], version)
        shadowed = [i for i, p in enumerate(written)
                    if (p.get("shadow") or {}).get("version") == version]
        count_write(db, shadow_entry, finished_at, worker, terms_of(
            db, shadow_entry, [rows[i] for i in shadowed],
            [written[i]["shadow"]["result"] for i in shadowed], [waits[i] for i in shadowed]),
            own=False)
    return int(counted)


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
