"""The unit fuzzers' generators against the real stack: FerretDB, gunicorn and the
workers answer hostile requests with 4xx, never 5xx, and store nothing for them."""
import json

import pytest
from hypothesis import HealthCheck, given, settings

from ..fuzzing import record
from ..unit.test_fuzz import bodies, paths, query_strings, raw_texts

LIVE = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def fuzzer(stack):
    from .conftest import Api
    return Api(stack.url, stack.create_token("client", "fuzzer"))


def totals(api):
    return (api.get("/inputs").json()["_meta"]["total"],
            api.get("/predictions").json()["_meta"]["total"])


@LIVE
@given(body=bodies, raw=raw_texts)
def test_live_posts(fuzzer, body, raw):
    for data in (json.dumps(body), raw):  # json.dumps writes NaN and Infinity as Python does
        before = totals(fuzzer)
        response = fuzzer.post("/inputs", data=data, headers=JSON)
        record("live POST", response.status_code)
        assert response.status_code < 500, response.text[:300]
        if response.status_code != 201:
            assert totals(fuzzer) == before


@LIVE
@given(path=paths, query=query_strings)
def test_live_gets(fuzzer, path, query):
    url = path.format(prediction="0" * 24, input="0" * 24, id="x", garbage="..%2f")
    response = fuzzer.get(url.removeprefix("/api/v1"), params=query)
    record("live GET", response.status_code)
    assert response.status_code < 500, response.text[:300]


def test_request_body_over_the_size_limit_is_413(fuzzer):
    before = totals(fuzzer)
    response = fuzzer.post("/inputs", data=b"[" + b" " * (9 * 1024 * 1024) + b"]", headers=JSON)
    record("live POST", response.status_code)
    assert response.status_code == 413 and response.json()["_status"] == "ERR"
    assert totals(fuzzer) == before
