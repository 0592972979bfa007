"""`python -m bench.mixed`: single rows beside a file and a flood.

Starts its own stack (2 RQ workers) and, at once: one client uploads a CSV of `--file-rows`
iris rows (default 100,000) as one batch; another POSTs `--bulk-posts` (20) bulk
requests of 1,000 rows, one after another; a third (a process of its own) POSTs one row every `--every`
seconds (2) and long-polls it to `done`. Reports the single rows' submit -> done (p50,
p99, max; and of its POST alone) and the file's rows/s, until the file's and the bulk rows are all done.
`--interactive-workers` (default 1, as `make run`) adds workers that take only the
small submissions.
`INTERACTIVE_MAX_ROWS=0` in the environment puts every submission in one queue (as
before interactive rows went first): run both to compare. `--probe-database` also times,
every 50 ms, a one-document insert, find and update straight to the database (pymongo,
collections of their own in the service's database), to see what the database alone
makes a single row wait. `--model-ms-per-row N` runs everything on `iris_slow`
(bench/slow_model.py: iris, after N ms of CPU per row), a model slower than a file can
be drained; `--alone` uploads the file alone (no single rows, no flood), for its rows/s
side by side. `--trace` also prints the stages of the slowest single rows, from their
prediction documents (`_created`, `started_at`, `finished_at`) against the client's
clock: when each was posted, stored, started, finished, answered and seen done.
`--runs N` repeats the whole scenario N times, each on a new stack: the single rows'
figures are those of all the runs' rows together (a p99 of one run's 15 rows is its
worst), the file's rows/s the median run's, and `runs` has each run's own.
`cores_busy`: the CPU each part of the stack (API, database, Redis, workers) used while
the file and the bulk rows were under way, in cores (1.0: one core all along; the
median run's with `--runs`)."""
import argparse
import json
import multiprocessing
import os
import statistics
import tempfile
import threading
import time
from datetime import timezone
from pathlib import Path

import pymongo
import requests
from bson import ObjectId

from cli.client import Client
from devstack import services
from devstack.stack import Stack

from .batches import ROWS, write_csv
from .load import latency_summary
from .machine import by_part, stack_meter
from .slow_model import NAME as SLOW_MODEL
from .slow_model import artifacts_with_slow_model

SPAWN = multiprocessing.get_context("spawn")


def singles(url, token, every, stop, model):
    """Submit -> done of one row every `every` s, until `stop` is set; and, per row, its
    prediction id and the wall-clock times of its POST, its answer and its `done`."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    timings, posts, clock = [], [], []
    while not stop.is_set():
        posted_at = time.time()
        started = time.perf_counter()
        posted = session.post(f"{url}/api/v1/inputs", timeout=60,
                              json={"model": model, "features": ROWS[len(timings) % 150]})
        posts.append((time.perf_counter() - started) * 1000)
        answered_at = time.time()
        prediction = posted.json()["prediction"]
        while session.get(f"{url}/api/v1/predictions/{prediction}", timeout=60,
                          headers={"Prefer": "wait=10"}).json()["status"] not in ("done",
                                                                                  "failed"):
            pass
        timings.append((time.perf_counter() - started) * 1000)
        clock.append((prediction, posted_at, answered_at, time.time()))
        stop.wait(max(0.0, every - timings[-1] / 1000))
    return timings, posts, clock


def seconds(stamp):
    return stamp.replace(tzinfo=timezone.utc).timestamp() if stamp else None


def slowest_stages(mongo_uri, clock, count=4):
    """The `count` slowest single rows: each one's second into the run, and the ms from
    its POST to each stage (stored, started, finished: the worker's clock; answered and
    seen done: the client's)."""
    database = pymongo.MongoClient(mongo_uri).get_default_database()
    rows = []
    for prediction, posted_at, answered_at, seen_at in clock:
        document = database.predictions.find_one({"_id": ObjectId(prediction)})
        stages = {"stored": seconds(document.get("_created")),
                  "started": seconds(document.get("started_at")),
                  "finished": seconds(document.get("finished_at")),
                  "answered": answered_at, "seen_done": seen_at}
        rows.append({"second": round(posted_at - clock[0][1], 1),
                     **{name: round((at - posted_at) * 1000) for name, at in stages.items()
                        if at is not None}})
    return sorted(rows, key=lambda row: row["seen_done"])[-count:]


def probe(mongo_uri, stop):
    """Until `stop`: ms of a one-document insert, find and update, every 50 ms."""
    database = pymongo.MongoClient(mongo_uri).get_default_database()
    timings = []
    while not stop.wait(0.05):
        taken = []
        for call in (lambda: database.bench_probe.insert_one({"at": time.time()}),
                     lambda: database.bench_probe.find_one({}),
                     lambda: database.bench_probe_counts.update_one(
                         {"_id": 1}, {"$inc": {"n": 1}}, upsert=True)):
            started = time.perf_counter()
            call()
            taken.append((time.perf_counter() - started) * 1000)
        timings.append(taken)
    return timings


def put_value(results, target, *args):
    results.put("started")
    results.put(target(*args))


def in_process(target, *args):
    """Starts target(*args) in a process of its own (the single rows' client is a program
    of its own, as a real one is, not a thread sharing this one's interpreter lock with
    the file and bulk clients); returns, once it has started, a function that waits for
    its value."""
    results = SPAWN.Queue()
    process = SPAWN.Process(target=put_value, args=(results, target, *args))
    process.start()
    assert results.get(timeout=60) == "started"

    def value():
        got = results.get()
        process.join()
        return got
    return value


def milliseconds(timings_ms):
    """latency_summary (p50, p95, p99, max) of timings already in ms."""
    return latency_summary([ms / 1000 for ms in timings_ms])


def run_once(args, model, env, tmp):
    """One run of the scenario on a stack of its own: the single rows' timings and
    clock, the file's seconds, the database probes."""
    stack = Stack(tmp / "stack", port=services.free_port(), workers=2,
                  interactive_workers=args.interactive_workers, extra_env=env).start()
    try:
        path = tmp / "file.csv"
        write_csv(path, args.file_rows)
        files = Client(stack.url, stack.create_token("client", "file"))
        bulk = Client(stack.url, stack.create_token("client", "bulk"))
        stop, file_seconds = SPAWN.Event(), []
        run = {"timings": [], "posts": [], "probes": [], "slowest": []}
        if not args.alone:
            single = in_process(singles, stack.url, stack.create_token("client", "single"),
                                args.every, stop, model)
        if args.probe_database:
            prober = in_process(probe, stack.mongo_uri, stop)
        with stack_meter(stack) as cpu:
            started = time.perf_counter()

            def upload():
                batch = files.submit_file(path, model)
                files.wait_batch(batch["_id"], timeout=3600)
                file_seconds.append(time.perf_counter() - started)
            uploader = threading.Thread(target=upload)
            uploader.start()
            ids = []
            for n in range(0 if args.alone else args.bulk_posts):
                ids += bulk.submit(model, [ROWS[(n + i) % 150] for i in range(1000)])
            bulk.wait(ids, interval=1)
            uploader.join()
            busy_seconds = time.perf_counter() - started
        stop.set()
        run["cores_busy"] = cores_busy(cpu.used, busy_seconds)
        if not args.alone:
            run["timings"], run["posts"], clock = single()
            if args.trace:
                run["slowest"] = slowest_stages(stack.mongo_uri, clock)
        if args.probe_database:
            run["probes"] = prober()
    finally:
        stack.stop()
    run["file_rows_per_s"] = round(args.file_rows / file_seconds[0])
    return run


def cores_busy(used, seconds):
    """stack_meter's seconds over the run's `seconds`, by part of the stack: 1.0 is one
    core busy all along."""
    return {name: round(cpu / seconds, 2) for name, cpu in by_part(used).items()}


def each_run(run):
    """One run's own figures, when there are several."""
    figures = {"file_rows_per_s": run["file_rows_per_s"], "cores_busy": run["cores_busy"]}
    if run["timings"]:
        figures.update({"singles": len(run["timings"]), **milliseconds(run["timings"])})
    return figures


def main():
    parser = argparse.ArgumentParser(prog="python -m bench.mixed")
    parser.add_argument("--file-rows", type=int, default=100_000)
    parser.add_argument("--bulk-posts", type=int, default=20)
    parser.add_argument("--every", type=float, default=2.0)
    parser.add_argument("--interactive-workers", type=int, default=1,
                        help="workers of small submissions only, beside the 2 others")
    parser.add_argument("--probe-database", action="store_true")
    parser.add_argument("--model-ms-per-row", type=float, default=0)
    parser.add_argument("--alone", action="store_true")
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--runs", type=int, default=1,
                        help="runs of the whole scenario, each on a new stack; the single "
                             "rows' figures are those of all runs' rows together")
    args = parser.parse_args()
    model, runs = SLOW_MODEL if args.model_ms_per_row else "iris", []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            env = {"ARTIFACTS_DIR": str(artifacts_with_slow_model(
                tmp / "artifacts", args.model_ms_per_row))} if args.model_ms_per_row else {}
            runs.append(run_once(args, model, env, tmp))
    timings = [ms for run in runs for ms in run["timings"]]
    posts = [ms for run in runs for ms in run["posts"]]
    probes = [taken for run in runs for taken in run["probes"]]
    slowest = sorted((row for run in runs for row in run["slowest"]),
                     key=lambda row: row["seen_done"])[-4:]
    result = {"interactive_max_rows": os.environ.get("INTERACTIVE_MAX_ROWS", "100"),
              "interactive_workers": args.interactive_workers, "model": model,
              "model_ms_per_row": args.model_ms_per_row, "alone": args.alone,
              "file_rows_per_s": round(statistics.median(
                  run["file_rows_per_s"] for run in runs)),
              "cores_busy": {part: statistics.median(run["cores_busy"][part] for run in runs)
                             for part in runs[0]["cores_busy"]}}
    if timings:
        result.update({"singles": len(timings), **milliseconds(timings),
                       "post_p50_ms": round(statistics.median(posts), 1),
                       "post_max_ms": round(max(posts), 1)})
    if probes:
        result["database_probes"] = len(probes)
        for index, name in enumerate(("insert", "find", "update")):
            result[f"database_{name}"] = milliseconds([taken[index] for taken in probes])
    if slowest:
        result["slowest_singles_ms"] = slowest
    if args.runs > 1:
        result["runs"] = [each_run(run) for run in runs]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
