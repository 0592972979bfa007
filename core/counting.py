"""Each write counted once into its hour bucket (core/quality.py), whoever counts it and
however often: the worker that wrote the rows, or the rerun of their job after that
worker died or was cut off between its write and its count.

A write is named by its writer (`worker`, host:pid) and its stamp (`finished_at`, to the
millisecond, strictly increasing per process: jobs/writeback.py), both on every row it
finished. A worker counts its writes in the order it makes them, so the bucket keeps,
per writer, only the stamp of the last write counted (`hw`) and, as `m<stamp>` fields,
the writes before it that are not counted (a count that failed, or a writer that died
before its count while a later write of it was counted by a rerun). A write is counted
by an update conditional on that state, with the $inc in the same document:
  - the writer's own count expects `hw` to be what its last count left;
  - otherwise (claim) the state is read: a write at or below `hw` and not listed as
    missed is counted; a missed one is taken off the list with its $inc; a later one
    moves `hw`, listing the writer's writes in between (read from their rows: any there
    is not counted) as missed.
Any update that finds the state changed reads it again."""
import hashlib
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError
from pymongo.results import UpdateResult

WRITERS = "writers"
MAX_TRIES = 20
Terms = dict[str, float]


def writer_key(worker: str) -> str:
    """The bucket's field for a writer: host:pid holds dots, which a path may not."""
    return "w" + hashlib.sha1(worker.encode()).hexdigest()[:12]


def stamp_of(finished_at: datetime) -> int:
    """A write's stamp: its `finished_at` in whole milliseconds since the epoch."""
    return round(finished_at.timestamp() * 1000)


def conditional_update(db: Database[Any], collection: str, bucket: str,
                       condition: dict[str, Any], update: dict[str, Any]) -> bool:
    """Apply `update` to the bucket if it matches `condition` (made when missing);
    whether it did."""
    try:
        result: UpdateResult = db[collection].update_one({"_id": bucket, **condition}, update,
                                                         upsert=True)
    except DuplicateKeyError:  # the bucket exists and did not match
        return False
    return bool(result.matched_count or result.upserted_id is not None)


def state_condition(path: str, hw: int | None) -> dict[str, Any]:
    return {f"{path}.hw": hw} if hw is not None else {f"{path}.hw": {"$exists": False}}


class Writer:
    """This process's counts: per bucket, the `hw` its last count left there. After a
    count that raised (its update may or may not have landed), the bucket's state is read
    again before the next count into it, so that a write is listed as missed only when
    it was not counted."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last: dict[str, int] = {}

    def count(self, db: Database[Any], collection: str, bucket: str, worker: str,
              finished_at: datetime, terms: Terms, on_insert: dict[str, Any],
              writes_between: Callable[[int | None, int], list[int]]) -> bool:
        """Count this process's own write; whether it was counted by this call (False:
        a rerun counted it already). Raises what the database raises: the rerun of the
        job then counts the write, or finds it counted."""
        path, stamp = f"{WRITERS}.{writer_key(worker)}", stamp_of(finished_at)
        with self.lock:
            last = self.last.pop(bucket, None)
        update = {"$inc": terms, "$set": {f"{path}.hw": stamp}, "$setOnInsert": on_insert}
        if last is not None and conditional_update(db, collection, bucket,
                                                   state_condition(path, last), update):
            counted = True
        else:  # a first count here, or one after a failure, or a rerun counted for us
            counted = claim(db, collection, bucket, worker, finished_at, terms, on_insert,
                            writes_between)
        with self.lock:
            self.last[bucket] = stamp  # at or below the bucket's hw now: both ways
        return counted


def claim(db: Database[Any], collection: str, bucket: str, worker: str, finished_at: datetime,
          terms: Terms, on_insert: dict[str, Any],
          writes_between: Callable[[int | None, int], list[int]]) -> bool:
    """Count `worker`'s write at `finished_at` unless it is counted; whether this call
    counted it. writes_between(hw, stamp): the stamps of the worker's writes into this
    bucket after hw (None: from the bucket's start) and before stamp."""
    key = writer_key(worker)
    path, stamp = f"{WRITERS}.{key}", stamp_of(finished_at)
    for _ in range(MAX_TRIES):
        found = db[collection].find_one({"_id": bucket}, {path: 1}) or {}
        state: dict[str, Any] = (found.get(WRITERS) or {}).get(key) or {}
        hw = state.get("hw")
        if f"m{stamp}" in state:
            if db[collection].update_one({"_id": bucket, f"{path}.m{stamp}": {"$exists": True}},
                                         {"$inc": terms,
                                          "$unset": {f"{path}.m{stamp}": ""}}).modified_count:
                return True
            continue
        if hw is not None and stamp <= hw:
            return False
        missed = [m for m in writes_between(hw, stamp) if m != stamp]
        update = {"$inc": terms, "$set": {f"{path}.hw": stamp,
                                          **{f"{path}.m{m}": 1 for m in missed}},
                  "$setOnInsert": on_insert}
        if conditional_update(db, collection, bucket, state_condition(path, hw), update):
            return True
    raise RuntimeError(f"the count of {worker}'s write at {finished_at} into {bucket} kept "
                       "changing under it")
