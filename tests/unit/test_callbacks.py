"""Callbacks: only allowed hosts are accepted; a finished prediction's document is POSTed
signed, retried until the receiver accepts, and each attempt shows on the prediction."""
import hashlib
import hmac
import json
import re

import pytest
from bson import ObjectId
from rq import SimpleWorker

from core.queue import callback_queue, prediction_queue
from jobs import callbacks, predict, worker
from service.callback_policy import callback_refusal, callback_url_pattern

from ..callback_receiver import Receiver

IRIS_ROW = [5.1, 3.5, 1.4, 0.2]
SECRET = "test-secret"


@pytest.fixture
def receiver(app, monkeypatch):
    receiver = Receiver(failures=2)
    app.config["CALLBACK_SECRET"] = SECRET
    app.config["CALLBACK_ALLOWED_HOSTS"] = [receiver.host]
    monkeypatch.setattr(callbacks.settings, "CALLBACK_SECRET", SECRET)
    monkeypatch.setattr(callbacks.settings, "CALLBACK_RETRY_INTERVALS", [0] * 5)
    yield receiver
    receiver.close()


def run_workers(redis, db, monkeypatch):
    monkeypatch.setattr(predict, "mongo_db", lambda: db)
    monkeypatch.setattr(callbacks, "mongo_db", lambda: db)
    monkeypatch.setattr(worker, "mongo_db", lambda: db)
    worker.PredictionWorker([prediction_queue(redis)], connection=redis).work(burst=True)
    SimpleWorker([callback_queue(redis)], connection=redis).work(burst=True)


def test_a_receiver_that_fails_twice_gets_one_signed_delivery_on_the_third_attempt(
        as_user, db, redis, receiver, monkeypatch):
    url = f"http://{receiver.host}/hook"
    body = as_user("alice").post("/api/v1/inputs", json={
        "model": "iris", "features": IRIS_ROW, "callback_url": url}).json
    pending = as_user("alice").get(f"/api/v1/predictions/{body['prediction']}").json
    assert pending["callback"] == {"status": "pending", "attempts": 0, "last_error": None}
    run_workers(redis, db, monkeypatch)
    assert len(receiver.received) == 3  # 503, 503, then accepted
    delivered, signature = receiver.received[-1]
    expected = hmac.new(SECRET.encode(), delivered, hashlib.sha256).hexdigest()
    assert signature == f"sha256={expected}"
    document = json.loads(delivered)
    assert document["_id"] == body["prediction"] and document["status"] == "done"
    assert "owner" not in document and document["job"]
    shown = as_user("alice").get(f"/api/v1/predictions/{body['prediction']}").json
    assert shown["callback"] == {"status": "delivered", "attempts": 3, "last_error": None}
    # a second delivery job of the same prediction (a retried prediction job) sends nothing
    assert callbacks.deliver(body["prediction"], url) == "nothing to deliver"
    assert len(receiver.received) == 3


def test_a_receiver_that_never_accepts_leaves_the_delivery_failed_after_5_retries(
        as_user, db, redis, receiver, monkeypatch):
    receiver.failures = 100
    body = as_user("alice").post("/api/v1/inputs", json={
        "model": "iris", "features": IRIS_ROW, "callback_url": f"http://{receiver.host}/"}).json
    run_workers(redis, db, monkeypatch)
    assert len(receiver.received) == 6
    document = db.predictions.find_one({"_id": ObjectId(body["prediction"])})
    assert document["status"] == "done"  # the prediction itself is unaffected
    assert document["callback"] == {"status": "failed", "attempts": 6, "last_error": "HTTP 503"}


@pytest.mark.parametrize("url", ["http://elsewhere.example/hook", "ftp://{host}/hook",
                                 "http://{host_other_port}/hook", "not a url"])
def test_a_callback_url_off_the_allowed_hosts_is_422_and_nothing_stored(
        as_user, db, redis, receiver, url):
    host, port = receiver.host.split(":")
    url = url.format(host=receiver.host, host_other_port=f"{host}:{int(port) + 1}")
    response = as_user("alice").post("/api/v1/inputs", json=[
        {"model": "iris", "features": IRIS_ROW},
        {"model": "iris", "features": IRIS_ROW, "callback_url": url}])
    assert response.status_code == 422
    assert "callback_url" in response.json["_items"][1]["_issues"]
    assert db.inputs.count_documents({}) == 0 and db.predictions.count_documents({}) == 0
    assert prediction_queue(redis).count == 0


def test_without_a_secret_no_callback_is_accepted(as_user, app, receiver):
    app.config["CALLBACK_SECRET"] = ""
    response = as_user("alice").post("/api/v1/inputs", json={
        "model": "iris", "features": IRIS_ROW, "callback_url": f"http://{receiver.host}/"})
    assert response.status_code == 422
    assert "CALLBACK_SECRET" in response.json["_issues"]["callback_url"]


def test_the_document_publishes_the_callback_urls_the_service_takes(client, app, receiver):
    def branches():
        spec = client.get("/api/v1/openapi.json").get_json()
        return spec["components"]["schemas"]["inputs_write"]["oneOf"]
    patterns = {b["properties"]["callback_url"]["pattern"] for b in branches()}
    assert patterns == {callback_url_pattern([receiver.host])}
    accepted = f"http://{receiver.host}/hook?x=1"
    assert re.fullmatch(patterns.pop(), accepted) and not callback_refusal(
        accepted, [receiver.host], SECRET)
    app.config["CALLBACK_SECRET"] = ""  # off: the field is not in the document at all
    assert all("callback_url" not in b["properties"] for b in branches())
