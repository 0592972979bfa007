"""The whole pipeline over HTTP on real servers, results checked against scikit-learn."""
import math

import pytest
import requests
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from service.models.catalog import load_model

DATASETS = {"iris": load_iris, "breast_cancer": load_breast_cancer, "diabetes": load_diabetes}


def expected_results(model, rows):
    entry, estimator = load_model(model, 1)
    if entry["task"] == "classification":
        classes = entry["classes"]
        return [{"label": classes[max(range(len(classes)), key=lambda i: p[i])],
                 "probabilities": dict(zip(classes, p))}
                for p in estimator.predict_proba(rows).tolist()]
    return [{"value": v} for v in estimator.predict(rows).tolist()]


def submit(api, model, rows):
    response = api.post("/inputs", json=[{"model": model, "features": row} for row in rows])
    assert response.status_code == 201, response.text
    body = response.json()
    items = body.get("_items", [body])  # Eve answers a one-item list with the item alone
    assert all(item["status"] == "queued" for item in items)
    return [item["prediction"] for item in items]


@pytest.mark.parametrize("model", DATASETS)
def test_single_row_of_each_model_equals_sklearn(new_client, model):
    api = new_client()
    row = DATASETS[model]().data[7].tolist()
    response = api.post("/inputs", json={"model": model, "features": row, "ref": "row-7"})
    assert response.status_code == 201, response.text
    prediction_id = response.json()["prediction"]
    api.wait_until_settled()
    document = api.get(f"/predictions/{prediction_id}").json()
    assert document["status"] == "done", document
    assert document["result"] == expected_results(model, [row])[0]
    assert document["model"] == model and document["version"] == 1
    assert document["attempts"] == 1
    for stamp in ("queued_at", "started_at", "finished_at", "_created", "_updated", "_etag"):
        assert document[stamp]


@pytest.mark.parametrize("model", DATASETS)
def test_bulk_of_1000_rows_equals_sklearn_in_two_jobs(new_client, model):
    api = new_client()
    data = DATASETS[model]().data
    rows = [data[i % len(data)].tolist() for i in range(1000)]
    prediction_ids = submit(api, model, rows)
    api.wait_until_settled()
    documents = api.all_predictions()
    assert len(documents) == 1000
    assert len({d["job"] for d in documents.values()}) == 2
    for prediction_id, expected in zip(prediction_ids, expected_results(model, rows)):
        assert documents[prediction_id]["status"] == "done"
        assert documents[prediction_id]["result"] == expected


def test_polling_with_if_none_match_answers_304_until_the_document_changes(new_client):
    api = new_client()
    prediction_id = submit(api, "iris", [[5.1, 3.5, 1.4, 0.2]])[0]
    first = api.get(f"/predictions/{prediction_id}")
    api.wait_until_settled()
    final = api.get(f"/predictions/{prediction_id}")
    assert final.json()["status"] == "done"
    if first.json()["status"] != "done":
        changed = api.get(f"/predictions/{prediction_id}",
                          headers={"If-None-Match": first.headers["ETag"]})
        assert changed.status_code == 200
    unchanged = api.get(f"/predictions/{prediction_id}",
                        headers={"If-None-Match": final.headers["ETag"]})
    assert unchanged.status_code == 304


def test_without_a_token_401_and_another_clients_prediction_404(stack, new_client, admin):
    alice, bob = new_client(), new_client()
    prediction_id = submit(alice, "iris", [[5.1, 3.5, 1.4, 0.2]])[0]
    anonymous = requests.get(f"{stack.url}/api/v1/predictions/{prediction_id}", timeout=10)
    assert anonymous.status_code == 401
    assert bob.get(f"/predictions/{prediction_id}").status_code == 404
    assert alice.get(f"/predictions/{prediction_id}").status_code == 200
    assert admin.get(f"/predictions/{prediction_id}").status_code == 200


IRIS = [5.1, 3.5, 1.4, 0.2]
BAD_BODIES = [
    ({"model": "unknown", "features": IRIS}, 422),
    ({"model": "iris", "version": 2, "features": IRIS}, 422),
    ({"model": "iris", "features": IRIS[:3]}, 422),
    ({"model": "iris", "features": {"sepal_length": 1, "sepal_width": 2, "petal_length": 3,
                                    "petal_size": 4}}, 422),
    ({"model": "iris", "features": [1, 2, "three", 4]}, 422),
    ({"model": "iris", "features": IRIS, "unknown_field": 1}, 422),
    ([{"model": "iris", "features": IRIS}] * 1001, 422),
]


@pytest.mark.parametrize("body,status", BAD_BODIES)
def test_bad_input_is_4xx_and_nothing_is_stored(new_client, admin, body, status):
    api = new_client()
    good = {"model": "iris", "features": IRIS}
    payload = body if isinstance(body, list) else [good, body]
    assert api.post("/inputs", json=payload).status_code == status
    assert api.get("/inputs").json()["_meta"]["total"] == 0
    assert api.get("/predictions").json()["_meta"]["total"] == 0


@pytest.mark.parametrize("raw", ["[1, 2", "{\"model\": \"iris\", \"features\": [1, 2, NaN, 4]}",
                                 "{\"model\": \"iris\", \"features\": [1, 2, Infinity, 4]}"])
def test_malformed_json_and_non_finite_numbers_are_refused(new_client, raw):
    api = new_client()
    response = api.post("/inputs", data=raw, headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 422)
    assert api.get("/inputs").json()["_meta"]["total"] == 0


def test_health_counts_the_live_workers(stack):
    body = requests.get(f"{stack.url}/api/v1/health", timeout=10).json()
    assert body["mongo"] == "ok" and body["redis"] == "ok"
    assert body["workers"] == 2


def test_models_are_registered_from_the_manifest(admin):
    models = {m["name"]: m for m in admin.get("/models").json()["_items"]}
    assert {"iris", "breast_cancer", "diabetes"} <= set(models)  # others uploaded by tests
    assert models["iris"]["classes"] == ["setosa", "versicolor", "virginica"]
    assert len(models["breast_cancer"]["features"]) == 30
    assert not math.isnan(models["diabetes"]["metrics"]["r2"])
    assert len(models["diabetes"]["artifact"]["sha256"]) == 64


def test_metrics_include_the_workers_counts_and_latency(new_client, admin):
    api = new_client()
    submit(api, "diabetes", [DATASETS["diabetes"]().data[0].tolist()] * 3)
    api.wait_until_settled()
    text = admin.session.get(admin.base.replace("/api/v1", "/metrics"), timeout=30).text
    finished = [line for line in text.splitlines()
                if line.startswith('predictions_finished_total{model="diabetes",status="done"')]
    assert finished and float(finished[0].split()[-1]) >= 3
    assert 'prediction_submit_to_done_seconds_count{model="diabetes",version="1"}' in text
    assert 'rq_workers{queue="predictions"} 2.0' in text
    assert 'rq_workers{queue="callbacks"} 1.0' in text


def test_tokens_never_appear_in_logs_or_responses(stack, new_client):
    api = new_client()
    token = api.session.headers["Authorization"].split()[1]
    response = api.post("/inputs", json={"model": "iris", "features": [1, 2, 3, 4]})
    assert token not in response.text
    api.wait_until_settled()
    api.get("/inputs", params={"where": '{"$where": "1"}'})  # an error path too
    logs = "".join(path.read_text() for path in stack.log_dir.glob("*.log"))
    assert logs and token not in logs
    assert "Traceback" not in api.get("/inputs", params={"sort": "1e-320"}).text
