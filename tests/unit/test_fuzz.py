"""Property-based fuzzing of every endpoint (Hypothesis): never a 5xx, and a refused
POST leaves nothing stored or queued."""
import json
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.queue import prediction_queue

from ..fuzzing import record

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

numbers = st.one_of(st.integers(min_value=-(10**400), max_value=10**400),
                    st.floats(allow_nan=True, allow_infinity=True), st.just(1e-320),
                    st.just(-0.0))
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=20))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=5)),
    max_leaves=30)
feature_names = st.sampled_from(["sepal_length", "sepal_width", "petal_length", "petal_width",
                                 "mean_radius", "age", "$gt", "", "x"])
features = st.one_of(st.lists(numbers, max_size=32), st.lists(json_values, max_size=6),
                     st.dictionaries(feature_names, st.one_of(numbers, json_values),
                                     max_size=6), json_values)
input_documents = st.fixed_dictionaries({}, optional={
    "model": st.one_of(st.sampled_from(["iris", "breast_cancer", "diabetes", "nope", ""]),
                       json_values),
    "version": st.one_of(st.integers(min_value=-3, max_value=3), st.text(max_size=3),
                         json_values),
    "features": features,
    "ref": st.one_of(st.text(max_size=200), json_values),
    "prediction": json_values, "status": json_values, "owner": st.text(max_size=5),
    "_id": json_values, "extra": json_values,
})
bodies = st.one_of(input_documents, st.lists(input_documents, max_size=5), json_values)
NON_FINITE = ["NaN", "-NaN", "Infinity", "-Infinity", "+Infinity", "1e999", "-1e999", "nan",
              "inf", "Inf", "NAN", "1e-999", "0x10", "1_000", "--1"]
raw_texts = st.one_of(
    st.sampled_from(NON_FINITE).map(
        lambda v: '{"model": "iris", "features": [1, 2, %s, 4]}' % v),
    st.binary(max_size=200).map(lambda b: b),
    st.text(max_size=200))
content_types = st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded",
                                 "application/json; charset=latin-1", None])


def stored(db, redis):
    return (db.inputs.count_documents({}), db.predictions.count_documents({}),
            prediction_queue(redis).count)


def check_post(as_user, db, redis, **request):
    before = stored(db, redis)
    response = as_user("alice").post("/api/v1/inputs", **request)
    record("POST", response.status_code)
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    after = stored(db, redis)
    if response.status_code != 201:
        assert after == before
    else:
        body = response.json
        items = body.get("_items", [body])
        assert after[0] - before[0] == len(items) == after[1] - before[1]


@FUZZ
@given(body=bodies)
def test_post_json_bodies(as_user, db, redis, body):
    check_post(as_user, db, redis, json=body)


@FUZZ
@given(text=raw_texts, content_type=content_types)
def test_post_raw_bodies(as_user, db, redis, text, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    check_post(as_user, db, redis, data=text, headers=headers)


OPERATORS = ["$where", "$function", "$accumulator", "$expr", "$regex", "$gt", "$in", "$or",
             "$and", "$not", "$jsonSchema", "$text", "$lookup", "$ne", "$exists", "$mod"]
keys = st.one_of(st.sampled_from(OPERATORS), st.sampled_from(
    ["status", "model", "owner", "_id", "input", "result.label", "a.b"]), st.text(max_size=8))
filters = st.recursive(st.one_of(scalars, st.just("function() { return true; }")),
                       lambda inner: st.one_of(st.lists(inner, max_size=3),
                                               st.dictionaries(keys, inner, max_size=3)),
                       max_leaves=12)
query_values = st.one_of(filters.map(json.dumps), st.text(max_size=40),
                         st.sampled_from(['[("status", 1)]', '[("$where", 1)]', "-_created",
                                          'status,-model', '{"result": 1}', '{"$where": 1}']))
query_strings = st.dictionaries(
    st.sampled_from(["where", "sort", "projection", "max_results", "page", "embedded",
                     "version", "aggregate", "q"]), query_values, max_size=4)
paths = st.sampled_from(["/api/v1/inputs", "/api/v1/predictions", "/api/v1/models",
                         "/api/v1/predictions/{prediction}", "/api/v1/inputs/{input}",
                         "/api/v1/models/{id}", "/api/v1/predictions/{garbage}"])


@FUZZ
@given(path=paths, query=query_strings, garbage=st.text(max_size=30))
def test_get_with_any_query_never_fails_or_leaks(as_user, db, path, query, garbage):
    if not db.inputs.count_documents({}):
        as_user("bob").post("/api/v1/inputs", json={"model": "iris",
                                                    "features": [5.1, 3.5, 1.4, 0.2]})
    ids = {"prediction": str(db.predictions.find_one()["_id"]),
           "input": str(db.inputs.find_one()["_id"]), "id": quote(garbage, safe=""),
           "garbage": quote(garbage, safe="")}
    url = path.format(**ids)
    response = as_user("alice").get(url, query_string=query)
    record("GET", response.status_code)
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    if response.status_code == 200 and "_items" in response.json and "models" not in url:
        assert all(item.get("owner") in (None, "alice") for item in response.json["_items"])
        assert response.json["_items"] == [] or "inputs" in url or "predictions" in url
    if "{prediction}" in path or "{input}" in path:
        assert response.status_code in (400, 404)  # bob's documents, never alice's to see


deep_or_huge = st.one_of(
    st.integers(min_value=100, max_value=200_000).map(lambda n: "[" * n + "]" * n),
    st.integers(min_value=100, max_value=50_000).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.integers(min_value=1, max_value=3000).map(
        lambda n: json.dumps([{"model": "iris", "features": [1, 2, 3, 4]}] * n)),
    st.integers(min_value=1, max_value=200_000).map(
        lambda n: json.dumps({"model": "iris", "features": [1.0] * n})))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=deep_or_huge)
def test_post_deep_or_huge_json(as_user, db, redis, text):
    check_post(as_user, db, redis, data=text, headers={"Content-Type": "application/json"})


EVERY_ENDPOINT = ["/api/v1/inputs", "/api/v1/inputs/{input}", "/api/v1/predictions",
                  "/api/v1/predictions/{prediction}", "/api/v1/models", "/api/v1/models/{model}",
                  "/api/v1/health", "/api/v1/openapi.json", "/api/v1/docs", "/metrics", "/rq/",
                  "/api/v1/", "/api/v1/tokens", "/"]


@FUZZ
@given(method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]),
       path=st.sampled_from(EVERY_ENDPOINT), body=bodies,
       who=st.sampled_from(["alice", "bob", "nobody"]),
       if_match=st.one_of(st.none(), st.text(st.characters(min_codepoint=32, max_codepoint=126),
                                             max_size=10)))
def test_any_method_on_every_endpoint_as_a_client(client, tokens, db, redis, method, path,
                                                  body, who, if_match):
    """Clients and strangers, any method, any body: never a 5xx, and nothing a client may
    not change (predictions, models) changes."""
    if not db.inputs.count_documents({}):
        client.post("/api/v1/inputs", json={"model": "iris", "features": [5.1, 3.5, 1.4, 0.2]},
                    headers={"Authorization": f"Bearer {tokens['admin']}"})
    ids = {"input": str(db.inputs.find_one()["_id"]),
           "prediction": str(db.predictions.find_one()["_id"]),
           "model": str(db.models.find_one()["_id"])}
    headers = {"Authorization": f"Bearer {tokens[who]}"} if who in tokens else {}
    if if_match is not None:
        headers["If-Match"] = if_match
    protected = (list(db.predictions.find()), list(db.models.find()))
    response = client.open(path.format(**ids), method=method, headers=headers,
                           data=json.dumps(body), content_type="application/json")
    record(method, response.status_code)
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    assert (list(db.predictions.find()), list(db.models.find())) == protected
