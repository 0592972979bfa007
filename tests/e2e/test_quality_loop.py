"""The loop on the real stack (FerretDB, two worker processes, the API under gunicorn):
rows served while 8 threads send labels, some changed later; the version's counts are
exact (quality equals sklearn.metrics on the final labels), its first 1,000 rows become
its reference, and its uncertain answers wait in the review queue."""
import io
import itertools
import random
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pytest
from sklearn import metrics as sk
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from .test_faults import wait_for

IRIS = load_iris()
CLASSES = [str(name) for name in IRIS.target_names]
_names = itertools.count()


def upload_model(admin):
    """An iris classifier of its own (so that its counts are this test's alone)."""
    model = LogisticRegression(max_iter=300).fit(IRIS.data, IRIS.target_names[IRIS.target])
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    name = f"loop-iris-{next(_names)}"
    response = admin.session.post(f"{admin.base}/models", timeout=60, data={
        "name": name, "features": '["sl", "sw", "pl", "pw"]'},
        files={"artifact": ("model.joblib", buffer.getvalue())})
    assert response.status_code == 201, response.text
    return response.json()


def post_rows(client, name, rows):
    response = client.post("/inputs", json=[{"model": name, "features": list(map(float, row))}
                                            for row in rows])
    assert response.status_code == 201, response.text
    return [item["prediction"] for item in response.json()["_items"]]


def done(client, ids):
    found = {}
    for start in range(0, len(ids), 100):
        where = '{"_id": {"$in": [%s]}}' % ",".join(f'"{i}"' for i in ids[start:start + 100])
        for item in client.get("/predictions", params={"where": where,
                                                       "max_results": 100}).json()["_items"]:
            if item["status"] == "done":
                found[item["_id"]] = item
    return found


def test_concurrent_labels_and_workers_keep_exact_counts(admin, new_client):
    model = upload_model(admin)
    client = new_client()
    rng = random.Random(5)
    rows = [IRIS.data[rng.randrange(150)] for _ in range(1200)]
    ids = list(itertools.chain.from_iterable(
        post_rows(client, model["name"], rows[i:i + 200]) for i in range(0, 1200, 200)))
    wait_for(lambda: len(done(client, ids)) == len(ids), timeout=120)
    first = {i: rng.choice(CLASSES) for i in ids[:800]}
    final = {i: rng.choice(CLASSES) for i in ids[:800]}

    def labeller(part):
        mine = ids[part * 100:(part + 1) * 100]
        for actuals in (first, final):  # each label sent, then changed (or sent again)
            for start in range(0, 100, 25):
                response = client.post("/feedback", json=[
                    {"prediction": i, "actual": actuals[i]} for i in mine[start:start + 25]])
                assert response.status_code == 201, response.text
    more = []
    with ThreadPoolExecutor(9) as pool:  # the workers serve more rows of the version meanwhile
        serving = pool.submit(lambda: more.extend(post_rows(client, model["name"], rows[:300])))
        list(pool.map(labeller, range(8)))
        serving.result()
    wait_for(lambda: len(done(client, more)) == len(more), timeout=120)
    documents = done(client, ids)
    labelled = [documents[i] for i in ids[:800]]
    actuals = [final[i] for i in ids[:800]]
    assert [d["actual"] for d in labelled] == actuals
    quality = admin.get(f"/models/{model['_id']}/quality").json()
    assert quality["predictions"] == 1500 and quality["labelled"] == 800
    predicted = [d["result"]["label"] for d in labelled]
    probabilities = np.array([[d["result"]["probabilities"][c] for c in CLASSES]
                              for d in labelled])
    assert quality["accuracy"] == pytest.approx(sk.accuracy_score(actuals, predicted), abs=1e-9)
    assert quality["log_loss"] == pytest.approx(
        sk.log_loss(actuals, probabilities, labels=CLASSES), abs=1e-9)
    assert quality["brier"] == pytest.approx(
        sk.brier_score_loss(actuals, probabilities, labels=CLASSES), abs=1e-9)
    assert quality["confusion"]["matrix"] == sk.confusion_matrix(
        actuals, predicted, labels=CLASSES).tolist()
    every = list(documents.values()) + list(done(client, more).values())
    assert quality["estimated_accuracy"] == pytest.approx(
        sum(max(d["result"]["probabilities"].values()) for d in every) / 1500, abs=1e-9)
    # the worker that counts the 1,000th row makes the reference after announcing its
    # rows done: it may come a moment after they are
    wait_for(lambda: admin.get(f"/models/{model['_id']}/drift").json()["reference"])
    drift = admin.get(f"/models/{model['_id']}/drift").json()
    assert drift["reference"] == {"source": "served", "rows": 1000}


def test_uncertain_answers_wait_in_the_review_queue_until_labelled(admin, new_client):
    model = upload_model(admin)
    current = admin.get(f"/models/{model['_id']}").json()
    assert admin.patch(f"/models/{model['_id']}", json={"review_threshold": 0.9},
                       headers={"If-Match": current["_etag"]}).status_code == 200
    client = new_client()
    ids = post_rows(client, model["name"], IRIS.data[50:150])
    wait_for(lambda: len(done(client, ids)) == len(ids), timeout=60)
    documents = done(client, ids)
    uncertain = [i for i in ids if max(documents[i]["result"]["probabilities"].values()) < 0.9]
    assert uncertain
    where = '{"review": "pending", "model": "%s"}' % model["name"]
    queue = admin.get("/predictions", params={"where": where, "max_results": 1000}).json()
    assert {item["_id"] for item in queue["_items"]} == set(uncertain)
    response = admin.post("/feedback", json=[{"prediction": i, "actual": "versicolor"}
                                             for i in uncertain])
    assert response.status_code == 201, response.text
    assert admin.get("/predictions", params={"where": where}).json()["_meta"]["total"] == 0
    reviewed = admin.get(f"/predictions/{uncertain[0]}").json()
    assert reviewed["review"] == "done" and reviewed["reviewed_by"] == "e2e-admin"
