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
