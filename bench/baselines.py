"""What the service is measured against, on the same machine in the same run:

- compute floor: the model alone, in process;
- write floor: the database alone, storing the same inputs and results;
- naive endpoint: a synchronous Flask /predict under gunicorn (bench/naive_app.py);
- RQ's bare per-job overhead: no-op jobs through the same queue and worker class."""
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pymongo
from bson import ObjectId
from pymongo import UpdateOne
from rq import Queue

from core.inference import compute
from devstack import services
from jobs.worker import PredictionWorker
from service.models.catalog import load_model

from .load import latency_summary, run_concurrently, session


def compute_floor(entry, rows, single_calls=200):
    """rows/s of one predict_proba (predict for regression) over all rows, and the
    median time of a single-row call: the reference for the latency target."""
    _, estimator = load_model(entry["name"], entry["version"])
    call = estimator.predict_proba if entry["task"] == "classification" else estimator.predict
    X = np.asarray(rows, dtype=np.float64)
    call(X[:10])  # first call warms caches
    started = time.perf_counter()
    call(X)
    bulk_seconds = time.perf_counter() - started
    singles = []
    for i in range(single_calls):
        started = time.perf_counter()
        call(X[i:i + 1])
        singles.append(time.perf_counter() - started)
    return {"rows_per_s": round(len(rows) / bulk_seconds),
            "single_row_ms": round(statistics.median(singles) * 1000, 2)}


def write_floor(mongo_uri, entry, rows):
    """pymongo alone on the same server: insert_many of the input documents the service
    stores, then one bulk_write setting each one's result; rows/s of the two together."""
    _, estimator = load_model(entry["name"], entry["version"])
    results = compute(entry, estimator, rows)
    stamp = datetime.now(timezone.utc)
    documents = [{"_id": ObjectId(), "model": entry["name"], "version": entry["version"],
                  "features": row, "prediction": ObjectId(), "status": "queued",
                  "owner": "bench", "_created": stamp, "_updated": stamp, "_etag": "x" * 40}
                 for row in rows]
    updates = [UpdateOne({"_id": doc["_id"]},
                         {"$set": {"status": "done", "result": result, "finished_at": stamp}})
               for doc, result in zip(documents, results)]
    client = pymongo.MongoClient(mongo_uri)
    collection = client.get_default_database()["bench_write_floor"]
    collection.drop()
    try:
        started = time.perf_counter()
        collection.insert_many(documents, ordered=False)
        inserted = time.perf_counter()
        collection.bulk_write(updates, ordered=False)
        finished = time.perf_counter()
    finally:
        collection.drop()
        client.close()
    return {"rows_per_s": round(len(rows) / (finished - started)),
            "insert_rows_per_s": round(len(rows) / (inserted - started)),
            "update_rows_per_s": round(len(rows) / (finished - inserted))}


class NaiveEndpoint:
    """gunicorn -w N bench.naive_app:app, started and stopped by the benchmark."""

    def __init__(self, workers, log_dir):
        self.port = services.free_port()
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        self.service = services.Service(
            f"naive-{workers}", [gunicorn, "--workers", str(workers), "--bind",
                                 f"127.0.0.1:{self.port}", "bench.naive_app:app"], log_dir,
            port=self.port)

    def __enter__(self):
        self.service.start()
        return self

    def warm_up(self, models):
        """gunicorn listens before its workers have loaded the models: wait for them."""
        url = f"http://127.0.0.1:{self.port}/predict"
        bodies = [{"model": entry["name"], "rows": [[0.0] * len(entry["features"])]}
                  for entry in models] * 20
        run_concurrently(lambda body: session().post(url, json=body, timeout=60)
                         .raise_for_status(), bodies, 8)

    def __exit__(self, *exc):
        self.service.stop()

    def measure(self, model, rows, rows_per_request, clients=8):
        url = f"http://127.0.0.1:{self.port}/predict"
        bodies = [{"model": model, "rows": rows[i:i + rows_per_request]}
                  for i in range(0, len(rows), rows_per_request)]

        def post(body):
            response = session().post(url, json=body, timeout=60)
            response.raise_for_status()
            return len(response.json())

        predicted, seconds, latencies = run_concurrently(post, bodies, clients)
        assert sum(predicted) == len(rows)
        return {"rows": len(rows), "rows_per_request": rows_per_request, "clients": clients,
                "rows_per_s": round(len(rows) / seconds), **latency_summary(latencies)}


def noop():
    return None


def rq_overhead(redis_connection, jobs=2000):
    """No-op jobs, enqueued in one pipeline, run by the service's worker class in burst
    mode: what RQ itself costs per job, with nothing to compute or write."""
    queue = Queue("bench-noop", connection=redis_connection)
    queue.empty()
    started = time.perf_counter()
    queue.enqueue_many([Queue.prepare_data("bench.baselines.noop") for _ in range(jobs)])
    enqueued = time.perf_counter()
    PredictionWorker([queue], connection=redis_connection).work(burst=True,
                                                                logging_level="WARNING")
    finished = time.perf_counter()
    queue.delete(delete_jobs=True)
    return {"jobs": jobs, "enqueue_jobs_per_s": round(jobs / (enqueued - started)),
            "jobs_per_s": round(jobs / (finished - enqueued)),
            "ms_per_job": round((finished - enqueued) / jobs * 1000, 3)}


def naive_measurements(models, rows_by_model, worker_counts, log_dir, one_row_requests):
    results = []
    for workers in worker_counts:
        with NaiveEndpoint(workers, log_dir) as endpoint:
            endpoint.warm_up(models)
            for entry in models:
                rows = rows_by_model[entry["name"]]
                for rows_per_request, sample in ((1, rows[:one_row_requests]), (100, rows)):
                    results.append({"model": entry["name"], "workers": workers,
                                    **endpoint.measure(entry["name"], sample, rows_per_request)})
    return results
