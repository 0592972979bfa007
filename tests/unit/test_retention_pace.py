"""Retention keeps pace (jobs/retention.py): a pass deletes until nothing expired is left
or its time is up, the next pass goes on at once, and an input never outlives its
prediction."""
import time
from datetime import datetime, timedelta, timezone

import mongomock
import pytest
from bson import ObjectId

import settings
from jobs import retention

NOW = datetime.now(timezone.utc)


@pytest.fixture
def store(monkeypatch):
    monkeypatch.setattr(settings, "RETENTION_DAYS", 1.0)
    monkeypatch.setattr(retention, "SLICE", 3)
    return mongomock.MongoClient(tz_aware=True)["retention"]


def add_rows(db, count, finished_days_ago, status="done"):
    stamp = NOW - timedelta(days=finished_days_ago)
    for _ in range(count):
        input_id, prediction_id = ObjectId(), ObjectId()
        db.inputs.insert_one({"_id": input_id, "prediction": prediction_id, "_created": stamp})
        db.predictions.insert_one({"_id": prediction_id, "input": input_id, "status": status,
                                   "finished_at": stamp, "_created": stamp})


def test_one_pass_deletes_a_backlog_of_many_slices_and_nothing_newer(store):
    add_rows(store, 10, finished_days_ago=2)
    add_rows(store, 2, finished_days_ago=0.5)
    add_rows(store, 2, finished_days_ago=2, status="queued")
    assert retention.sweep(store, NOW)["predictions"] == 10
    assert store.predictions.count_documents({}) == 4
    assert store.predictions.count_documents({"status": "queued"}) == 2
    assert set(store.inputs.distinct("prediction")) == set(store.predictions.distinct("_id"))


def test_a_pass_out_of_time_stops_after_a_slice_leaving_no_input_without_prediction(store):
    add_rows(store, 10, finished_days_ago=2)
    assert retention.sweep(store, NOW, seconds=0)["predictions"] == 3
    assert store.predictions.count_documents({}) == 7
    predictions = set(store.predictions.distinct("_id"))
    assert all(i["prediction"] in predictions for i in store.inputs.find())


def test_the_sweeping_thread_runs_pass_after_pass_until_nothing_is_left(store, redis,
                                                                        monkeypatch):
    monkeypatch.setattr(settings, "RETENTION_PASS_SECONDS", 0)  # one slice a pass
    monkeypatch.setattr(settings, "MAINTENANCE_SECONDS", 3600)  # no pass but those asked for
    add_rows(store, 10, finished_days_ago=2)
    stopped = retention.sweeping(redis, lambda: store)
    deadline = time.monotonic() + 10
    while store.predictions.count_documents({}) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.predictions.count_documents({}) == 0 and store.inputs.count_documents({}) == 0
    while redis.exists(retention.LOCK) and time.monotonic() < deadline:
        time.sleep(0.05)  # the pass that found nothing left gives the lock back
    stopped.set()
    assert not redis.exists(retention.LOCK)
