"""`Prefer: wait=N` on a prediction: held until it is finished (woken by the workers'
announcement on Redis) or N seconds pass; 400 outside 1..60; isolation as any GET."""
import threading
import time

import pytest
from bson import ObjectId

from core import finished
from jobs import writeback

IRIS_ROW = [5.1, 3.5, 1.4, 0.2]


def submit(as_user, user="alice"):
    response = as_user(user).post("/api/v1/inputs", json={"model": "iris", "features": IRIS_ROW})
    assert response.status_code == 201
    return response.json["prediction"]


def finish_later(db, redis, prediction_id, seconds):
    def finish():
        time.sleep(seconds)
        writeback.write_outcomes(db, [prediction_id], [("done", {"value": 1.0})])
        finished.announce(redis, [prediction_id])
    thread = threading.Thread(target=finish)
    thread.start()
    return thread


def timed_get(as_user, prediction_id, prefer, user="alice"):
    started = time.monotonic()
    response = as_user(user).get(f"/api/v1/predictions/{prediction_id}",
                                 headers={"Prefer": prefer})
    return response, time.monotonic() - started


def test_a_finished_prediction_is_answered_at_once(as_user, db, redis):
    prediction_id = submit(as_user)
    writeback.write_outcomes(db, [prediction_id], [("done", {"value": 1.0})])
    response, seconds = timed_get(as_user, prediction_id, "wait=30")
    assert response.status_code == 200 and response.json["status"] == "done"
    assert response.headers["Preference-Applied"] == "wait=30"
    assert seconds < 1


def test_a_running_prediction_is_answered_when_it_is_written(as_user, db, redis):
    prediction_id = submit(as_user)
    writer = finish_later(db, redis, prediction_id, 0.5)
    response, seconds = timed_get(as_user, prediction_id, "respond-async, wait=30")
    writer.join()
    assert response.status_code == 200 and response.json["status"] == "done"
    assert 0.4 < seconds < 5


def test_an_unfinished_prediction_is_answered_as_it_is_after_the_wait(as_user, db, redis):
    prediction_id = submit(as_user)
    response, seconds = timed_get(as_user, prediction_id, "wait=1")
    assert response.status_code == 200 and response.json["status"] == "queued"
    assert response.headers["Preference-Applied"] == "wait=1"
    assert 0.9 < seconds < 5


@pytest.mark.parametrize("prefer", ["wait=0", "wait=61", "wait=-1", "wait=1.5", "wait=soon",
                                    "wait=\uff15", "wait=007"])
def test_a_wait_outside_1_to_60_seconds_is_400(as_user, prefer):
    prediction_id = submit(as_user)
    response, _ = timed_get(as_user, prediction_id, prefer)
    assert response.status_code == 400 and "from 1 to 60" in response.json["_error"]["message"]


def test_waiting_for_another_clients_prediction_is_404_at_once(as_user):
    prediction_id = submit(as_user, "alice")
    response, seconds = timed_get(as_user, prediction_id, "wait=30", user="bob")
    assert response.status_code == 404 and seconds < 1
    missing, seconds = timed_get(as_user, str(ObjectId()), "wait=30")
    assert missing.status_code == 404 and seconds < 1


def test_other_preferences_and_lists_are_not_held(as_user):
    prediction_id = submit(as_user)
    response, seconds = timed_get(as_user, prediction_id, "return=minimal")
    assert response.status_code == 200 and "Preference-Applied" not in response.headers
    assert seconds < 1
    started = time.monotonic()
    listed = as_user("alice").get("/api/v1/predictions", headers={"Prefer": "wait=30"})
    assert listed.status_code == 200 and "Preference-Applied" not in listed.headers
    assert time.monotonic() - started < 1
