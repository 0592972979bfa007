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
