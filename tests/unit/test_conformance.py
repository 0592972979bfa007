"""Two conformance items users hit: model names as MLflow and SageMaker users write them
(letters, digits, `_`, `-`, `.`), and `If-Match: *` on PATCH and DELETE meaning "if it
exists" (RFC 9110 §13.1.1)."""
import io

import pytest

from service.models.catalog import ARTIFACTS_DIR


def upload(as_user, name):
    data = (ARTIFACTS_DIR / "iris" / "1" / "model.joblib").read_bytes()
    return as_user("admin").post("/api/v1/models", content_type="multipart/form-data", data={
        "name": name, "features": '["a", "b", "c", "d"]',
        "artifact": (io.BytesIO(data), "model.joblib")})


@pytest.mark.parametrize("name", ["fraud-detector", "churn.v2", "Churn_2", "7eleven"])
def test_a_model_named_as_mlflow_users_name_them_is_registered_and_served(as_user, name):
    response = upload(as_user, name)
    assert response.status_code == 201, response.json
    assert response.json["name"] == name
    posted = as_user("alice").post("/api/v1/inputs", json={"model": name,
                                                           "features": [5.1, 3.5, 1.4, 0.2]})
    assert posted.status_code == 201, posted.json


@pytest.mark.parametrize("name", ["-lead", ".hidden", "a b", "x" * 65, "ünï", "a/b"])
def test_other_model_names_are_refused(as_user, db, name):
    response = upload(as_user, name)
    assert response.status_code == 422 and "name" in response.json["_issues"]
    assert db.models.count_documents({"name": name}) == 0


def test_delete_with_if_match_star_revokes_an_existing_token(as_user, client):
    created = as_user("admin").post("/api/v1/tokens", json={"name": "x", "role": "client"})
    token_id, token = created.json["_id"], created.json["token"]
    deleted = as_user("admin").delete(f"/api/v1/tokens/{token_id}", headers={"If-Match": "*"})
    assert deleted.status_code == 204
    assert client.get("/api/v1/predictions",
                      headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert as_user("admin").get(f"/api/v1/tokens/{token_id}").status_code == 404


def test_patch_with_if_match_star_applies_and_a_stale_etag_is_still_412(as_user, db):
    iris = db.models.find_one({"name": "iris"})
    url = f"/api/v1/models/{iris['_id']}"
    stale = as_user("admin").patch(url, json={"aliases": ["staging"]},
                                   headers={"If-Match": "not-the-etag"})
    assert stale.status_code == 412
    patched = as_user("admin").patch(url, json={"aliases": ["staging"]},
                                     headers={"If-Match": "*"})
    assert patched.status_code == 200, patched.json
    assert db.models.find_one({"_id": iris["_id"]})["aliases"] == ["staging"]
