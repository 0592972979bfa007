"""RETENTION_DAYS: the maintenance pass deletes finished predictions (with their inputs),
feedback and finished batches older than that, keeps what is newer or unfinished, and
keeps the hourly quality counts."""
from datetime import datetime, timedelta, timezone

from bson import ObjectId

import settings
from jobs import retention
from tests.unit.test_quality import IRIS, label, quality, run_workers, serve  # noqa: F401


def age(db, collection, ids, days, field):
    db[collection].update_many({"_id": {"$in": ids}}, {"$set": {
        field: datetime.now(timezone.utc) - timedelta(days=days)}})


def test_old_finished_rows_go_and_new_ones_and_the_counts_stay(
        as_user, db, run_workers, monkeypatch):
    monkeypatch.setattr(settings, "RETENTION_DAYS", 1.5)
    old = serve(as_user, run_workers, "iris", IRIS.data[:4])
    new = serve(as_user, run_workers, "iris", IRIS.data[4:6])
    label(as_user, [(p, "setosa") for p in old + new])
    counted = quality(as_user, db, "iris", window="all")
    queued = as_user("alice").post("/api/v1/inputs", json={
        "model": "iris", "features": list(IRIS.data[0])}).json  # not run: stays queued
    old_ids = [ObjectId(p["_id"]) for p in old]
    age(db, "predictions", old_ids, 2, "finished_at")
    age(db, "feedback", [f["_id"] for f in db.feedback.find({"prediction": {"$in": old_ids}})],
        2, "_created")
    queued_id = db.predictions.find_one({"status": "queued"})["_id"]
    age(db, "predictions", [queued_id], 2, "_created")
    deleted = retention.sweep(db, datetime.now(timezone.utc))
    assert deleted == {"predictions": 4, "feedback": 4, "batches": 0}
    assert db.predictions.count_documents({}) == 3  # the 2 new ones and the queued one
    assert db.inputs.count_documents({}) == 3
    assert db.feedback.count_documents({}) == 2
    assert db.predictions.find_one({"_id": queued_id})["status"] == "queued"
    assert quality(as_user, db, "iris", window="all") == counted
    assert queued["status"] == "queued"


def test_without_retention_nothing_is_deleted(as_user, db, run_workers, monkeypatch):
    monkeypatch.setattr(settings, "RETENTION_DAYS", None)
    serve(as_user, run_workers, "iris", IRIS.data[:2])
    age(db, "predictions", [p["_id"] for p in db.predictions.find()], 400, "finished_at")
    assert retention.sweep(db, datetime.now(timezone.utc)) == {}
    assert db.predictions.count_documents({}) == 2
