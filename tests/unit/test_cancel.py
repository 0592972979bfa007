"""POST /predictions/{id}/cancel: a queued prediction becomes cancelled and its job's
write-back leaves it so; a finished one is 409; another client's is 404."""
from bson import ObjectId

from tests.unit.test_quality import IRIS, run_workers, serve  # noqa: F401


def test_a_queued_prediction_is_cancelled_and_stays_so(as_user, db, run_workers):
    posted = as_user("alice").post("/api/v1/inputs", json=[
        {"model": "iris", "features": list(row)} for row in IRIS.data[:3]])
    first, second = (item["prediction"] for item in posted.json["_items"][:2])
    assert as_user("bob").post(f"/api/v1/predictions/{first}/cancel").status_code == 404
    cancelled = as_user("alice").post(f"/api/v1/predictions/{first}/cancel")
    assert cancelled.status_code == 200, cancelled.json
    assert cancelled.json["status"] == "cancelled" and "owner" not in cancelled.json
    assert as_user("admin").post(f"/api/v1/predictions/{second}/cancel").status_code == 200
    run_workers()  # the job of the three rows runs: it writes only the third
    documents = {str(d["_id"]): d for d in db.predictions.find()}
    assert documents[first]["status"] == documents[second]["status"] == "cancelled"
    assert "result" not in documents[first]
    third = posted.json["_items"][2]["prediction"]
    assert documents[third]["status"] == "done"
    again = as_user("alice").post(f"/api/v1/predictions/{third}/cancel")
    assert again.status_code == 409 and "done" in again.json["_error"]["message"]


def test_cancel_needs_a_token_and_an_existing_prediction(client, as_user):
    assert client.post(f"/api/v1/predictions/{ObjectId()}/cancel").status_code == 401
    assert as_user("alice").post(f"/api/v1/predictions/{ObjectId()}/cancel").status_code == 404
    assert as_user("alice").post("/api/v1/predictions/nope/cancel").status_code == 404
