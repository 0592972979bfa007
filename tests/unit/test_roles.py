"""The role matrix, read from the OpenAPI document: every operation it describes, called
as each of the four roles. A role its `x-roles` lists gets an answer about the request
(2xx, or a 4xx other than 401 and 403); any other role gets 403, and nothing of the
store changes."""
import io
import json

import pytest
from bson import ObjectId

from core.documents import now
from service.models.catalog import ARTIFACTS_DIR
from service.tokens import create_token

ROLES = ["admin", "client", "reviewer", "analyst"]
IRIS = {"model": "iris", "features": [5.1, 3.5, 1.4, 0.2]}
COLLECTIONS = ["inputs", "predictions", "models", "tokens", "feedback", "batches",
               "trainings", "quality"]


@pytest.fixture
def world(app, client, db):
    """A token per role, and one document of each kind for the item paths: a client's
    input and its prediction (done, so that it can be labelled), a batch, a training."""
    tokens = {role: create_token(db, role, f"the-{role}") for role in ROLES}
    headers = {"Authorization": f"Bearer {tokens['client']}"}
    created = client.post("/api/v1/inputs", json=IRIS, headers=headers).json
    prediction = ObjectId(created["prediction"])
    db.predictions.update_one({"_id": prediction}, {"$set": {
        "status": "done", "finished_at": now(),
        "result": {"label": "setosa", "probabilities": {"setosa": 0.9, "versicolor": 0.05,
                                                        "virginica": 0.05}}}})
    batch = client.post("/api/v1/batches?model=iris", headers={**headers,
                        "Content-Type": "text/csv"},
                        data="ref,sepal_length,sepal_width,petal_length,petal_width\n"
                             "a,5.1,3.5,1.4,0.2\n").json
    model = db.models.find_one({"name": "iris"})
    training = db.trainings.insert_one({"model": model["_id"], "status": "done",
                                        "_created": now(), "_updated": now(),
                                        "_etag": "t"}).inserted_id
    feedback = db.feedback.insert_one({"prediction": prediction, "actual": "setosa",
                                       "owner": "the-client", "_created": now(),
                                       "_updated": now(), "_etag": "f"}).inserted_id
    create_token(db, "client", "spare")
    spare = db.tokens.find_one({"name": "spare"})["_id"]
    ids = {"inputs": created["_id"], "predictions": str(prediction), "batches": batch["_id"],
           "models": str(model["_id"]), "trainings": str(training), "tokens": spare,
           "feedback": str(feedback)}
    document = client.get("/api/v1/openapi.json").json
    return {"tokens": tokens, "ids": ids, "document": document, "model": model,
            "prediction": str(prediction)}


def fingerprint(db):
    """What a refused request must leave as it was: each collection's documents (but
    when a token was last used, which any request with it notes)."""
    return {name: sorted(json.dumps(d, default=str, sort_keys=True)
                         for d in db[name].find({}, {"last_used": 0}))
            for name in COLLECTIONS}


def request_for(world, path, method):
    """(url, keyword arguments) of a request that an allowed role may make."""
    resource = path.strip("/").split("/")[0]
    url = "/api/v1" + path.replace("{id}", world["ids"].get(resource, "0" * 24))
    if method == "post" and path == "/models":
        data = (ARTIFACTS_DIR / "iris" / "1" / "model.joblib").read_bytes()
        return url, {"data": {"name": "iris_copy", "artifact": (io.BytesIO(data), "m.joblib"),
                              "features": json.dumps(["a", "b", "c", "d"])},
                     "content_type": "multipart/form-data"}
    if method == "post" and path == "/batches":
        return url + "?model=iris", {"data": "sepal_length,sepal_width,petal_length,"
                                             "petal_width\n5,3,1,0\n",
                                     "content_type": "text/csv"}
    if method == "post" and path.endswith("/feedback") and resource == "batches":
        return url, {"data": "ref,actual\na,setosa\n", "content_type": "text/csv"}
    if path.endswith("/compare"):
        return url + f"?with={world['ids']['models']}", {}
    bodies = {"/inputs": IRIS, "/feedback": {"prediction": world["prediction"],
                                             "actual": "versicolor"},
              "/tokens": {"name": "more", "role": "client"},
              "/models/{id}": {"review_threshold": 0.5},
              "/models/{id}/retrain": {"window": "all"}}
    return url, {"json": bodies.get(path)} if method in ("post", "patch") else {}


def all_operations(document):
    """Every (path, method, x-roles), the deletions last (they take the targets away)."""
    return sorted([(path, method, operation.get("x-roles"))
                   for path, methods in document["paths"].items()
                   for method, operation in methods.items()],
                  key=lambda operation: operation[1] == "delete")


def test_every_operation_states_its_roles(world):
    for path, method, roles in all_operations(world["document"]):
        assert roles and set(roles) <= set(ROLES), (method, path, roles)


def test_every_operation_as_every_role(world, client, db):
    for path, method, allowed in all_operations(world["document"]):
        # the roles that may not first: their requests must change nothing
        for role in sorted(ROLES, key=lambda r: (r in allowed, r == "admin")):
            url, kwargs = request_for(world, path, method)
            before = fingerprint(db)
            answer = client.open(url, method=method.upper(), **kwargs, headers={
                "Authorization": f"Bearer {world['tokens'][role]}"})
            where = f"{method.upper()} {path} as {role}: {answer.status_code} " \
                    f"{answer.get_data(as_text=True)[:200]}"
            if role in allowed:
                assert answer.status_code < 500 and answer.status_code not in (401, 403), where
            else:
                assert answer.status_code == 403, where
                assert fingerprint(db) == before, where


def test_without_a_token_every_operation_but_the_open_ones_is_401(world, client):
    for path, method, _ in all_operations(world["document"]):
        operation = world["document"]["paths"][path][method]
        if operation.get("security") == []:
            continue
        url, kwargs = request_for(world, path, method)
        assert client.open(url, method=method.upper(), **kwargs).status_code == 401, \
            f"{method} {path}"
