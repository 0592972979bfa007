"""What the benchmarks of the loop, the cache, the shadow and retention do over the public
API as an admin or a client: register a version, change a version's settings, submit
rows and wait for their answers, label them."""
import io
import json
import time

import joblib
import requests

IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


class Api:
    def __init__(self, url, token):
        self.base = f"{url}/api/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method, path, expected=(200,), **kwargs):
        kwargs.setdefault("timeout", 120)
        response = self.session.request(method, self.base + path, **kwargs)
        assert response.status_code in expected, \
            f"{method} {path}: {response.status_code} {response.text[:300]}"
        return response.json()

    def model(self, name, version):
        [document] = self.call("GET", "/models", params={
            "where": json.dumps({"name": name, "version": version})})["_items"]
        return document

    def upload(self, name, estimator, features, reference_rows=None):
        """POST /models (multipart): a new version of `name`; with `reference_rows`, those
        rows are its drift reference (else its first 1,000 rows served become it)."""
        artifact = io.BytesIO()
        joblib.dump(estimator, artifact)
        files = {"artifact": ("model.joblib", artifact.getvalue())}
        if reference_rows is not None:
            files["reference"] = ("reference.csv", ",".join(features) + "\n" + "\n".join(
                ",".join(map(str, row)) for row in reference_rows))
        return self.call("POST", "/models", expected=(201,), files=files,
                         data={"name": name, "features": json.dumps(features)})

    def patch_model(self, model_id, **fields):
        etag = self.call("GET", f"/models/{model_id}")["_etag"]
        return self.call("PATCH", f"/models/{model_id}", json=fields,
                         headers={"If-Match": etag})

    def submit(self, model, rows, version=None, per_request=1000, wait=60):
        """POST the rows in requests of `per_request`, each held until its rows are
        answered (`Prefer: wait`); the items, each `done`."""
        items = []
        for start in range(0, len(rows), per_request):
            body = [{"model": model, **({"version": version} if version else {}),
                     "features": row} for row in rows[start:start + per_request]]
            answer = self.call("POST", "/inputs", expected=(201,), json=body,
                               headers={"Prefer": f"wait={wait}"}, timeout=wait + 60)
            answer = answer.get("_items", [answer])
            assert all(item["status"] == "done" for item in answer), answer[:3]
            items += answer
        return items

    def label(self, predictions, actuals, per_request=1000):
        """POST /feedback: each prediction's actual class, `per_request` at a time."""
        pairs = [{"prediction": p, "actual": a} for p, a in zip(predictions, actuals)]
        for start in range(0, len(pairs), per_request):
            self.call("POST", "/feedback", expected=(201,), json=pairs[start:start + per_request])


def until(check, timeout=60, pause=0.5, what="the condition"):
    """Call check() until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not seen within {timeout} s")
        time.sleep(pause)
