"""Batches on the real stack: a CSV file in, results in file order out, refused files
storing nothing, cancel, long polling, callbacks, isolation, a worker killed mid-batch."""
import csv
import hashlib
import hmac
import io
import json
import random
import signal
import socket
import time
from urllib.parse import urlsplit

import numpy as np
import pytest
from bson import ObjectId

from service.models.catalog import load_model

from ..callback_receiver import Receiver
from .conftest import Api, running_stack
from .test_faults import (
    FAST,
    ROWS,
    artifacts_with_poison,
    db,  # noqa: F401 - the fixture, on this module's stack
    wait_for,
)

SECRET = "e2e-batches"
IRIS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
CLASSES = ["setosa", "versicolor", "virginica"]
FINISHED = ("done", "cancelled")


@pytest.fixture(scope="module")
def receiver():
    receiver = Receiver(failures=2)
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, receiver):
    """Jobs of 5 rows, batched 5 rows at most, so that a batch of a few rows is many
    jobs; the `slow` model takes 3 s per call."""
    artifacts = artifacts_with_poison(tmp_path_factory.mktemp("artifacts") / "artifacts")
    env = {**FAST, "ARTIFACTS_DIR": str(artifacts), "CHUNK_SIZE": "5", "COALESCE_MAX_ROWS": "5",
           "CALLBACK_SECRET": SECRET, "CALLBACK_ALLOWED_HOSTS": receiver.host}
    with running_stack(tmp_path_factory, workers=2, extra_env=env) as stack:
        yield stack


@pytest.fixture(scope="module")
def alice(stack):
    return Api(stack.url, stack.create_token("client", "alice-batches"))


def upload(api, text, query="model=iris"):
    return api.post(f"/batches?{query}", data=text.encode(),
                    headers={"Content-Type": "text/csv"}, timeout=120)


def iris_file(rows, columns):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for n, row in enumerate(rows, 1):
        values = dict(zip(IRIS, row), ref=f"ref-{n}")
        writer.writerow([values[c] for c in columns])
    return out.getvalue()


def slow_file(rows):
    return "x\n" + "".join(f"{n}\n" for n in range(rows))


def long_poll(api, batch_id, seconds=30):
    return api.get(f"/batches/{batch_id}", headers={"Prefer": f"wait={seconds}"},
                   timeout=seconds + 10)


def settled(api, batch_id, deadline=120):
    end = time.monotonic() + deadline
    while True:
        batch = long_poll(api, batch_id).json()
        assert batch["done"] + batch["failed"] + batch["cancelled"] <= batch["total"], batch
        if batch["status"] in FINISHED:
            return batch
        assert time.monotonic() < end, batch


def counts_in(db, batch_id):
    statuses = [p["status"] for p in db.predictions.find({"batch": batch_id}, {"status": 1})]
    return {s: statuses.count(s) for s in set(statuses)}


def test_a_csv_in_any_column_order_comes_back_in_file_order_as_scikit_learn_predicts(
        alice, db):
    rng = random.Random(7)
    rows = [ROWS[rng.randrange(150)] for _ in range(2000)]
    columns = ["petal_length", "ref", "sepal_width", "petal_width", "sepal_length"]
    created = upload(alice, iris_file(rows, columns))
    assert created.status_code == 201, created.text
    batch_id, started = created.json()["_id"], time.monotonic()
    answer = long_poll(alice, batch_id)
    while answer.json()["status"] not in FINISHED:
        assert answer.headers["Preference-Applied"] == "wait=30"
        counted = answer.json()
        assert counted["done"] + counted["failed"] + counted["cancelled"] <= counted["total"]
        answer = long_poll(alice, batch_id)
    batch = answer.json()
    assert (batch["status"], batch["total"], batch["done"], batch["failed"],
            batch["cancelled"]) == ("done", 2000, 2000, 0, 0), batch
    assert time.monotonic() - started < 60

    _, estimator = load_model("iris", 1)
    expected = estimator.predict_proba(np.asarray(rows))
    lines = list(csv.reader(io.StringIO(alice.get(f"/batches/{batch_id}/results").text)))
    assert lines[0] == ["ref", *IRIS, "status", "label", *(f"p_{c}" for c in CLASSES), "error"]
    assert len(lines) == 2001
    for n, (line, row, probabilities) in enumerate(zip(lines[1:], rows, expected), 1):
        assert line[:6] == [f"ref-{n}", *(repr(float(v)) for v in row), "done"]
        assert line[6] == CLASSES[int(np.argmax(probabilities))]
        assert [float(v) for v in line[7:10]] == [float(p) for p in probabilities]

    records = [json.loads(line) for line in
               alice.get(f"/batches/{batch_id}/results?format=jsonl").text.splitlines()]
    assert [(r["row"], r["ref"]) for r in records] == [(n, f"ref-{n}") for n in range(1, 2001)]
    assert [[r["result"]["probabilities"][c] for c in CLASSES] for r in records] == \
        [[float(p) for p in ps] for ps in expected]
    assert db.inputs.count_documents({"batch": ObjectId(batch_id)}) == 2000


def stored(db):
    return [db[kind].count_documents({}) for kind in ("batches", "inputs", "predictions")]


def lying_post(stack, token, content_length):
    """A POST whose Content-Length claims far more than it sends."""
    url = urlsplit(stack.url)
    with socket.create_connection((url.hostname, url.port), timeout=30) as conn:
        conn.sendall((f"POST /api/v1/batches?model=iris HTTP/1.1\r\nHost: {url.netloc}\r\n"
                      f"Authorization: Bearer {token}\r\nContent-Type: text/csv\r\n"
                      f"Content-Length: {content_length}\r\n\r\n"
                      + ",".join(IRIS) + "\n1,2,3,4\n").encode())
        return conn.recv(4096).decode(errors="replace").split("\r\n")[0]


@pytest.mark.parametrize("text, status", [
    (",".join(IRIS) + "\n1,2,3,4\n1,2,three,4\n", 422),  # a non-number
    ("sepal_length,sepal_width,petal_length\n1,2,3\n", 422),  # a missing column
    (",".join(IRIS) + ",colour\n1,2,3,4,red\n", 422),  # an unknown column
    ("", 422),  # an empty file
    (",".join(IRIS) + "\n", 422),  # a header only
    (",".join(IRIS) + '\n1,2,3,"4\n', 400),  # not CSV
])
def test_a_bad_file_is_refused_and_nothing_is_stored(alice, db, text, status):
    before = stored(db)
    answer = upload(alice, text)
    assert answer.status_code == status, answer.text
    assert stored(db) == before


def test_a_content_length_lie_of_2_gb_is_413_and_nothing_is_stored(stack, alice, db):
    before = stored(db)
    token = alice.session.headers["Authorization"].split()[1]
    assert lying_post(stack, token, 2 * 2**30) == "HTTP/1.1 413 REQUEST ENTITY TOO LARGE"
    assert stored(db) == before


def test_cancel_mid_batch_no_row_is_both_done_and_cancelled(alice, db):
    batch_id = upload(alice, slow_file(60), "model=slow").json()["_id"]  # 12 jobs of 3 s
    wait_for(lambda: alice.get(f"/batches/{batch_id}").json()["done"] >= 5, timeout=60)
    cancelled = alice.post(f"/batches/{batch_id}/cancel")
    assert cancelled.status_code == 200
    batch = settled(alice, batch_id)
    assert batch["status"] == "cancelled"
    assert batch["done"] >= 5 and batch["cancelled"] > 0 and batch["failed"] == 0
    assert batch["done"] + batch["cancelled"] == batch["total"] == 60
    oid = ObjectId(batch_id)
    assert counts_in(db, oid) == {"done": batch["done"], "cancelled": batch["cancelled"]}
    assert alice.post(f"/batches/{batch_id}/cancel").json()["status"] == "cancelled"


def test_long_polling_a_batch_answers_after_n_seconds_with_the_unfinished_batch(alice):
    batch_id = upload(alice, slow_file(30), "model=slow").json()["_id"]
    started = time.monotonic()
    answer = long_poll(alice, batch_id, seconds=1)
    assert 0.9 < time.monotonic() - started < 3
    assert answer.json()["status"] in ("queued", "running")
    assert answer.headers["Preference-Applied"] == "wait=1"
    for wait in ("0", "61"):
        assert alice.get(f"/batches/{batch_id}", headers={"Prefer": f"wait={wait}"}) \
            .status_code == 400
    alice.post(f"/batches/{batch_id}/cancel")
    assert settled(alice, batch_id)["status"] == "cancelled"


def test_a_finished_batch_is_called_back_signed_after_two_failed_attempts(alice, receiver):
    created = upload(alice, iris_file(ROWS[:20], IRIS),
                     f"model=iris&callback_url=http://{receiver.host}/batch")
    assert created.status_code == 201, created.text
    batch_id = created.json()["_id"]
    assert created.json()["callback"] == {"status": "pending", "attempts": 0, "last_error": None}
    wait_for(lambda: alice.get(f"/batches/{batch_id}").json()["callback"]["status"]
             == "delivered", timeout=60)
    assert alice.get(f"/batches/{batch_id}").json()["callback"]["attempts"] == 3
    body, signature = receiver.received[-1]
    assert signature == "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    delivered = json.loads(body)
    assert (delivered["_id"], delivered["status"], delivered["done"]) == (batch_id, "done", 20)
    assert "counted" not in delivered and "owner" not in delivered
    refused = upload(alice, iris_file(ROWS[:2], IRIS),
                     "model=iris&callback_url=http://example.com/hook")
    assert refused.status_code == 422


def test_another_client_cannot_read_cancel_or_fetch_the_results_of_a_batch(stack, alice):
    batch_id = upload(alice, iris_file(ROWS[:3], IRIS)).json()["_id"]
    bob = Api(stack.url, stack.create_token("client", "bob-batches"))
    assert bob.get(f"/batches/{batch_id}").status_code == 404
    assert bob.get(f"/batches/{batch_id}/results").status_code == 404
    assert bob.post(f"/batches/{batch_id}/cancel").status_code == 404
    assert batch_id not in [b["_id"] for b in bob.get("/batches").json()["_items"]]


def test_a_worker_killed_mid_batch_the_batch_still_finishes_with_each_row_once(
        stack, alice, db):
    batch_id = upload(alice, slow_file(20), "model=slow").json()["_id"]  # 4 jobs of 3 s
    oid = ObjectId(batch_id)
    wait_for(lambda: db.predictions.count_documents({"batch": oid, "status": "running"}) >= 5,
             timeout=30)
    worker = stack.workers[0]
    worker.signal(signal.SIGKILL)
    worker.process.wait()
    assert stack.restart_dead() == [worker.name]
    batch = settled(alice, batch_id, deadline=150)
    assert (batch["status"], batch["done"] + batch["failed"], batch["total"]) == \
        ("done", 20, 20), batch
    assert counts_in(db, oid) == {"done": 20}
    attempts = [p["attempts"] for p in db.predictions.find({"batch": oid}, {"attempts": 1})]
    assert 2 in attempts  # the killed worker's rows ran again, and were counted once
