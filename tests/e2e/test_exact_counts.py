"""Each row counts exactly once in its version's live quality and drift, also when the
workers that write and count the rows are SIGKILLed over and over: a job that wrote its
rows and died before counting them is run again, and its rerun counts that write, once
(core/counting.py). On the real stack: FerretDB, redis-server, gunicorn, RQ workers."""
import signal
import threading
import time

import pymongo
import pytest
from sklearn.datasets import load_iris

from .conftest import Api, running_stack
from .test_faults import FAST, settle_and_check_invariant

ROWS = load_iris().data.tolist()
TOTAL, PER_POST = 20_000, 1_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory, workers=2, extra_env=FAST) as stack:
        yield stack


def figures(api, model_id):
    quality = api.get(f"/models/{model_id}/quality", params={"window": "all"}).json()
    drift = api.get(f"/models/{model_id}/drift", params={"window": "all"}).json()
    return quality["predictions"], drift["predictions"]


def test_twenty_thousand_rows_while_workers_are_killed_count_exactly_once(stack):
    api = Api(stack.url, stack.create_token("admin", "exact"))
    model_id = next(m["_id"] for m in api.get("/models").json()["_items"]
                    if m["name"] == "iris" and m["version"] == 1)
    before = figures(api, model_id)
    kills = []

    def kill_every_two_seconds():
        for number in range(8):
            time.sleep(2)
            worker = stack.workers[number % len(stack.workers)]
            worker.signal(signal.SIGKILL)
            worker.process.wait()
            kills.append(worker.name)
            stack.restart_dead()
    killer = threading.Thread(target=kill_every_two_seconds)
    killer.start()
    for start in range(0, TOTAL, PER_POST):
        body = [{"model": "iris", "features": ROWS[(start + i) % len(ROWS)]}
                for i in range(PER_POST)]
        posted = api.post("/inputs", json=body, timeout=120)
        assert posted.status_code == 201, posted.text
    killer.join()
    assert len(kills) == 8
    db = pymongo.MongoClient(stack.mongo_uri, tz_aware=True).get_default_database()
    settle_and_check_invariant(db, deadline=240)
    assert db.predictions.count_documents({"status": "done"}) == TOTAL
    # the counts of the last writes may land a moment after their rows are announced
    deadline = time.monotonic() + 60
    while figures(api, model_id) != (before[0] + TOTAL, before[1] + TOTAL) \
            and time.monotonic() < deadline:
        time.sleep(1)
    assert figures(api, model_id) == (before[0] + TOTAL, before[1] + TOTAL)
