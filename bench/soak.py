"""Sustained mixed load on loopback: `make soak` (5 minutes), or `--seconds 20` (CI).

Each client thread has its own token and loops without pause: single-row POSTs, 100-row
bulk POSTs, and polls of its own predictions with If-None-Match. Afterwards every
prediction must reach `done` and match its input one to one. Prints the rates held,
the error count, and whether anything was lost; writes bench/results/soak.json."""
import argparse
import json
import os
import random
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import pymongo
import requests

from devstack import services
from devstack.stack import Stack

RESULTS = Path(__file__).resolve().parent / "results"
ROW = [5.1, 3.5, 1.4, 0.2]


class Client(threading.Thread):
    def __init__(self, base, token, stop, seed):
        super().__init__(daemon=True)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.base, self.stop, self.random = base, stop, random.Random(seed)
        self.counts, self.rows, self.etags = Counter(), 0, {}

    def call(self, kind, method, path, **kwargs):
        try:
            response = self.session.request(method, self.base + path, timeout=30, **kwargs)
        except requests.RequestException:
            self.counts[f"{kind} error"] += 1
            return None
        ok = response.status_code in (200, 201, 304)
        self.counts[f"{kind} {'ok' if ok else 'error'}"] += 1
        return response if ok else None

    def run(self):
        while not self.stop.is_set():
            choice = self.random.random()
            if choice < 0.5:
                response = self.call("post1", "POST", "/inputs",
                                     json={"model": "iris", "features": ROW})
                if response is not None:
                    self.rows += 1
                    self.etags[response.json()["prediction"]] = None
            elif choice < 0.6:
                response = self.call("post100", "POST", "/inputs",
                                     json=[{"model": "iris", "features": ROW}] * 100)
                if response is not None:
                    self.rows += 100
            elif self.etags:
                prediction = self.random.choice(list(self.etags))
                headers = {"If-None-Match": self.etags[prediction]} if self.etags[prediction] else {}
                response = self.call("poll", "GET", f"/predictions/{prediction}", headers=headers)
                if response is not None and response.status_code == 200:
                    self.etags[prediction] = response.headers.get("ETag")


def settle(db, timeout):
    deadline = time.monotonic() + timeout
    while db.predictions.count_documents({"status": {"$in": ["queued", "running"]}}):
        if time.monotonic() > deadline:
            return False
        time.sleep(1)
    return True


def check_nothing_lost(db):
    inputs = {d["prediction"] for d in db.inputs.find({}, {"prediction": 1})}
    predictions = list(db.predictions.find({}, {"status": 1, "input": 1}))
    return {"inputs": len(inputs), "predictions": len(predictions),
            "done": sum(p["status"] == "done" for p in predictions),
            "one_to_one": inputs == {p["_id"] for p in predictions}
            and len({p["input"] for p in predictions}) == len(predictions)}


def soak(stack, seconds, clients):
    tokens = [stack.create_token("client", f"soak-{i}") for i in range(clients)]
    stop = threading.Event()
    threads = [Client(f"{stack.url}/api/v1", token, stop, seed) for seed, token in enumerate(tokens)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    counts = sum((t.counts for t in threads), Counter())
    rows = sum(t.rows for t in threads)
    db = pymongo.MongoClient(stack.mongo_uri).get_default_database()
    settled = settle(db, timeout=300)
    requests_total = sum(counts.values())
    return {
        "seconds": round(elapsed, 1), "clients": clients, "workers": len(stack.workers),
        "requests": requests_total, "requests_per_s": round(requests_total / elapsed, 1),
        "rows_accepted": rows, "rows_per_s": round(rows / elapsed, 1),
        "errors": sum(v for k, v in counts.items() if k.endswith("error")),
        "by_kind": dict(sorted(counts.items())), "settled": settled, **check_nothing_lost(db),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", "2")))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        stack = Stack(data_dir, port=services.free_port(), workers=args.workers).start()
        try:
            result = soak(stack, args.seconds, args.clients)
        finally:
            stack.stop()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    for key, value in result.items():
        print(f"{key:>16}: {value}")
    lost = not (result["settled"] and result["one_to_one"]
                and result["done"] == result["predictions"])
    raise SystemExit(1 if result["errors"] or lost else 0)


if __name__ == "__main__":
    main()
