"""The /ui/ pages on mongomock with real RQ workers in process: the login (admins only,
the cookie's attributes, CSRF on every form, logout, a revoked token), the pages with
and without data, the thresholds form, and a label given in the review queue."""
import json
import re

import pytest

from core.queue import prediction_queue
from jobs import models as worker_models
from jobs import predict, worker

SETOSA = [5.1, 3.5, 1.4, 0.2]
BETWEEN = [6.0, 2.7, 5.0, 1.6]  # between versicolor and virginica: an unsure answer


@pytest.fixture
def run_workers(redis, db, monkeypatch):
    monkeypatch.setattr(predict, "mongo_db", lambda: db)
    monkeypatch.setattr(worker, "mongo_db", lambda: db)
    worker_models.settings_cache.clear()
    worker_models.cache.loaded.clear()
    return lambda: worker.PredictionWorker([prediction_queue(redis)],
                                           connection=redis).work(burst=True)


def csrf_of(response):
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', response.text)
    assert found, response.text[:500]
    return found.group(1)


def log_in(client, token, base_url="http://localhost"):
    form = client.get("/ui/login", base_url=base_url)
    return client.post("/ui/login", data={"token": token, "csrf_token": csrf_of(form)},
                       base_url=base_url)


@pytest.fixture
def admin_page(client, tokens):
    response = log_in(client, tokens["admin"])
    assert response.status_code == 302, response.text
    return client


def test_login_starts_a_session_with_a_strict_http_only_cookie(client, tokens):
    assert client.get("/ui/models").status_code == 302  # not logged in: to the login form
    response = log_in(client, tokens["admin"])
    assert response.status_code == 302 and response.location.endswith("/ui/models")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/ui" in cookie
    assert "Secure" not in cookie  # served over http here
    assert tokens["admin"] not in cookie  # the session keeps the token's hash, not it
    page = client.get("/ui/models")
    assert page.status_code == 200 and "iris" in page.text


def test_the_cookie_is_secure_over_https(client, tokens):
    response = log_in(client, tokens["admin"], base_url="https://localhost")
    assert response.status_code == 302
    assert "Secure" in response.headers["Set-Cookie"]


def test_client_and_wrong_tokens_are_refused_with_the_reason(client, tokens):
    refused = log_in(client, tokens["alice"])
    assert refused.status_code == 403 and "is a client token" in refused.text
    wrong = log_in(client, "not-a-token")
    assert wrong.status_code == 401 and "unknown token" in wrong.text
    assert client.get("/ui/models").status_code == 302


def test_a_form_without_its_csrf_token_is_refused(client, tokens):
    client.get("/ui/login")
    response = client.post("/ui/login", data={"token": tokens["admin"]})
    assert response.status_code == 400 and "CSRF token is missing" in response.text
    assert client.get("/ui/models").status_code == 302


def test_logout_ends_the_session(admin_page):
    page = admin_page.get("/ui/models")
    assert admin_page.post("/ui/logout", data={"csrf_token": csrf_of(page)}).status_code == 302
    assert admin_page.get("/ui/models").status_code == 302


def test_a_revoked_token_ends_its_sessions(admin_page, as_user, db, tokens):
    from service.tokens import token_hash
    revoked = as_user("admin").delete(f"/api/v1/tokens/{token_hash(tokens['admin'])}",
                                      headers={"If-Match": "*"})
    assert revoked.status_code == 204, revoked.text
    assert admin_page.get("/ui/models").status_code == 302


def test_the_api_sets_no_cookie(client, as_user):
    response = as_user("alice").get("/api/v1/models")
    assert response.status_code == 200 and "Set-Cookie" not in response.headers


def test_pages_without_data_say_so(admin_page, db):
    db.models.update_one({"name": "iris", "version": 1}, {"$set": {"reference": None}})
    page = admin_page.get("/ui/models/iris/1")
    assert page.status_code == 200
    assert 'id="no-traffic"' in page.text and 'id="no-reference"' in page.text
    assert admin_page.get("/ui/models/diabetes/1").status_code == 200
    assert admin_page.get("/ui/models/iris/99").status_code == 404


def chart_data(page):
    found = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>',
                      page.text, re.S)
    return json.loads(found.group(1))


def test_the_version_page_draws_traffic_quality_and_drift(admin_page, as_user, run_workers):
    rows = [[7.9, 4.4, 6.9, 2.5]] * 30 + [SETOSA] * 10  # most far off the training split
    posted = as_user("alice").post("/api/v1/inputs", json=[
        {"model": "iris", "features": row} for row in rows])
    assert posted.status_code == 201
    run_workers()
    page = admin_page.get("/ui/models/iris/1?window=24h")
    assert page.status_code == 200
    data = chart_data(page)
    assert data["series"]["predictions"][-1] == 40
    assert data["series"]["latency_ms"][-1] is not None
    drifted = [chart for chart in data["drift"] if chart["drifted"]]
    assert drifted and data["drift"][0]["drifted"]  # drifted features first
    assert 'class="feature drifted"' in page.text
    overview = admin_page.get("/ui/models")
    assert re.search(r'data-model="iris" data-version="1">.*?40</td>', overview.text, re.S)
    assert 'class="badge drifted"' in overview.text


def test_thresholds_are_saved_through_the_models_validation(admin_page, db):
    page = admin_page.get("/ui/models/iris/1")
    saved = admin_page.post("/ui/models/iris/1/thresholds", data={
        "csrf_token": csrf_of(page), "drift_threshold": "0.3", "review_threshold": "0.8"})
    assert saved.status_code == 302
    iris = db.models.find_one({"name": "iris", "version": 1})
    assert (iris["drift_threshold"], iris["review_threshold"]) == (0.3, 0.8)
    refused = admin_page.post("/ui/models/iris/1/thresholds", data={
        "csrf_token": csrf_of(page), "drift_threshold": "-1", "review_threshold": ""})
    assert refused.status_code == 400
    assert db.models.find_one({"name": "iris", "version": 1})["drift_threshold"] == 0.3


def test_a_label_given_in_the_review_queue_is_feedback(admin_page, as_user, db, run_workers):
    db.models.update_one({"name": "iris", "version": 1}, {"$set": {"review_threshold": 0.99}})
    posted = as_user("alice").post("/api/v1/inputs", json=[
        {"model": "iris", "features": BETWEEN}, {"model": "iris", "features": SETOSA}])
    run_workers()
    unsure = posted.json["_items"][0]["prediction"]
    queue = admin_page.get("/ui/review")
    assert queue.status_code == 200 and f'id="review-{unsure}"' in queue.text
    model_answer = db.predictions.find_one({"review": "pending"})["result"]["label"]
    right = "virginica" if model_answer != "virginica" else "versicolor"

    without_csrf = admin_page.post("/ui/review", data={"prediction": unsure, "actual": right})
    assert without_csrf.status_code == 400 and db.feedback.count_documents({}) == 0

    unknown = admin_page.post("/ui/review", data={
        "csrf_token": csrf_of(queue), "prediction": unsure, "actual": "tulip"})
    assert unknown.status_code == 422 and db.feedback.count_documents({}) == 0

    saved = admin_page.post("/ui/review", data={
        "csrf_token": csrf_of(queue), "prediction": unsure, "actual": right})
    assert saved.status_code == 302
    assert f'id="review-{unsure}"' not in admin_page.get("/ui/review").text
    prediction = as_user("alice").get(f"/api/v1/predictions/{unsure}").json
    assert (prediction["actual"], prediction["review"], prediction["reviewed_by"]) == \
        (right, "done", "admin")
    iris = db.models.find_one({"name": "iris", "version": 1})
    figures = as_user("admin").get(f"/api/v1/models/{iris['_id']}/quality").json
    assert figures["labelled"] == 1 and figures["accuracy"] == 0.0


def test_each_role_gets_its_pages_and_no_form_that_writes_beyond_its_role(client, db):
    from service.tokens import create_token
    model = db.models.find_one({"name": "iris", "version": 1})
    version = f"/ui/models/iris/{model['version']}"
    reviewer, analyst = create_token(db, "reviewer", "rita"), create_token(db, "analyst", "ann")
    assert log_in(client, reviewer).location.endswith("/ui/review")
    assert client.get("/ui/review").status_code == 200
    refused = client.get("/ui/models")
    assert refused.status_code == 403 and "signed in as rita (reviewer)" in refused.text
    assert 'id="logout"' in refused.text  # a page, with the way out
    client.post("/ui/logout", data={"csrf_token": csrf_of(client.get("/ui/review"))})

    assert log_in(client, analyst).location.endswith("/ui/models")
    page = client.get(version)
    assert page.status_code == 200 and 'id="thresholds"' not in page.text
    assert client.get("/ui/review").status_code == 403
    saved = client.post(f"{version}/thresholds", data={"csrf_token": csrf_of(page),
                                                       "drift_threshold": "0.5"})
    assert saved.status_code == 403
    assert db.models.find_one({"_id": model["_id"]}).get("drift_threshold") is None


def test_a_client_token_cannot_open_the_pages(client, tokens):
    refused = log_in(client, tokens["alice"])
    assert refused.status_code == 403 and "is a client token" in refused.text
