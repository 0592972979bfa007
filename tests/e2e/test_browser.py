"""The docs page in a real browser (Debian's headless Chromium): authorize with a token,
POST an input from Swagger UI, see 201; screenshots of the docs and the RQ dashboard.
UPDATE_SCREENSHOTS=1 copies them to docs/screenshots/ for the README."""
import json
import os
import shutil

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait

from devstack.services import ROOT

from .conftest import Api

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def browser(tmp_path):
    os.environ["SE_OFFLINE"] = "true"  # never let Selenium Manager fetch a driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic",
                 "--window-size=1280,1000", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver, tmp_path, name):
    path = tmp_path / name
    assert driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        target = ROOT / "docs" / "screenshots"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target / name)


def click(wait, selector):
    element = wait.until(ready.element_to_be_clickable((By.CSS_SELECTOR, selector)))
    element.click()
    return element


def test_docs_page_authorizes_and_posts_an_input(stack, browser, tmp_path):
    token = stack.create_token("client", "browser-user")
    wait = WebDriverWait(browser, 30)
    browser.get(f"{stack.url}/api/v1/docs")
    wait.until(ready.text_to_be_present_in_element((By.CSS_SELECTOR, ".info .title"),
                                                   "Prediction service"))
    click(wait, "button.authorize")
    field = wait.until(ready.visibility_of_element_located(
        (By.CSS_SELECTOR, ".auth-container input")))
    field.send_keys(token)
    click(wait, ".auth-btn-wrapper button.authorize")
    click(wait, ".auth-btn-wrapper button.btn-done")

    click(wait, "#operations-default-post_inputs .opblock-summary")
    click(wait, "#operations-default-post_inputs button.try-out__btn")
    body = wait.until(ready.visibility_of_element_located(
        (By.CSS_SELECTOR, "#operations-default-post_inputs textarea.body-param__text")))
    body.send_keys(Keys.CONTROL, "a")  # React ignores clear(): select and delete instead
    body.send_keys(Keys.DELETE)
    body.send_keys(json.dumps({"model": "iris", "features": [5.1, 3.5, 1.4, 0.2],
                               "ref": "from-the-docs-page"}))
    click(wait, "#operations-default-post_inputs button.execute")
    wait.until(ready.text_to_be_present_in_element(
        (By.CSS_SELECTOR, "#operations-default-post_inputs .live-responses-table "
                          ".response-col_status:not(.col_header)"), "201"))
    browser.execute_script("document.querySelector('#operations-default-post_inputs "
                           ".live-responses-table').scrollIntoView({block: 'center'})")
    screenshot(browser, tmp_path, "docs.png")

    stored = Api(stack.url, token).get("/inputs").json()["_items"]
    assert [item["ref"] for item in stored] == ["from-the-docs-page"]


def test_rq_dashboard_shows_the_queue_and_workers(stack, admin, browser, tmp_path):
    admin.post("/inputs", json=[{"model": "iris", "features": [5.1, 3.5, 1.4, 0.2]}] * 20)
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {
        "Authorization": admin.session.headers["Authorization"]}})
    browser.get(f"{stack.url}/rq/")
    wait = WebDriverWait(browser, 30)
    wait.until(ready.text_to_be_present_in_element((By.TAG_NAME, "body"), "predictions"))
    wait.until(ready.text_to_be_present_in_element((By.TAG_NAME, "body"), "Workers"))
    screenshot(browser, tmp_path, "rq-dashboard.png")


def upload_iris(admin, reference=True):
    """An iris classifier of the test's own, with the training rows as its reference."""
    import io
    import uuid

    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    iris = load_iris()
    model = LogisticRegression(max_iter=300).fit(iris.data, iris.target_names[iris.target])
    artifact = io.BytesIO()
    joblib.dump(model, artifact)
    files = {"artifact": ("model.joblib", artifact.getvalue())}
    if reference:
        files["reference"] = ("reference.csv", "sl,sw,pl,pw\n" + "\n".join(
            ",".join(map(str, row)) for row in iris.data))
    name = f"pages-iris-{uuid.uuid4().hex[:8]}"
    response = admin.session.post(f"{admin.base}/models", timeout=60, files=files, data={
        "name": name, "features": '["sl", "sw", "pl", "pw"]'})
    assert response.status_code == 201, response.text
    return response.json(), iris


def log_in(browser, wait, url, token):
    browser.get(f"{url}/ui/login")
    browser.find_element(By.ID, "token").send_keys(token)
    click(wait, "#login")
    # the login's answer (the session cookie, or the refusal) is in before the next page:
    # a page asked for sooner would be sent back to the login
    wait.until(lambda driver: "/ui/login" not in driver.current_url
               or driver.find_elements(By.ID, "refusal"))


def test_pages_show_drift_and_take_a_review(stack, admin, browser, tmp_path):
    from .test_faults import wait_for
    model, iris = upload_iris(admin)
    current = admin.get(f"/models/{model['_id']}").json()
    assert admin.patch(f"/models/{model['_id']}", json={"review_threshold": 0.9},
                       headers={"If-Match": current["_etag"]}).status_code == 200
    rows = [[sl, sw, pl + 2.5, pw] for sl, sw, pl, pw in iris.data[50:150].tolist()]  # pl drifts
    posted = admin.post("/inputs", json=[{"model": model["name"], "features": row}
                                         for row in rows])
    assert posted.status_code == 201, posted.text
    ids = [item["prediction"] for item in posted.json()["_items"]]
    wait_for(lambda: all(admin.get(f"/predictions/{i}").json()["status"] == "done"
                         for i in ids[-5:]), timeout=60)
    where = '{"review": "pending", "model": "%s"}' % model["name"]
    pending = admin.get("/predictions", params={"where": where, "max_results": 100}).json()
    assert pending["_items"], "no answer below the review threshold"
    wait = WebDriverWait(browser, 30)

    log_in(browser, wait, stack.url, stack.create_token("client", "pages-client"))
    assert "is a client token" in wait.until(ready.visibility_of_element_located(
        (By.ID, "refusal"))).text
    log_in(browser, wait, stack.url, "wrong-token")
    assert "unknown token" in browser.find_element(By.ID, "refusal").text
    log_in(browser, wait, stack.url, stack.create_token("admin", "pages-admin"))
    wait.until(ready.presence_of_element_located((By.ID, "models")))
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-model="{model["name"]}"]')
    assert "pl" in row.text and "100" in row.text
    screenshot(browser, tmp_path, "ui-models.png")

    browser.get(f"{stack.url}/ui/models/{model['name']}/1?window=24h")
    marked = wait.until(ready.presence_of_element_located(
        (By.CSS_SELECTOR, 'figure.feature.drifted[data-feature="pl"]')))
    assert "drifted" in marked.text
    points = browser.execute_script("""
        return Array.from(document.querySelectorAll('canvas')).map(canvas => {
          const chart = Chart.getChart(canvas);
          return [canvas.id, chart ? chart.data.datasets.map(d => d.data.filter(
            v => v !== null).length) : null];
        });""")
    drawn = dict(points)
    assert drawn["chart-traffic"] == [24] and drawn["chart-quality"][0] == 0  # no labels yet
    drift_charts = [counts for name, counts in drawn.items() if name.startswith("chart-drift")]
    assert len(drift_charts) == 5 and all(counts == [10, 10] for counts in drift_charts[:4])
    browser.set_window_size(1280, 1900)
    screenshot(browser, tmp_path, "ui-version.png")
    browser.set_window_size(390, 844)  # a phone: one column, nothing wider than the screen
    for page in ("/ui/models", f"/ui/models/{model['name']}/1", "/ui/review"):
        browser.get(stack.url + page)
        wait.until(ready.presence_of_element_located((By.TAG_NAME, "h1")))
        assert browser.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth"), page
    screenshot(browser, tmp_path, "ui-review-phone.png")
    browser.set_window_size(1280, 1000)

    target = pending["_items"][0]
    browser.get(f"{stack.url}/ui/review")
    article = wait.until(ready.presence_of_element_located(
        (By.ID, f"review-{target['_id']}")))
    screenshot(browser, tmp_path, "ui-review.png")
    answer = target["result"]["label"]
    right = "virginica" if answer != "virginica" else "versicolor"
    from selenium.webdriver.support.ui import Select
    Select(article.find_element(By.NAME, "actual")).select_by_value(right)
    article.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(ready.text_to_be_present_in_element((By.CSS_SELECTOR, ".flash.ok"), "labelled"))
    assert not browser.find_elements(By.ID, f"review-{target['_id']}")
    reviewed = admin.get(f"/predictions/{target['_id']}").json()
    assert (reviewed["actual"], reviewed["review"], reviewed["reviewed_by"]) == \
        (right, "done", "pages-admin")
    quality = admin.get(f"/models/{model['_id']}/quality").json()
    assert quality["labelled"] == 1 and quality["accuracy"] == 0.0

    click(wait, "#logout")
    browser.get(f"{stack.url}/ui/models")
    wait.until(ready.presence_of_element_located((By.ID, "token")))  # back at the login form


def test_a_version_without_reference_or_rows_says_no_data_yet(stack, admin, browser):
    model, _ = upload_iris(admin, reference=False)
    wait = WebDriverWait(browser, 30)
    log_in(browser, wait, stack.url, stack.create_token("admin", "pages-admin-2"))
    browser.get(f"{stack.url}/ui/models/{model['name']}/1")
    assert "No data yet" in wait.until(ready.presence_of_element_located(
        (By.ID, "no-traffic"))).text
    assert "No data yet" in browser.find_element(By.ID, "no-reference").text
    assert browser.find_elements(By.TAG_NAME, "canvas") == []


PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": True}


def fits_a_phone(browser, wait, url):
    """The page at `url`, on a 390 px phone (Chromium's device emulation): laid out at
    390 px (a page wider than the screen would make the phone zoom out) with nothing
    wider than the screen."""
    browser.get(url)
    wait.until(ready.presence_of_element_located((By.TAG_NAME, "h1")))
    return browser.execute_script(
        "return [window.innerWidth, document.documentElement.scrollWidth]")


def shadowed_pair(admin):
    """A model of two versions, v1 with v2 as its shadow, on labelled rows."""
    import io
    import uuid

    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    iris = load_iris()
    names = iris.target_names[iris.target]
    name = f"pair-{uuid.uuid4().hex[:8]}"
    wrong = {"setosa": "versicolor", "versicolor": "virginica", "virginica": "setosa"}
    ids = []
    for labels in ([wrong[n] for n in names], names):
        artifact = io.BytesIO()
        joblib.dump(LogisticRegression(max_iter=300).fit(iris.data, labels), artifact)
        answer = admin.session.post(f"{admin.base}/models", timeout=60,
                                    files={"artifact": ("m.joblib", artifact.getvalue())},
                                    data={"name": name, "features": '["sl", "sw", "pl", "pw"]'})
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["_id"])
    assert admin.patch(f"/models/{ids[0]}", json={"shadow": 2}).status_code == 200
    posted = admin.post("/inputs", json=[{"model": name, "version": 1, "features": row}
                                         for row in iris.data[::3].tolist()],
                        headers={"Prefer": "wait=60"}, timeout=90).json()["_items"]
    assert all(item["status"] == "done" for item in posted)
    assert admin.post("/feedback", json=[
        {"prediction": item["prediction"], "actual": actual}
        for item, actual in zip(posted, names[::3].tolist())]).status_code == 201
    return name, ids


def test_each_role_sees_its_pages_and_every_page_fits_a_phone(stack, admin, browser):
    name, ids = shadowed_pair(admin)
    wait = WebDriverWait(browser, 30)
    log_in(browser, wait, stack.url, stack.create_token("reviewer", "pages-reviewer"))
    assert browser.current_url.endswith("/ui/review")
    assert not browser.find_elements(By.LINK_TEXT, "Models")
    browser.get(f"{stack.url}/ui/models")
    assert "signed in as pages-reviewer (reviewer)" in wait.until(
        ready.presence_of_element_located((By.ID, "refusal"))).text
    click(wait, "#logout")  # the refusal is a page, with the way out

    log_in(browser, wait, stack.url, stack.create_token("analyst", "pages-analyst"))
    wait.until(ready.presence_of_element_located((By.ID, "models")))
    browser.get(f"{stack.url}/ui/models/{name}/1")
    wait.until(ready.presence_of_element_located((By.ID, "paired")))
    assert not browser.find_elements(By.ID, "thresholds")  # an analyst writes nothing
    assert not browser.find_elements(By.ID, "promote")
    browser.get(f"{stack.url}/ui/review")
    assert "signed in as pages-analyst (analyst)" in wait.until(
        ready.presence_of_element_located((By.ID, "refusal"))).text
    click(wait, "#logout")

    log_in(browser, wait, stack.url, stack.create_token("admin", "pages-promoter"))
    browser.get(f"{stack.url}/ui/models/{name}/1")
    paired = wait.until(ready.presence_of_element_located((By.ID, "paired")))
    assert "v2 (shadow)" in paired.text and browser.find_element(By.ID, "p-value").text
    drawn = browser.execute_script(
        "return Chart.getChart(document.getElementById('chart-comparison'))"
        ".data.datasets.map(d => d.data.filter(v => v !== null).length)")
    assert drawn == [1, 1]  # this hour, both versions
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    try:
        for page in ("/ui/models", f"/ui/models/{name}/1", "/ui/review", "/ui/logout"):
            width, content = fits_a_phone(browser, wait, stack.url + page)
            assert width == 390 and content <= 390, (page, width, content)
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    browser.get(f"{stack.url}/ui/models/{name}/1")
    click(wait, "#promote button[type=submit]")  # the form carries its CSRF token
    wait.until(ready.text_to_be_present_in_element((By.CSS_SELECTOR, ".flash.ok"),
                                                   "production"))
    assert admin.get(f"/models/{ids[1]}").json()["aliases"] == ["production"]


def test_the_login_page_fits_a_phone(stack, browser):
    wait = WebDriverWait(browser, 30)
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    browser.get(f"{stack.url}/ui/login")
    wait.until(ready.presence_of_element_located((By.ID, "token")))
    width, content = browser.execute_script(
        "return [window.innerWidth, document.documentElement.scrollWidth]")
    assert width == 390 and content <= 390
