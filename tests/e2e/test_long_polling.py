"""`Prefer: wait=N` on the real stack: a request is woken by the worker's write, and
while many wait, the API keeps answering others (gunicorn threads)."""
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from .conftest import Api
from .test_faults import post, stack_with_poison

pytestmark = pytest.mark.alone  # the API answers others within a second while 100 requests wait


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with stack_with_poison(tmp_path_factory, workers=2) as stack:
        yield stack


@pytest.fixture(scope="module")
def api(stack):
    return Api(stack.url, stack.create_token("client", "long-polling"))


def wait_for_prediction(api, prediction_id, seconds):
    started = time.monotonic()  # a connection of its own: requests run in many threads
    response = requests.get(f"{api.base}/predictions/{prediction_id}", timeout=seconds + 30,
                            headers={**api.session.headers, "Prefer": f"wait={seconds}"})
    return response, time.monotonic() - started


def test_100_requests_wait_for_a_slow_batch_and_the_api_answers_others_meanwhile(stack, api):
    # more than 2 processes x 32 threads: fails with fewer threads than the default
    ids = post(api, [[float(i)] for i in range(100)], model="slow")  # 3 s in the model
    with ThreadPoolExecutor(100) as pool:
        waits = [pool.submit(wait_for_prediction, api, i, 30) for i in ids]
        time.sleep(1.5)
        started = time.monotonic()
        health = requests.get(f"{stack.url}/api/v1/health", timeout=10)
        assert health.status_code == 200 and time.monotonic() - started < 1
        quick = post(api, [[5.1, 3.5, 1.4, 0.2]])  # iris, while the slow rows wait
        done, seconds = wait_for_prediction(api, quick[0], 20)
        assert done.json()["status"] == "done" and seconds < 2.5
        answers = [w.result() for w in waits]
    for response, seconds in answers:
        assert response.status_code == 200 and response.json()["status"] == "done"
        assert response.headers["Preference-Applied"] == "wait=30"
        assert 1 < seconds < 15  # woken by the write, not by the end of the wait


def test_a_wait_that_ends_first_answers_the_unfinished_prediction(api):
    [prediction_id] = post(api, [[1.0]], model="slow")
    response, seconds = wait_for_prediction(api, prediction_id, 1)
    assert response.status_code == 200
    assert response.json()["status"] in ("queued", "running") and 0.9 < seconds < 2.5
    finished, _ = wait_for_prediction(api, prediction_id, 30)
    assert finished.json()["status"] == "done"
