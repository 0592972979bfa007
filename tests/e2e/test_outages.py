"""A store going away: the API answers 503 in JSON, quickly, and recovers."""
import time

import pytest
import requests

from .conftest import Api, running_stack

pytestmark = pytest.mark.alone  # a 503 within 6 s of a store going down


@pytest.fixture(scope="module")
def outage_stack(tmp_path_factory):
    with running_stack(tmp_path_factory, workers=1) as stack:
        yield stack


def timed_get(url):
    started = time.monotonic()
    response = requests.get(url, timeout=15)
    return response, time.monotonic() - started


@pytest.mark.parametrize("store", ["redis", "database"])
def test_health_is_503_naming_the_store_while_it_is_down_then_recovers(outage_stack, store):
    server = getattr(outage_stack, store)
    url = f"{outage_stack.url}/api/v1/health"
    token = outage_stack.create_token("client", f"outage-{store}")
    api = Api(outage_stack.url, token)
    server.stop()
    try:
        response, seconds = timed_get(url)
        assert response.status_code == 503
        key = {"redis": "redis", "database": "mongo"}[store]
        assert response.json()[key] != "ok"
        assert seconds < 6
        post = api.post("/inputs", json={"model": "iris", "features": [1, 2, 3, 4]})
        assert post.status_code == 503 and post.json()["_status"] == "ERR"
    finally:
        server.start()
    deadline = time.monotonic() + 30
    while requests.get(url, timeout=15).status_code != 200:
        assert time.monotonic() < deadline, "health did not recover"
        time.sleep(0.5)
    assert api.post("/inputs", json={"model": "iris", "features": [1, 2, 3, 4]}).status_code == 201
