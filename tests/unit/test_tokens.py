"""/api/v1/tokens: an admin mints (secret shown once), lists (no secrets), revokes."""
import pytest

from service.tokens import token_hash

URL = "/api/v1/tokens"


def test_mint_use_list_revoke(as_user, client, db):
    created = as_user("admin").post(URL, json={"name": "team-a", "role": "client"})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    token = body["token"]
    assert body["name"] == "team-a" and body["role"] == "client"
    assert body["_id"] == token_hash(token)

    headers = {"Authorization": f"Bearer {token}"}
    posted = client.post("/api/v1/inputs", headers=headers,
                         json={"model": "iris", "features": [5.1, 3.5, 1.4, 0.2]})
    assert posted.status_code == 201
    assert db.inputs.find_one({"_id": db.inputs.find_one()["_id"]})["owner"] == "team-a"

    listed = as_user("admin").get(URL).get_json()["_items"]
    mine = [t for t in listed if t["_id"] == body["_id"]]
    assert len(mine) == 1 and mine[0]["name"] == "team-a" and mine[0]["last_used"]
    assert "_created" in mine[0]
    assert token not in str(listed)  # no secret in the list
    assert token not in str(list(db.tokens.find()))  # nor at rest

    assert as_user("admin").delete(f"{URL}/{body['_id']}").status_code == 204
    again = client.get("/api/v1/predictions", headers=headers)
    assert again.status_code == 401


def test_a_bulk_post_shows_each_secret_once(as_user, client):
    created = as_user("admin").post(URL, json=[{"name": "a", "role": "client"},
                                               {"name": "b", "role": "admin"}])
    assert created.status_code == 201
    items = created.get_json()["_items"]
    assert [i["name"] for i in items] == ["a", "b"]
    for item in items:
        assert item["_id"] == token_hash(item["token"])
        assert client.get("/api/v1/models", headers={
            "Authorization": f"Bearer {item['token']}"}).status_code == 200


@pytest.mark.parametrize("body", [{"name": "x"}, {"name": "x", "role": "root"},
                                  {"name": "", "role": "client"},
                                  {"name": "x", "role": "client", "token": "chosen"},
                                  {"name": "x", "role": "client", "_id": "0" * 64}])
def test_bad_token_requests_are_422_and_store_nothing(as_user, db, body):
    before = db.tokens.count_documents({})
    assert as_user("admin").post(URL, json=body).status_code == 422
    assert db.tokens.count_documents({}) == before


@pytest.mark.parametrize("method, item", [("get", False), ("post", False), ("get", True),
                                          ("delete", True)])
def test_a_client_gets_nothing_of_tokens(as_user, client, db, tokens, method, item):
    target = f"{URL}/{token_hash(tokens['bob'])}" if item else URL
    before = sorted(db.tokens.distinct("_id"))
    response = getattr(as_user("alice"), method)(target, json={"name": "x", "role": "admin"})
    assert response.status_code in (401, 403)
    assert sorted(db.tokens.distinct("_id")) == before
    assert client.get(URL).status_code == 401


def test_a_token_and_its_models_are_read_from_the_database_once_not_per_request(
        as_user, client, monkeypatch):
    from service import auth
    from service.models import lookup
    reads = {"accounts": 0, "models": 0}

    def counted(name, function):
        def call(*args, **kwargs):
            reads[name] += 1
            return function(*args, **kwargs)
        return call
    monkeypatch.setattr(auth, "find_account_by_digest",
                        counted("accounts", auth.find_account_by_digest))
    monkeypatch.setattr(lookup, "find_model", counted("models", lookup.find_model))
    for _ in range(5):
        response = as_user("alice").post("/api/v1/inputs", json={
            "model": "iris", "features": [5.1, 3.5, 1.4, 0.2]})
        assert response.status_code == 201
    assert reads == {"accounts": 1, "models": 1}
    # any change to the models (here: a retirement by PATCH) is seen by the next request
    iris = as_user("admin").get("/api/v1/models", query_string={
        "where": '{"name": "iris"}'}).get_json()["_items"][0]
    patched = as_user("admin").patch(f"/api/v1/models/{iris['_id']}", json={"retired": True},
                                     headers={"If-Match": iris["_etag"]})
    assert patched.status_code == 200
    refused = as_user("alice").post("/api/v1/inputs", json={
        "model": "iris", "features": [5.1, 3.5, 1.4, 0.2]})
    assert refused.status_code == 422, refused.get_json()  # no version left to serve it
