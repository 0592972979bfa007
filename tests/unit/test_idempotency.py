"""Idempotency-Key on POST /inputs and POST /batches: a repeat answers as the first did
and stores nothing; another body under the key is 422; a key in use is 409; per token."""
import json

import pytest

IRIS = {"model": "iris", "features": [5.1, 3.5, 1.4, 0.2]}
CSV = "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"


def stored(db):
    return [db[kind].count_documents({}) for kind in ("inputs", "predictions", "batches")]


def post_inputs(as_user, body, key, who="alice"):
    return as_user(who).post("/api/v1/inputs", json=body, headers={"Idempotency-Key": key})


def post_file(as_user, text, key, who="alice"):
    return as_user(who).post("/api/v1/batches?model=iris", data=text,
                             headers={"Content-Type": "text/csv", "Idempotency-Key": key})


@pytest.mark.parametrize("post,body", [(post_inputs, [IRIS, IRIS]), (post_file, CSV)])
def test_a_repeat_answers_as_the_first_did_and_stores_nothing(as_user, db, post, body):
    first = post(as_user, body, "k-1")
    assert first.status_code == 201, first.json
    after_first = stored(db)
    again = post(as_user, body, "k-1")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert stored(db) == after_first
    assert "Idempotent-Replayed" not in first.headers


@pytest.mark.parametrize("post,body,other", [
    (post_inputs, [IRIS], [IRIS, IRIS]), (post_file, CSV, CSV + "1,2,3,4\n")])
def test_the_same_key_with_another_body_is_422_and_stores_nothing(as_user, db, post, body,
                                                                  other):
    assert post(as_user, body, "k-2").status_code == 201
    before = stored(db)
    conflict = post(as_user, other, "k-2")
    assert conflict.status_code == 422 and "another body" in conflict.json["_error"]["message"]
    assert stored(db) == before


def test_a_key_still_in_use_is_409(as_user, db, redis, tokens):
    from service import idempotency
    from service.tokens import token_hash
    key = idempotency.redis_key({"_id": token_hash(tokens["alice"])}, "busy")
    redis.set(key, json.dumps({"state": "processing"}))  # another process holds it
    response = post_inputs(as_user, IRIS, "busy")
    assert response.status_code == 409
    assert stored(db) == [0, 0, 0]


def test_keys_are_per_token_and_a_refused_first_answer_is_replayed(as_user, db):
    assert post_inputs(as_user, IRIS, "shared", who="alice").status_code == 201
    assert post_inputs(as_user, IRIS, "shared", who="bob").status_code == 201  # bob's own
    bad = {"model": "iris", "features": [1, 2]}
    first = post_inputs(as_user, bad, "bad-once")
    assert first.status_code == 422
    assert post_inputs(as_user, bad, "bad-once").headers.get("Idempotent-Replayed") == "true"


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "ünï"])
def test_a_malformed_key_is_400(as_user, db, key):
    response = post_inputs(as_user, IRIS, key)
    assert response.status_code == 400 and stored(db) == [0, 0, 0]


def test_a_body_too_large_gives_its_key_back(as_user, db):
    huge = [IRIS] * 200_000  # past the 8 MiB of a request body: 413, nothing read
    assert post_inputs(as_user, huge, "too-big").status_code == 413
    assert post_inputs(as_user, IRIS, "too-big").status_code == 201  # not 422: key free
