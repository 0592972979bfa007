from openapi_spec_validator import validate

IRIS_ROW = [5.1, 3.5, 1.4, 0.2]


def test_openapi_document_is_valid_3_1_and_open(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.json
    validate(spec)
    assert spec["openapi"] == "3.1.0"
    assert {"/inputs", "/inputs/{id}", "/predictions", "/predictions/{id}", "/models",
            "/health", "/tokens", "/tokens/{id}", "/openapi.json", "/docs"} <= set(spec["paths"])
    assert "post" not in spec["paths"]["/predictions"]
    assert set(spec["paths"]["/models/{id}"]) == {"get", "patch", "delete"}


def test_openapi_describes_idempotency_keys_where_they_are_taken(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in ("/inputs", "/batches"):
        assert "Idempotency-Key" in paths[path]["post"]["description"]
    assert "description" not in paths["/feedback"]["post"]


def test_openapi_describes_each_registered_model(client):
    schemas = client.get("/api/v1/openapi.json").json["components"]["schemas"]
    branches = [(b["properties"]["model"]["const"], b["properties"].get("version"))
                for b in schemas["inputs_write"]["oneOf"]]
    assert branches == [(name, version) for name in ("breast_cancer", "diabetes", "iris")
                        for version in (None, {"const": 1})]  # latest, or version 1
    assert schemas["iris_v1_features"]["required"] == [
        "sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert schemas["iris_v1_feature_list"]["minItems"] == 4
    assert len(schemas["breast_cancer_v1_features"]["properties"]) == 30


def test_docs_page_is_served_locally_without_a_cdn(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and b"SwaggerUIBundle" in page.data
    assert b"http://" not in page.data and b"https://" not in page.data
    script = client.get("/api/v1/docs/static/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.data) > 100_000
    assert client.get("/api/v1/docs/static/../../settings.py").status_code == 404


def test_metrics_need_an_admin_token(client, tokens):
    assert client.get("/metrics").status_code == 401
    alice = {"Authorization": f"Bearer {tokens['alice']}"}
    assert client.get("/metrics", headers=alice).status_code == 401


def test_metrics_count_requests_and_predictions(as_user):
    as_user("alice").post("/api/v1/inputs", json=[{"model": "iris", "features": IRIS_ROW}] * 3)
    text = as_user("admin").get("/metrics").data.decode()
    assert 'http_requests_total{endpoint="/api/v1/inputs",method="POST",status="201"}' in text
    assert 'predictions{model="iris",status="queued",version="1"} 3.0' in text
    assert "prediction_queue_depth 1.0" in text
    assert 'rq_workers{queue="predictions"} 0.0' in text


def test_metrics_count_batches_and_their_rows_left(as_user):
    rows = "sepal_length,sepal_width,petal_length,petal_width\n" + "5.1,3.5,1.4,0.2\n" * 7
    for _ in range(2):
        as_user("alice").post("/api/v1/batches?model=iris", data=rows.encode(),
                              headers={"Content-Type": "text/csv"})
    text = as_user("admin").get("/metrics").data.decode()
    assert 'batches{status="queued"} 2.0' in text
    assert "batch_rows_unfinished 14.0" in text
