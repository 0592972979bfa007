import json
import logging

from rq import SimpleWorker

from core.logs import JsonFormatter
from core.queue import prediction_queue
from jobs import predict
from service.logs import request_id_from
from service.models.catalog import manifest_entry

IRIS_ROW = [5.1, 3.5, 1.4, 0.2]


def audit_records(caplog, event):
    return [r.audit for r in caplog.records if getattr(r, "audit", {}).get("event") == event]


def test_audit_trail_links_request_client_input_prediction_and_artifact(
        as_user, db, redis, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    response = as_user("alice").post("/api/v1/inputs", json={"model": "iris",
                                                             "features": IRIS_ROW},
                                     headers={"X-Request-ID": "req-42"})
    assert response.headers["X-Request-ID"] == "req-42"
    [accepted] = audit_records(caplog, "input_accepted")
    assert accepted["request_id"] == "req-42" and accepted["client"] == "alice"
    assert str(accepted["prediction"]) == response.json["prediction"]

    monkeypatch.setattr(predict, "mongo_db", lambda: db)
    SimpleWorker([prediction_queue(redis)], connection=redis).work(burst=True)
    [written] = audit_records(caplog, "prediction_written")
    assert written["request_id"] == "req-42" and written["client"] == "alice"
    assert written["input"] == response.json["_id"]
    assert written["prediction"] == response.json["prediction"]
    assert written["artifact_sha256"] == manifest_entry("iris", 1)["artifact"]["sha256"]
    assert written["status"] == "done" and written["duration_ms"] >= 0
    [request_line] = [r for r in audit_records(caplog, "request") if r["method"] == "POST"]
    assert request_line["status"] == 201 and request_line["client"] == "alice"


def test_formatter_writes_one_json_object_per_line():
    logger = logging.getLogger("test.json")
    record = logger.makeRecord("test.json", logging.INFO, __file__, 1, "input_accepted", (),
                               None, extra={"audit": {"event": "input_accepted", "model": "iris"}})
    line = JsonFormatter("api").format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["event"] == "input_accepted" and parsed["process"] == "api"
    assert parsed["model"] == "iris" and parsed["level"] == "INFO"


def test_unsafe_request_ids_are_replaced():
    assert request_id_from("abc-123") == "abc-123"
    assert request_id_from("bad id\n{}") != "bad id\n{}"
    assert len(request_id_from("x" * 65)) == 32
