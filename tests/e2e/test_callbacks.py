"""Callbacks on the real stack: signed deliveries retried until the receiver accepts, by
the callback worker, apart from the predictions."""
import hashlib
import hmac
import json
import time

import pytest

from ..callback_receiver import Receiver
from .conftest import Api, running_stack
from .test_faults import wait_for

pytestmark = pytest.mark.alone  # 50 rows called back within 2.5 s

SECRET = "e2e-secret"
IRIS_ROW = [5.1, 3.5, 1.4, 0.2]


@pytest.fixture(scope="module")
def receivers():
    flaky, hanging = Receiver(failures=2), Receiver(hang_seconds=30)
    yield flaky, hanging
    flaky.close()
    hanging.close()


@pytest.fixture(scope="module")
def api(tmp_path_factory, receivers):
    flaky, hanging = receivers
    env = {"CALLBACK_SECRET": SECRET, "CALLBACK_ALLOWED_HOSTS": f"{flaky.host},{hanging.host}",
           "CALLBACK_TIMEOUT_SECONDS": "3"}
    with running_stack(tmp_path_factory, workers=1, extra_env=env) as stack:
        yield Api(stack.url, stack.create_token("client", "callbacks"))


def test_a_receiver_that_fails_twice_gets_one_signed_delivery(api, receivers):
    flaky, _ = receivers
    response = api.post("/inputs", json={"model": "iris", "features": IRIS_ROW,
                                         "callback_url": f"http://{flaky.host}/hook"})
    assert response.status_code == 201, response.text
    url = f"/predictions/{response.json()['prediction']}"
    wait_for(lambda: api.get(url).json()["callback"]["status"] == "delivered")
    assert api.get(url).json()["callback"] == {"status": "delivered", "attempts": 3,
                                               "last_error": None}
    assert len(flaky.received) == 3
    body, signature = flaky.received[-1]
    assert signature == "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert json.loads(body)["status"] == "done"


def test_a_receiver_that_hangs_does_not_delay_other_predictions(api, receivers):
    _, hanging = receivers
    response = api.post("/inputs", json={"model": "iris", "features": IRIS_ROW,
                                         "callback_url": f"http://{hanging.host}/hook"})
    assert response.status_code == 201
    wait_for(lambda: len(hanging.received) == 1)  # the callback worker is held now
    started = time.monotonic()
    items = api.post("/inputs", json=[{"model": "iris", "features": IRIS_ROW}] * 50).json()
    for item in items["_items"]:
        url = f"/predictions/{item['prediction']}"
        wait_for(lambda url=url: api.get(url).json()["status"] == "done")
    assert time.monotonic() - started < 2.5  # less than the receiver's 3 s timeout


def test_a_host_not_allowed_is_422(api):
    response = api.post("/inputs", json={"model": "iris", "features": IRIS_ROW,
                                         "callback_url": "http://example.com/hook"})
    assert response.status_code == 422
    assert "CALLBACK_ALLOWED_HOSTS" in response.json()["_issues"]["callback_url"]
