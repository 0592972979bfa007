"""Who may do what: anonymous, client A, client B and admin against every endpoint and
method. A's documents are the targets, so B must see 404 where A sees 200; a valid token
of a role that may not: 403 (401 without a valid token). The metrics and the dashboard
answer 401 to all but an admin, so that a browser asks for the admin token. Every role
against every operation of the OpenAPI document: tests/unit/test_roles.py."""
import base64
import io
import json

import pytest

from service.models.catalog import ARTIFACTS_DIR

IRIS = {"model": "iris", "features": [5.1, 3.5, 1.4, 0.2]}


def new_model():
    """A multipart upload of the shipped iris file under another name."""
    data = (ARTIFACTS_DIR / "iris" / "1" / "model.joblib").read_bytes()
    return {"name": "iris_copy", "features": json.dumps(["a", "b", "c", "d"]),
            "artifact": (io.BytesIO(data), "model.joblib")}


# (method, path, body) -> expected status for (anonymous, A, B, admin)
MATRIX = [
    ("GET", "/api/v1/health", None, (200, 200, 200, 200)),
    ("GET", "/api/v1/openapi.json", None, (200, 200, 200, 200)),
    ("GET", "/api/v1/docs", None, (200, 200, 200, 200)),
    ("GET", "/api/v1/inputs", None, (401, 200, 200, 200)),
    ("POST", "/api/v1/inputs", IRIS, (401, 201, 201, 201)),
    ("DELETE", "/api/v1/inputs", None, (405, 405, 405, 405)),
    ("GET", "/api/v1/inputs/{input}", None, (401, 200, 404, 200)),
    ("PATCH", "/api/v1/inputs/{input}", {"ref": "x"}, (405, 405, 405, 405)),
    ("PUT", "/api/v1/inputs/{input}", IRIS, (405, 405, 405, 405)),
    ("DELETE", "/api/v1/inputs/{input}", None, (405, 405, 405, 405)),
    ("GET", "/api/v1/predictions", None, (401, 200, 200, 200)),
    ("POST", "/api/v1/predictions", {}, (405, 405, 405, 405)),
    ("GET", "/api/v1/predictions/{prediction}", None, (401, 200, 404, 200)),
    ("PATCH", "/api/v1/predictions/{prediction}", {"status": "done"}, (405, 405, 405, 405)),
    ("PUT", "/api/v1/predictions/{prediction}", {}, (405, 405, 405, 405)),
    ("DELETE", "/api/v1/predictions/{prediction}", None, (401, 403, 403, 204)),
    ("DELETE", "/api/v1/predictions", None, (401, 403, 403, 204)),
    ("GET", "/api/v1/models", None, (401, 200, 200, 200)),
    ("GET", "/api/v1/models/{model}", None, (401, 200, 200, 200)),
    ("POST", "/api/v1/models", new_model, (401, 403, 403, 201)),
    ("PATCH", "/api/v1/models/{model}", {"aliases": ["staging"]}, (401, 403, 403, 200)),
    ("DELETE", "/api/v1/models/{model}", None, (401, 403, 403, 204)),
    ("GET", "/api/v1/tokens", None, (401, 403, 403, 200)),
    ("POST", "/api/v1/tokens", {"name": "n", "role": "client"}, (401, 403, 403, 201)),
    ("GET", "/api/v1/tokens/{token}", None, (401, 403, 403, 200)),
    ("DELETE", "/api/v1/tokens/{token}", None, (401, 403, 403, 204)),
    ("PATCH", "/api/v1/tokens/{token}", {"name": "n"}, (405, 405, 405, 405)),
    ("GET", "/metrics", None, (401, 401, 401, 200)),
    ("GET", "/rq/", None, (401, 401, 401, 200)),
]
WHO = ["anonymous", "alice", "bob", "admin"]


@pytest.fixture
def targets(as_user, db):
    created = as_user("alice").post("/api/v1/inputs", json=IRIS).json
    model = db.models.find_one({"name": "iris"})
    spare = as_user("admin").post("/api/v1/tokens", json={"name": "spare", "role": "client"})
    return {"input": created["_id"], "prediction": created["prediction"],
            "model": str(model["_id"]), "token": spare.json["_id"]}


def headers_for(who, tokens, client, path):
    if who == "anonymous":
        return {}
    headers = {"Authorization": f"Bearer {tokens[who]}"}
    if path.startswith("/rq"):  # the dashboard also takes Basic auth: use that form here
        basic = base64.b64encode(f"user:{tokens[who]}".encode()).decode()
        headers = {"Authorization": f"Basic {basic}"}
    return headers


def etag_of(client, tokens, path):
    response = client.get(path, headers={"Authorization": f"Bearer {tokens['admin']}"})
    return response.headers.get("ETag")


@pytest.mark.parametrize("method,path,body,expected", MATRIX,
                         ids=[f"{m} {p}" for m, p, _, _ in MATRIX])
@pytest.mark.parametrize("who_index", range(4), ids=WHO)
def test_authorization_matrix(client, tokens, targets, method, path, body, expected,
                              who_index):
    who = WHO[who_index]
    url = path.format(**targets)
    headers = headers_for(who, tokens, client, url)
    if method in ("PATCH", "PUT", "DELETE") and "{" in path:
        etag = etag_of(client, tokens, url)
        if etag:
            headers["If-Match"] = etag
    if callable(body):  # a multipart form
        response = client.open(url, method=method, data=body(), headers=headers)
    else:
        response = client.open(url, method=method, json=body, headers=headers)
    assert response.status_code == expected[who_index], response.get_data(as_text=True)[:300]
