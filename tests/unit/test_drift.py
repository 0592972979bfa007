"""Drift per model version: the window's rows against the version's reference profile
(the training split for shipped models, an uploaded reference file, or the first rows
served), PSI per feature recomputed here from the answer's shares; and a file of rows
labelled by `ref,actual` (POST /batches/{id}/feedback)."""
import io
import math

import joblib
import pytest
from sklearn.linear_model import LogisticRegression

from cli.train import split
from core.profiles import FLOOR
from tests.unit.test_quality import IRIS, model_id, run_workers, serve  # noqa: F401

BREAST_CANCER_TEST = split("breast_cancer")[1][1]


def drift(as_user, db, name, version=1):
    document = db.models.find_one({"name": name, "version": version})
    response = as_user("admin").get(f"/api/v1/models/{document['_id']}/drift")
    assert response.status_code == 200, response.json
    return response.json


def psi(reference, live):
    return sum((max(n, FLOOR) - max(r, FLOOR)) * math.log(max(n, FLOOR) / max(r, FLOOR))
               for r, n in zip(reference, live))


def assert_psi_recomputed(answer):
    for figures in [*answer["features"].values(), answer["prediction"]]:
        assert figures["psi"] == pytest.approx(psi(figures["reference"], figures["live"]),
                                               abs=1e-12)
        assert sum(figures["live"]) == pytest.approx(1.0)


def test_held_out_rows_flag_nothing_and_a_shifted_feature_is_flagged_alone(
        as_user, db, run_workers):
    serve(as_user, run_workers, "breast_cancer", BREAST_CANCER_TEST)
    calm = drift(as_user, db, "breast_cancer")
    assert calm["reference"] == {"source": "training", "rows": 426}
    assert calm["predictions"] == len(BREAST_CANCER_TEST) and calm["drifted"] == []
    assert len(calm["features"]) == 30
    assert_psi_recomputed(calm)
    db.quality.delete_many({})  # a fresh window
    shifted = BREAST_CANCER_TEST.copy()
    shifted[:, 0] += 10  # mean_radius
    serve(as_user, run_workers, "breast_cancer", shifted)
    answer = drift(as_user, db, "breast_cancer")
    assert answer["drifted"] == ["mean_radius"]
    assert answer["features"]["mean_radius"]["drifted"] is True
    assert len(answer["features"]["mean_radius"]["bins"]) == 9
    assert_psi_recomputed(answer)


def test_iris_petal_length_plus_2_flags_petal_length_and_not_the_others(
        as_user, db, run_workers):
    rows = IRIS.data.copy()
    serve(as_user, run_workers, "iris", rows)
    assert drift(as_user, db, "iris")["drifted"] == []
    db.quality.delete_many({})
    rows[:, 2] += 2
    serve(as_user, run_workers, "iris", rows)
    answer = drift(as_user, db, "iris")
    assert answer["drifted"] == ["petal_length"]
    assert_psi_recomputed(answer)


def iris_upload(as_user, name, reference=None):
    model = LogisticRegression(max_iter=500).fit(IRIS.data, IRIS.target)
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    form = {"name": name, "features": '["a", "b", "c", "d"]',
            "artifact": (io.BytesIO(buffer.getvalue()), "model.joblib")}
    if reference is not None:
        form["reference"] = (io.BytesIO(reference.encode()), "reference.csv")
    return as_user("admin").post("/api/v1/models", content_type="multipart/form-data",
                                 data=form)


def test_an_upload_with_a_reference_file_has_that_profile(as_user, db):
    text = "a,b,c,d\n" + "".join(",".join(map(str, row)) + "\n" for row in IRIS.data[:100])
    response = iris_upload(as_user, "with-reference", text)
    assert response.status_code == 201, response.json
    answer = drift(as_user, db, "with-reference")
    assert answer["reference"] == {"source": "upload", "rows": 100}
    assert answer["features"]["a"]["live"] is None and answer["features"]["a"]["psi"] is None


@pytest.mark.parametrize("text", ["a,b,c\n1,2,3\n", "a,b,c,d\n1,2,3,x\n", "a,b,c,d\n"])
def test_a_bad_reference_file_is_422_and_nothing_is_stored(as_user, db, text):
    response = iris_upload(as_user, "bad-reference", text)
    assert response.status_code == 422 and "reference" in response.json["_issues"]
    assert db.models.count_documents({"name": "bad-reference"}) == 0


def test_the_rows_that_make_the_reference_are_announced_before_it_is_made(
        as_user, db, redis, run_workers, monkeypatch):
    """Making a served reference reads its 1,000 rows and their inputs: the worker that
    counts the 1,000th row makes it after announcing its rows done, so that they do not
    wait for it (a single row waited 260 ms for it beside a file)."""
    from core import finished
    from jobs import monitoring
    assert iris_upload(as_user, "announced-first").status_code == 201
    announced = redis.pubsub()
    announced.subscribe(finished.CHANNEL)
    assert announced.get_message(timeout=2)["type"] == "subscribe"
    make = monitoring.make_reference_if_served
    seen = []

    def make_when_announced(db, entry):
        while (message := announced.get_message(timeout=0.5)) is not None:
            if message["type"] == "message":
                seen.extend(finished.finished(message["data"])[0])
        if len(seen) >= monitoring.REFERENCE_ROWS:
            make(db, entry)
    monkeypatch.setattr(monitoring, "make_reference_if_served", make_when_announced)
    serve(as_user, run_workers, "announced-first", [IRIS.data[i % 150] for i in range(1000)])
    assert len(seen) == 1000
    assert drift(as_user, db, "announced-first")["reference"] == {"source": "served",
                                                                  "rows": 1000}


def test_without_a_reference_the_first_1000_rows_served_become_it(as_user, db, run_workers):
    assert iris_upload(as_user, "served-reference").status_code == 201
    before = drift(as_user, db, "served-reference")
    assert before["reference"] is None and before["features"] == {}
    rows = [IRIS.data[i % 150] for i in range(1000)]
    serve(as_user, run_workers, "served-reference", rows)
    assert drift(as_user, db, "served-reference")["reference"] == {"source": "served",
                                                                   "rows": 1000}
    serve(as_user, run_workers, "served-reference", IRIS.data[:30])
    answer = drift(as_user, db, "served-reference")
    assert answer["predictions"] == 30  # rows are binned once there is a reference
    assert_psi_recomputed(answer)


def labels_file(rows):
    return "ref,actual\n" + "".join(f"{ref},{actual}\n" for ref, actual in rows)


def test_a_file_of_rows_is_labelled_by_ref(as_user, db, run_workers):
    text = "ref,sepal_length,sepal_width,petal_length,petal_width\n" + "".join(
        f"r{i}," + ",".join(map(str, IRIS.data[i])) + "\n" for i in range(0, 150, 10))
    batch = as_user("alice").post("/api/v1/batches?model=iris", data=text,
                                  headers={"Content-Type": "text/csv"}).json
    run_workers()
    url = f"/api/v1/batches/{batch['_id']}/feedback"
    bad = as_user("alice").post(url, data=labels_file([("r0", "setosa"), ("nope", "setosa"),
                                                       ("r10", "tulip")]),
                                headers={"Content-Type": "text/csv"})
    assert bad.status_code == 422
    assert {(i["row"], i["field"]) for i in bad.json["_issues"]} == {(2, "ref"), (3, "actual")}
    assert db.feedback.count_documents({}) == 0
    truth = [(f"r{i}", IRIS.target_names[IRIS.target[i]]) for i in range(0, 150, 10)]
    good = as_user("alice").post(url, data=labels_file(truth),
                                 headers={"Content-Type": "text/csv"})
    assert good.status_code == 200 and good.json["labelled"] == 15
    quality = as_user("admin").get(f"/api/v1/models/{model_id(db, 'iris')}/quality").json
    assert quality["labelled"] == 15 and quality["accuracy"] == 1.0
    assert db.feedback.count_documents({"owner": "alice"}) == 15
    other = as_user("bob").post(url, data=labels_file(truth), headers={"Content-Type": "text/csv"})
    assert other.status_code == 404


def test_each_p_value_equals_scipys_chisquare_on_the_bins(as_user, db, run_workers):
    from scipy.stats import chisquare
    serve(as_user, run_workers, "iris", IRIS.data[::3])
    answer = drift(as_user, db, "iris")
    rows = answer["predictions"]
    for figures in [*answer["features"].values(), answer["prediction"]]:
        floored = [max(share, FLOOR) for share in figures["reference"]]
        expected = [share / sum(floored) * rows for share in floored]
        counts = [round(share * rows) for share in figures["live"]]
        assert figures["p_value"] == pytest.approx(chisquare(counts, expected).pvalue,
                                                   rel=1e-9, abs=1e-300)


def test_21_rows_drawn_from_the_reference_flag_nothing_and_shifted_flag_their_feature(
        as_user, db, run_workers):
    """PSI alone flags most features of a handful of rows (its expected value with no
    drift at all is about (bins - 1)(1/n_live + 1/n_ref)); with the chi-square test as
    well, only a feature that moved is drifted."""
    import numpy as np
    _, (train, *_) = split("iris")
    rows = train[np.random.default_rng(7).choice(len(train), 21, replace=False)]
    serve(as_user, run_workers, "iris", rows)
    calm = drift(as_user, db, "iris")
    assert calm["predictions"] == 21 and calm["drifted"] == []
    assert any(f["psi"] >= calm["drift_threshold"] for f in calm["features"].values()), \
        "PSI alone would have flagged these rows"
    db.quality.delete_many({})
    shifted = rows.copy()
    shifted[:, 2] += 2  # petal_length
    serve(as_user, run_workers, "iris", shifted)
    moved = drift(as_user, db, "iris")
    assert moved["drifted"] == ["petal_length"]
    assert moved["features"]["petal_length"]["p_value"] < 1e-6
