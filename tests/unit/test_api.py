"""The HTTP contract on Eve + mongomock with a real Redis; jobs run in-process."""
import json
import re
import time

import pytest
from rq import SimpleWorker
from sklearn.datasets import load_iris

from core.connections import redis_from_url
from core.queue import prediction_queue
from jobs import predict
from service.app import create_app
from service.models.catalog import load_model

from ..conftest import MongomockData

IRIS_ROW = [5.1, 3.5, 1.4, 0.2]


def run_jobs(redis, db, monkeypatch):
    monkeypatch.setattr(predict, "mongo_db", lambda: db)
    SimpleWorker([prediction_queue(redis)], connection=redis).work(burst=True)


def stored(db):
    return db.inputs.count_documents({}), db.predictions.count_documents({})


def test_single_input_is_stored_queued_and_enqueued(as_user, db, redis):
    response = as_user("alice").post("/api/v1/inputs", json={"model": "iris",
                                                             "features": IRIS_ROW})
    assert response.status_code == 201, response.json
    body = response.json
    assert body["status"] == "queued"
    prediction = db.predictions.find_one()
    assert str(prediction["_id"]) == body["prediction"]
    assert str(prediction["input"]) == body["_id"]
    assert (prediction["status"], prediction["version"], prediction["owner"]) == (
        "queued", 1, "alice")
    assert prediction_queue(redis).count == 1


def test_bulk_makes_one_job_per_chunk_not_per_row(as_user, db, redis):
    rows = [{"model": "iris", "features": IRIS_ROW, "ref": f"row-{i}"} for i in range(1000)]
    response = as_user("alice").post("/api/v1/inputs", json=rows)
    assert response.status_code == 201
    items = response.json["_items"]
    assert len(items) == 1000 and all(i["status"] == "queued" for i in items)
    assert stored(db) == (1000, 1000)
    assert prediction_queue(redis).count == 2  # ceil(1000 / CHUNK_SIZE=500)
    assert len(db.predictions.distinct("job")) == 2


def test_job_writes_results_equal_to_sklearn_and_polling_sees_304(as_user, db, redis,
                                                                   monkeypatch):
    rows = load_iris().data[:20].tolist()
    body = as_user("alice").post("/api/v1/inputs", json=[
        {"model": "iris", "features": row} for row in rows]).json
    run_jobs(redis, db, monkeypatch)
    _, estimator = load_model("iris", 1)
    expected = estimator.predict_proba(rows)
    for item, probabilities in zip(body["_items"], expected):
        response = as_user("alice").get(f"/api/v1/predictions/{item['prediction']}")
        document = response.json
        assert document["status"] == "done" and document["attempts"] == 1
        got = document["result"]["probabilities"]
        assert [got[c] for c in ("setosa", "versicolor", "virginica")] == probabilities.tolist()
        again = as_user("alice").get(f"/api/v1/predictions/{item['prediction']}",
                                     headers={"If-None-Match": response.headers["ETag"]})
        assert again.status_code == 304


def test_features_by_name_and_explicit_version(as_user, db):
    features = dict(zip(["petal_width", "petal_length", "sepal_width", "sepal_length"],
                        reversed(IRIS_ROW)))
    response = as_user("bob").post("/api/v1/inputs", json={
        "model": "iris", "version": 1, "features": features, "ref": "x" * 128})
    assert response.status_code == 201, response.json
    assert db.inputs.find_one()["features"] == IRIS_ROW


BAD_INPUTS = [
    ({"model": "nope", "features": IRIS_ROW}, "model"),
    ({"model": "iris", "version": 9, "features": IRIS_ROW}, "model"),
    ({"model": "iris", "features": [1, 2, 3]}, "features"),
    ({"model": "iris", "features": {"sepal_length": 1}}, "features"),
    ({"model": "iris", "features": [1, 2, "3", 4]}, "features"),
    ({"model": "iris", "features": [1, 2, True, 4]}, "features"),
    ({"model": "iris", "features": IRIS_ROW, "colour": "red"}, "colour"),
    ({"model": "iris", "features": IRIS_ROW, "ref": "x" * 129}, "ref"),
    ({"model": "iris", "features": IRIS_ROW, "status": "done"}, "status"),
    ({"features": IRIS_ROW}, "model"),
    ({"model": "iris"}, "features"),
]


@pytest.mark.parametrize("document,field", BAD_INPUTS)
def test_bad_input_is_422_naming_the_field_and_nothing_is_stored(as_user, db, redis,
                                                                 document, field):
    good = {"model": "iris", "features": IRIS_ROW}
    response = as_user("alice").post("/api/v1/inputs", json=[good, document])
    assert response.status_code == 422
    assert field in response.json["_items"][1]["_issues"]
    assert stored(db) == (0, 0) and prediction_queue(redis).count == 0


@pytest.mark.parametrize("raw", ['{"model": "iris", "features": [1, 2, NaN, 4]}',
                                 '{"model": "iris", "features": [1, 2, Infinity, 4]}',
                                 '{"model": "iris", "features": [1, 2, -Infinity, 4]}',
                                 '{"model": "iris", "features": [1, 2, 1e999, 4]}'])
def test_nan_and_infinity_are_refused(as_user, db, raw):
    response = as_user("alice").post("/api/v1/inputs", data=raw,
                                     content_type="application/json")
    assert response.status_code == 422
    assert "not a finite number" in json.dumps(response.json["_issues"])
    assert stored(db) == (0, 0)


def test_body_that_is_not_json_is_400(as_user, db):
    response = as_user("alice").post("/api/v1/inputs", data="{nope",
                                     content_type="application/json")
    assert response.status_code == 400 and stored(db) == (0, 0)


def test_bulk_over_the_limit_is_422_and_nothing_stored(as_user, db, redis):
    rows = [{"model": "iris", "features": IRIS_ROW}] * 1001
    response = as_user("alice").post("/api/v1/inputs", json=rows)
    assert response.status_code == 422
    assert stored(db) == (0, 0) and prediction_queue(redis).count == 0


def test_every_resource_needs_a_valid_token(client):
    for url in ("/api/v1/inputs", "/api/v1/predictions", "/api/v1/models"):
        assert client.get(url).status_code == 401
        assert client.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/v1/health").status_code == 200


def test_clients_see_only_their_own_documents_and_admin_sees_all(as_user):
    alice = as_user("alice").post("/api/v1/inputs", json={"model": "iris",
                                                          "features": IRIS_ROW}).json
    as_user("bob").post("/api/v1/inputs", json={"model": "iris", "features": IRIS_ROW})
    for path in (f"/api/v1/predictions/{alice['prediction']}", f"/api/v1/inputs/{alice['_id']}"):
        assert as_user("alice").get(path).status_code == 200
        assert as_user("bob").get(path).status_code == 404
        assert as_user("admin").get(path).status_code == 200
    assert as_user("bob").get("/api/v1/predictions").json["_meta"]["total"] == 1
    assert as_user("admin").get("/api/v1/predictions").json["_meta"]["total"] == 2


def test_clients_never_write_predictions_and_models(as_user):
    assert as_user("alice").post("/api/v1/predictions", json={}).status_code == 405
    assert as_user("alice").delete("/api/v1/predictions").status_code == 403
    assert as_user("alice").post("/api/v1/models", json={}).status_code == 403
    assert as_user("admin").delete("/api/v1/predictions").status_code == 204


@pytest.mark.parametrize("where", ['{"$where": "sleep(1000)"}', '{"model": {"$regex": "."}}',
                                   '{"$expr": {"$function": {"body": "x"}}}'])
def test_server_side_code_operators_are_refused(as_user, where):
    response = as_user("alice").get("/api/v1/predictions", query_string={"where": where})
    assert response.status_code == 400


def test_page_size_past_the_cap_is_refused_as_the_document_says(as_user):
    response = as_user("alice").get("/api/v1/predictions", query_string={"max_results": 5000})
    assert response.status_code == 400 and "1 to 1000" in response.json["_error"]["message"]
    response = as_user("alice").get("/api/v1/predictions", query_string={"max_results": 1000})
    assert response.json["_meta"]["max_results"] == 1000


@pytest.mark.parametrize("query", [{"sort": ""}, {"sort": "-_created"}, {"sort": "if,-not"}, {"page": "1"},
                                   {"where": '{"status": {"$in": ["queued", "done"]}}'},
                                   {"projection": '{"status": 1}'}])
def test_list_parameters_the_document_allows_are_accepted(as_user, query):
    assert as_user("alice").get("/api/v1/predictions", query_string=query).status_code == 200


@pytest.mark.parametrize("query", ["page=0", "max_results=0", "page=1&page=2", "sort=a,%20b",
                                   "sort=a..b", "sort=-", "where=status==1", 'where={"a":{"b":1}}',
                                   'projection={"a":2}', "where=%5B%5D"])
def test_list_parameters_the_document_forbids_are_400(as_user, query):
    response = as_user("alice").get(f"/api/v1/predictions?{query}")
    assert response.status_code == 400 and response.json["_status"] == "ERR"


def test_a_sort_of_more_fields_than_mongodb_takes_is_400_as_the_document_says(as_user):
    """MongoDB (and the development database) refuse a sort of more than 32 fields; the
    document's pattern says so, and the API answers 400 before the database is asked."""
    document = as_user("alice").get("/api/v1/openapi.json").json
    [sort] = [p for p in document["paths"]["/feedback"]["get"]["parameters"]
              if p["name"] == "sort"]
    pattern = re.compile(sort["schema"]["pattern"])
    fields = [f"f{n}" for n in range(33)]
    for form in (",".join, lambda names: "[" + ", ".join(f'("{n}", -1)' for n in names) + "]"):
        assert pattern.search(form(fields[:32])) and not pattern.search(form(fields))
        assert as_user("alice").get("/api/v1/feedback", query_string={
            "sort": form(fields[:32])}).status_code == 200
        refused = as_user("alice").get("/api/v1/feedback", query_string={"sort": form(fields)})
        assert refused.status_code == 400
        assert "at most 32 fields" in refused.json["_error"]["message"]


def test_405_names_the_allowed_methods(as_user):
    response = as_user("alice").put("/api/v1/inputs", json={})
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
    assert "DELETE" not in response.headers["Allow"]
    assert as_user("alice").post("/api/v1/health").headers["Allow"]


def test_an_empty_list_is_400_json(as_user):
    response = as_user("alice").post("/api/v1/inputs", json=[])
    assert response.status_code == 400 and "empty" in response.json["_error"]["message"]


def test_rate_limit_per_token_answers_429_with_retry_after(app, as_user):
    app.config["RATE_LIMIT_REQUESTS"] = 3
    statuses = [as_user("alice").get("/api/v1/models").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = as_user("alice").get("/api/v1/models")
    assert int(limited.headers["Retry-After"]) >= 1
    assert as_user("bob").get("/api/v1/models").status_code == 200  # bob's own budget


def test_dashboard_is_admin_only(client, tokens):
    assert client.get("/rq/").status_code == 401
    basic = {"Authorization": "Basic " + __import__("base64").b64encode(
        f"anyone:{tokens['alice']}".encode()).decode()}
    assert client.get("/rq/", headers=basic).status_code == 401
    admin_basic = {"Authorization": "Basic " + __import__("base64").b64encode(
        f"anyone:{tokens['admin']}".encode()).decode()}
    assert client.get("/rq/", headers=admin_basic).status_code == 200
    assert client.get("/rq/", headers={"Authorization": f"Bearer {tokens['admin']}"}
                      ).status_code == 200


def test_health_reports_the_stores(client):
    response = client.get("/api/v1/health")
    assert response.json == {"mongo": "ok", "redis": "ok", "workers": 0, "queued": 0}


def test_redis_down_is_503_fast_and_nothing_stored(tokens, db):
    dead = redis_from_url("redis://127.0.0.1:1/0")
    app = create_app(overrides={"MONGO_URI": "mongodb://127.0.0.1:1/test",
                                "REDIS_URL": "redis://127.0.0.1:1/0"},
                     data=MongomockData, redis=dead)
    client = app.test_client()
    started = time.monotonic()
    health = client.get("/api/v1/health")
    assert time.monotonic() - started < 1
    assert health.status_code == 503 and health.json["redis"].startswith("redis:")
    response = client.post("/api/v1/inputs", json={"model": "iris", "features": IRIS_ROW},
                           headers={"Authorization": f"Bearer {tokens['alice']}"})
    assert response.status_code == 503
    assert response.json["_error"]["message"].startswith("redis is unavailable")
    assert stored(db) == (0, 0)


def test_version_past_32_bits_is_422_not_a_crash(as_user, db):
    response = as_user("alice").post("/api/v1/inputs", json={
        "model": "iris", "version": 2**70, "features": IRIS_ROW})
    assert response.status_code == 422 and "version" in response.json["_issues"]
    assert stored(db) == (0, 0)


@pytest.mark.parametrize("parameter,value", [("where", '{"a":' * 100_000 + "1" + "}" * 100_000),
                                             ("sort", "[" * 100_000 + "]" * 100_000)])
def test_deeply_nested_query_parameters_are_400(as_user, parameter, value):
    response = as_user("alice").get("/api/v1/predictions", query_string={parameter: value})
    assert response.status_code == 400


def test_item_urls_do_not_advertise_or_take_post(as_user, db):
    model_id = str(db.models.find_one({"name": "iris"})["_id"])
    allowed = as_user("admin").options(f"/api/v1/models/{model_id}").headers["Allow"]
    assert "PATCH" in allowed and "POST" not in allowed
    response = as_user("admin").post(f"/api/v1/models/{model_id}", json={"metrics": {}})
    assert response.status_code == 405 and "POST" not in response.headers["Allow"]


def test_a_json_post_of_a_model_is_refused_naming_the_form_fields(as_user, db):
    """Models are uploaded as files (multipart); a JSON document is not one."""
    models = db.models.count_documents({})
    refused = as_user("admin").post("/api/v1/models", json={"name": "x", "task": "regression"})
    assert refused.status_code == 422
    assert set(refused.json["_issues"]) == {"name", "artifact"}
    assert db.models.count_documents({}) == models


def test_a_database_down_while_models_are_looked_up_is_503_not_422(as_user, db, monkeypatch):
    """Eve reports an error raised inside validation as a 422: models are looked up
    before it validates, so that a database that cannot answer is a 503."""
    import pymongo.errors

    from service.models import lookup

    def unavailable(*args):
        raise pymongo.errors.ServerSelectionTimeoutError("no server")
    monkeypatch.setattr(lookup, "find_model", unavailable)
    for body in ({"model": "iris", "features": IRIS_ROW},
                 [{"model": "iris", "features": IRIS_ROW}] * 3):
        response = as_user("alice").post("/api/v1/inputs", json=body)
        assert response.status_code == 503, response.json
    assert stored(db) == (0, 0)
