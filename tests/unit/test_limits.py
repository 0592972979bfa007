"""MAX_PENDING_ROWS: a submission that would take a client's unfinished rows past it is
429 with Retry-After, and nothing of it is stored; finished rows free the room; other
clients and admins are not held by it."""
import settings
from tests.unit.test_quality import IRIS, run_workers  # noqa: F401

CSV = "sepal_length,sepal_width,petal_length,petal_width\n" + "5.1,3.5,1.4,0.2\n" * 3


def rows(n):
    return [{"model": "iris", "features": list(IRIS.data[0])}] * n


def stored(db):
    return [db[kind].count_documents({}) for kind in ("inputs", "predictions", "batches")]


def test_past_the_limit_is_429_and_nothing_is_stored(as_user, app, db, run_workers):
    app.config["MAX_PENDING_ROWS"] = 5
    assert as_user("alice").post("/api/v1/inputs", json=rows(4)).status_code == 201
    before = stored(db)
    refused = as_user("alice").post("/api/v1/inputs", json=rows(2))
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
    file = as_user("alice").post("/api/v1/batches?model=iris", data=CSV,
                                 headers={"Content-Type": "text/csv"})
    assert file.status_code == 429
    assert stored(db) == before
    assert as_user("bob").post("/api/v1/inputs", json=rows(5)).status_code == 201
    assert as_user("admin").post("/api/v1/inputs", json=rows(6)).status_code == 201
    run_workers()  # alice's rows are done: room again
    assert as_user("alice").post("/api/v1/inputs", json=rows(5)).status_code == 201
    assert settings.MAX_PENDING_ROWS == 2_000_000  # the default


def test_one_row_submissions_close_together_count_once_and_still_stop_at_the_limit(
        as_user, app, db, monkeypatch):
    from service import limits
    counts = []
    monkeypatch.setattr(limits, "count_pending",
                        lambda owner: counts.append(owner) or db.predictions.count_documents(
                            {"owner": owner, "status": {"$in": ["queued", "running"]}}))
    app.config["MAX_PENDING_ROWS"] = 10
    app.config["INTERACTIVE_MAX_ROWS"] = 100  # (0 in the unit tests: one queue)
    for _ in range(7):  # under 90 % of the limit: the first count stands for the others
        assert as_user("alice").post("/api/v1/inputs", json=rows(1)).status_code == 201
    # ...and for a row every few seconds: a count made 2 s ago still stands
    pending = app.extensions["pending_counts"]
    value, learnt_at = pending.items["alice"]
    pending.items["alice"] = (value, learnt_at - 2.0)
    assert as_user("alice").post("/api/v1/inputs", json=rows(1)).status_code == 201
    assert counts == ["alice"]
    # near the limit each submission counts again, and the limit holds exactly
    assert as_user("alice").post("/api/v1/inputs", json=rows(2)).status_code == 201
    refused = as_user("alice").post("/api/v1/inputs", json=rows(1))
    assert refused.status_code == 429 and "10 of your rows are unfinished" in refused.text
    assert counts == ["alice"] * 3
    assert db.predictions.count_documents({"owner": "alice"}) == 10
    monkeypatch.setattr(limits, "COUNT_SECONDS", 0.0)  # once the count is old, it is made anew
    db.predictions.update_many({"owner": "alice"}, {"$set": {"status": "done"}})
    assert as_user("alice").post("/api/v1/inputs", json=rows(1)).status_code == 201
    assert counts == ["alice"] * 4
