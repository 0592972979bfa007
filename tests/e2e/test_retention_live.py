"""Retention keeps pace on the real stack: a backlog of 100,000 finished rows past
RETENTION_DAYS is deleted within a minute while a client keeps sending rows, no input is
left without its prediction, and the rows inside the window are untouched."""
import threading
import time
from datetime import datetime, timedelta, timezone

import pymongo
import pytest
from bson import ObjectId

from bench.retention import store_backlog

from .conftest import Api, running_stack
from .test_faults import FAST

pytestmark = pytest.mark.alone  # 100,000 rows deleted within a minute

BACKLOG = 100_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory, workers=1,
                       extra_env={**FAST, "RETENTION_DAYS": "1"}) as stack:
        yield stack


def test_a_backlog_of_100000_expired_rows_is_gone_within_a_minute_while_rows_arrive(stack):
    db = pymongo.MongoClient(stack.mongo_uri, tz_aware=True).get_default_database()
    api = Api(stack.url, stack.create_token("client", "keeps-sending"))
    store_backlog(db, BACKLOG, datetime.now(timezone.utc) - timedelta(days=2))
    expired = {"status": "done", "finished_at": {"$lt": datetime.now(timezone.utc)
                                                 - timedelta(days=1)}}
    started, sent, stop = time.monotonic(), [], threading.Event()

    def keep_sending():
        while not stop.is_set():
            answer = api.post("/inputs", json={"model": "iris", "features": [6.1, 2.8, 4.7, 1.2]},
                              headers={"Prefer": "wait=10"})
            assert answer.status_code == 201, answer.text
            sent.append(answer.json()["prediction"])
            time.sleep(0.2)
    sender = threading.Thread(target=keep_sending, daemon=True)
    sender.start()
    try:
        # one expired row looked for, not all counted: the test's own reads stay small
        while db.predictions.find_one(expired, {"_id": 1}) is not None \
                and time.monotonic() - started < 60:
            time.sleep(1)
        took = time.monotonic() - started
    finally:
        stop.set()
        sender.join(15)
    print(f"backlog of {BACKLOG:,} expired rows deleted in {took:.1f} s; {len(sent)} rows sent")
    assert db.predictions.count_documents(expired) == 0, f"still there after {took:.0f} s"
    # no input without its prediction (store_backlog's rows are the owner `backlog`'s)
    assert db.inputs.count_documents({"owner": "backlog"}) == 0
    kept = db.predictions.count_documents({"_id": {"$in": [ObjectId(p) for p in sent]},
                                           "status": "done"})
    assert sent and kept == len(sent)  # the rows inside the window are all there, done
