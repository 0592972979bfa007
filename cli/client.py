"""A small Python client for the API, used by the CLI and importable by scripts:

    from cli.client import Client
    api = Client("http://127.0.0.1:5000", token)
    batch = api.submit_file("rows.csv", "iris")     # a file of rows: one batch
    api.wait_batch(batch["_id"])
    api.batch_results(batch["_id"], "results.csv")

    ids = api.submit("iris", [[5.1, 3.5, 1.4, 0.2]])  # rows in memory: bulk inputs
    api.wait(ids)
    rows = api.export(ids)
"""
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

import requests

from core.documents import CANCELLED, DONE, UNFINISHED
from core.types import Features

from .endpoints import StrPath

BULK = 1000        # inputs per POST, the API's limit
SUBMIT_THREADS = 4  # POSTs at a time
IDS_PER_QUERY = 100
UPLOAD_SECONDS = 3600  # a file's rows are stored before POST /batches answers


def file_sha256(path: StrPath) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ApiError(Exception):
    def __init__(self, response: requests.Response) -> None:
        self.status = response.status_code
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        self.body = body
        super().__init__(f"HTTP {response.status_code}: {body}")


class Client:
    def __init__(self, url: str, token: str, timeout: float = 60) -> None:
        self.base = url.rstrip("/") + "/api/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout

    def request(self, method: str, path: str, timeout: float | tuple[float, float] | None = None,
                **kwargs: Any) -> Any:
        response = self.session.request(method, self.base + path,
                                        timeout=timeout or self.timeout, **kwargs)
        if response.status_code >= 400:
            raise ApiError(response)
        return response.json() if response.content else None

    def submit(self, model: str, rows: Sequence[Features | dict[str, Any]],
               refs: Sequence[str | None] | None = None, version: int | None = None,
               progress: Callable[[int], object] | None = None) -> list[str]:
        """POST rows (lists or {name: value} dicts) in bulk requests, SUBMIT_THREADS at a
        time (the API has several processes); returns the prediction ids in row order."""
        def post(start: int) -> list[str]:
            batch: list[dict[str, Any]] = []
            for offset, features in enumerate(rows[start:start + BULK]):
                item: dict[str, Any] = {"model": model, "features": features}
                if version is not None:
                    item["version"] = version
                if refs is not None and refs[start + offset] not in (None, ""):
                    item["ref"] = refs[start + offset]
                batch.append(item)
            body = self.request("POST", "/inputs", json=batch)
            items = body.get("_items", [body])
            if progress:
                progress(len(items))
            return [item["prediction"] for item in items]

        with ThreadPoolExecutor(SUBMIT_THREADS) as pool:
            return [pid for ids in pool.map(post, range(0, len(rows), BULK)) for pid in ids]

    def submit_file(self, path: StrPath, model: str, version: int | None = None, alias: str | None = None,
                    callback_url: str | None = None) -> dict[str, Any]:
        """Upload a CSV file as one batch (streamed, not read into memory); returns the
        batch document. Its Idempotency-Key is made from the file's sha256 and the
        parameters, so submitting the same file again within 24 h (after a crash, a
        timeout) answers with the same batch and stores nothing."""
        params = {k: v for k, v in {"model": model, "version": version, "alias": alias,
                                    "callback_url": callback_url}.items() if v is not None}
        key = "submit-" + hashlib.sha256(
            file_sha256(path).encode() + json.dumps(params, sort_keys=True).encode()).hexdigest()
        with open(path, "rb") as f:  # stored before the answer: allow UPLOAD_SECONDS for it
            return self.request("POST", "/batches", data=f, timeout=(self.timeout, UPLOAD_SECONDS),
                                params=params, headers={"Content-Type": "text/csv",
                                                        "Idempotency-Key": key})

    def batch(self, batch_id: str, wait: float | None = None) -> dict[str, Any]:
        """The batch document; with wait (seconds), held until it is finished or that
        much time has passed (long polling)."""
        headers = {"Prefer": f"wait={wait}"} if wait else {}
        return self.request("GET", f"/batches/{batch_id}", headers=headers)

    def wait_batch(self, batch_id: str, timeout: float | None = None,
                   progress: Callable[[dict[str, Any]], object] | None = None,
                   round_seconds: float = 1) -> dict[str, Any]:
        """Until the batch is finished: one long-polling request per round, whatever
        its number of rows; progress(batch) after each. Returns the batch."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            batch = self.batch(batch_id, wait=round_seconds)
            if progress:
                progress(batch)
            if batch["status"] in (DONE, CANCELLED):
                return batch
            if deadline is not None and time.monotonic() > deadline:
                left = batch["total"] - batch["done"] - batch["failed"] - batch["cancelled"]
                raise TimeoutError(f"{left} rows of batch {batch_id} still pending")

    def batch_results(self, batch_id: str, path: StrPath, format: str = "csv") -> None:
        """Write the batch's results (CSV, or JSON lines) to path, as they stream in."""
        response = self.session.get(f"{self.base}/batches/{batch_id}/results",
                                    params={"format": format}, stream=True,
                                    timeout=self.timeout)
        if response.status_code >= 400:
            raise ApiError(response)
        with response, open(path, "wb") as out:
            for chunk in response.iter_content(1 << 16):
                out.write(chunk)

    def predictions(self, ids: Sequence[str] | None = None,
                    where: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """The client's predictions: all of them, those matching `where`, or those in ids."""
        if ids is None:
            yield from self.pages("/predictions", where or {})
            return
        for start in range(0, len(ids), IDS_PER_QUERY):
            chunk = ids[start:start + IDS_PER_QUERY]
            yield from self.pages("/predictions", {"_id": {"$in": chunk}})

    def pages(self, path: str, where: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        page = 1
        while True:
            body = self.request("GET", path, params={
                "where": json.dumps(where), "max_results": 1000, "page": page})
            yield from body["_items"]
            if page * 1000 >= body["_meta"]["total"]:
                return
            page += 1

    def pending(self, ids: Sequence[str] | None = None) -> int:
        """How many of the client's predictions are queued or running: of all of them, or
        of those from the first to the last of ids (ids are ObjectIds, which grow with
        time, so this is one question whatever the number of ids: it also counts any
        other prediction the client made meanwhile)."""
        unfinished: dict[str, Any] = {"status": {"$in": list(UNFINISHED)}}
        if ids:
            unfinished["_id"] = {"$gte": min(ids), "$lte": max(ids)}
        return self.request("GET", "/predictions", params={
            "where": json.dumps(unfinished), "max_results": 1})["_meta"]["total"]

    def wait(self, ids: Sequence[str] | None = None, interval: float = 0.5, timeout: float | None = None,
             progress: Callable[[int], object] | None = None) -> None:
        """Until no prediction (from the first to the last of ids, or of the client) is
        queued or running: one request per round."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = self.pending(ids)
            if progress:
                progress(left)
            if left == 0:
                return
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{left} predictions still pending")
            time.sleep(interval)

    def register_model(self, path: StrPath, name: str, alias: str | None = None,
                       features: Iterable[str] | None = None,
                       reference: StrPath | None = None) -> dict[str, Any]:
        """Upload a model file (an admin token's right), and perhaps a CSV of reference
        rows for drift: the new version's document."""
        form = {"name": name}
        if alias:
            form["alias"] = alias
        if features:
            form["features"] = json.dumps(list(features))
        with open(path, "rb") as f:
            files: dict[str, tuple[str, IO[bytes]]] = {"artifact": (os.path.basename(path), f)}
            if reference:
                files["reference"] = (os.path.basename(reference), open(reference, "rb"))
            try:
                return self.request("POST", "/models", data=form, files=files)
            finally:
                if reference:
                    files["reference"][1].close()

    def model_document(self, name: str, version: int | None = None) -> dict[str, Any]:
        """The version of `name` (its latest when no version is given)."""
        where = {"name": name, **({"version": int(version)} if version else {})}
        found = self.request("GET", "/models", params={
            "where": json.dumps(where), "sort": "-version", "max_results": 1})["_items"]
        if not found:
            raise LookupError(f"no model {name!r}" + (f" version {version}" if version else ""))
        return found[0]

    def model_figures(self, name: str, version: int | None = None, what: str = "quality",
                      window: str = "24h") -> dict[str, Any]:
        """GET /models/{id}/quality or /drift (an admin token's right)."""
        model = self.model_document(name, version)
        return self.request("GET", f"/models/{model['_id']}/{what}", params={"window": window})

    def retrain(self, name: str, version: int | None = None, window: str = "all",
                holdout: float = 0.2) -> dict[str, Any]:
        """POST /models/{id}/retrain: the training document, queued (admin token)."""
        model = self.model_document(name, version)
        return self.request("POST", f"/models/{model['_id']}/retrain",
                            json={"window": window, "holdout": holdout})

    def training(self, training_id: str, wait: int | None = None) -> dict[str, Any]:
        """The training document; with wait (seconds), held until it is finished."""
        headers = {"Prefer": f"wait={wait}"} if wait else {}
        return self.request("GET", f"/trainings/{training_id}", headers=headers)

    def wait_training(self, training_id: str, timeout: float | None = None,
                      progress: Callable[[dict[str, Any]], object] | None = None
                      ) -> dict[str, Any]:
        """Until the training is done or failed, long-polling 5 s at a time."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            training = self.training(training_id, wait=5)
            if progress:
                progress(training)
            if training["status"] in ("done", "failed"):
                return training
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"training {training_id} is still {training['status']}")

    def compare(self, name: str, version: int, other: int,
                window: str = "24h") -> dict[str, Any]:
        """GET /models/{id}/compare?with=...: two versions on the rows both answered."""
        this, that = self.model_document(name, version), self.model_document(name, other)
        return self.request("GET", f"/models/{this['_id']}/compare",
                            params={"with": that["_id"], "window": window})

    def patch_model(self, name: str, version: int, changes: dict[str, Any]) -> dict[str, Any]:
        """PATCH /models/{id} (admin token): a shadow, cache_seconds, thresholds, aliases."""
        model = self.model_document(name, version)
        self.request("PATCH", f"/models/{model['_id']}", json=changes)
        return self.model_document(name, version)

    def batch_feedback(self, batch_id: str, path: StrPath) -> dict[str, Any]:
        """Label a batch's rows from a CSV file of `ref,actual`: {"labelled": n}."""
        with open(path, "rb") as f:
            return self.request("POST", f"/batches/{batch_id}/feedback", data=f,
                                headers={"Content-Type": "text/csv"})

    def models(self) -> list[dict[str, Any]]:
        """Every registered model version's document."""
        return list(self.pages("/models", {}))

    def feature_names(self) -> dict[tuple[str, int], list[str]]:
        """{(model, version): [feature names]} from the registry."""
        return {(m["name"], m["version"]): m["features"]
                for m in self.pages("/models", {})}

    def export(self, ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Predictions joined to their inputs, one flat dict per prediction."""
        names = self.feature_names()
        predictions = list(self.predictions(ids))
        inputs: dict[str, dict[str, Any]] = {}
        input_ids = [p["input"] for p in predictions]
        for start in range(0, len(input_ids), IDS_PER_QUERY):
            for item in self.pages("/inputs", {"_id": {"$in": input_ids[start:start + IDS_PER_QUERY]}}):
                inputs[item["_id"]] = item
        return [flatten(p, inputs.get(p["input"], {}), names.get((p["model"], p["version"]), []))
                for p in predictions]


def flatten(prediction: Mapping[str, Any], source: Mapping[str, Any],
            feature_names: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"prediction": prediction["_id"], "input": prediction["input"],
           "ref": source.get("ref", ""), "model": prediction["model"],
           "version": prediction["version"], "status": prediction["status"]}
    row.update(zip(feature_names, source.get("features", [])))
    result = prediction.get("result") or {}
    if "label" in result:
        row["label"] = result["label"]
        for name, probability in result["probabilities"].items():
            row[f"p_{name}"] = probability
    if "value" in result:
        row["value"] = result["value"]
    if prediction.get("error"):
        row["error"] = f"{prediction['error']['type']}: {prediction['error']['message']}"
    return row
