"""`make bench`: the service and its baselines, side by side, in one run.

Starts its own stack (redis-server, FerretDB or mongod, the API, two RQ workers) in a
temporary directory, or uses the servers in MONGO_URI / REDIS_URL (database
`prediction_bench` on that server, which it empties), then measures:

1. bulk throughput, first POST to last `done`, per model, per request size, 1 and 2 workers;
2. single-row latency, POST to `done` seen by polling with If-None-Match, or by
   long polling (Prefer: wait), on an idle stack;
3. 16 concurrent clients, each sending one row per request and polling (or long-polling)
   it to `done`;
4. baselines: compute floor, write floor, the naive Flask endpoint, RQ no-op jobs.

CPU seconds of each process during each run give the CPU per row. Prints the tables,
with the throughput targets and whether this run met them; writes
bench/results/latest.json, latest.md and latest.png."""
import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pymongo
from rq import Worker

from bench import NO_RATE_LIMIT
from core.connections import redis_from_url
from core.queue import prediction_queue
from devstack import services
from devstack.stack import Stack

from . import baselines, pipeline, report
from .machine import CpuMeter, describe
from .profile import Profiler
from .workload import rows_for, shipped_models

RESULTS = Path(__file__).resolve().parent / "results"
LONG_POLL_SECONDS = 10  # the clients that long-poll send Prefer: wait=10


def bench_database(mongo_uri):
    """The same server as MONGO_URI, but the benchmark's own database."""
    parts = urlsplit(mongo_uri)
    return urlunsplit(parts._replace(path="/prediction_bench"))


def parse_args():
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--rows", type=int, default=int(os.environ.get("BENCH_ROWS", 20000)),
                        help="rows per model for bulk throughput (default 20000)")
    parser.add_argument("--sizes", default="100,1000", help="rows per bulk request")
    parser.add_argument("--workers", default="1,2", help="RQ worker counts to measure")
    parser.add_argument("--latency-requests", type=int,
                        default=int(os.environ.get("BENCH_LATENCY_REQUESTS", 500)))
    parser.add_argument("--naive-requests", type=int, default=1000,
                        help="one-row requests sent to the naive endpoint per model")
    parser.add_argument("--concurrent-clients", type=int, default=16,
                        help="clients sending one row per request, each polling to done")
    parser.add_argument("--concurrent-rows", type=int, default=1000,
                        help="rows per model in the concurrent-clients run")
    parser.add_argument("--models", default="", help="comma-separated (default: all shipped)")
    parser.add_argument("--noop-jobs", type=int, default=2000,
                        help="no-op jobs of the RQ baseline (default 2000)")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy the API and workers during one extra bulk run")
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args()


def use_workers(stack, redis_connection, count):
    """Run exactly `count` of the stack's workers, and wait until they have registered."""
    for index, worker in enumerate(stack.workers):
        if index < count and not worker.alive():
            worker.start()
        elif index >= count:
            worker.stop()
    deadline = time.monotonic() + 60
    while Worker.count(queue=prediction_queue(redis_connection)) != count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count} workers did not register")
        time.sleep(0.2)


def service_measurements(stack, args, models, rows_by_model, profile_dir):
    db = pymongo.MongoClient(stack.mongo_uri).get_default_database()
    redis_connection = redis_from_url(stack.redis_url)
    token = stack.create_token("client", "bench")
    api_url = f"{stack.url}/api/v1"
    sizes = [int(s) for s in args.sizes.split(",")]
    worker_counts = [int(w) for w in args.workers.split(",")]
    bulk = []
    for count in worker_counts:
        use_workers(stack, redis_connection, count)
        processes = {"api": stack.api.process.pid, "bench client": os.getpid(),
                     **{w.name: w.process.pid for w in stack.workers if w.alive()}}
        if stack.database:
            processes["database"] = stack.database.process.pid
        if stack.redis:
            processes["redis"] = stack.redis.process.pid
        for entry in models:
            for size in sizes:
                pipeline.clear(db)  # the last run's rows: deleting them is not this run's work
                with CpuMeter(processes) as cpu:
                    result = pipeline.bulk_throughput(api_url, token, db, redis_connection,
                                                      entry["name"], rows_by_model[entry["name"]],
                                                      size, settled=cpu.stop)
                bulk.append({**result, "workers": count, "cpu_seconds": cpu.used})
                print(report.bulk_line(bulk[-1]), flush=True)
    if args.profile:  # an extra run: py-spy takes CPU, so its figures are not reported
        entry, size = models[0], max(sizes)
        with Profiler(processes, profile_dir, f"{entry['name']}-{size}-{count}w"):
            pipeline.bulk_throughput(api_url, token, db, redis_connection, entry["name"],
                                     rows_by_model[entry["name"]], size)
    latency, concurrent = [], []
    for entry in models:
        for wait in (None, LONG_POLL_SECONDS):
            latency.append(pipeline.single_row_latency(api_url, token, db, entry["name"],
                                                       rows_by_model[entry["name"]],
                                                       args.latency_requests, wait=wait))
            print(report.latency_line(latency[-1]), flush=True)
    for entry in models:
        for wait in (None, LONG_POLL_SECONDS):
            with CpuMeter(processes) as cpu:
                result = pipeline.concurrent_single_rows(
                    api_url, token, db, entry["name"],
                    rows_by_model[entry["name"]][:args.concurrent_rows],
                    clients=args.concurrent_clients, wait=wait)
            concurrent.append({**result, "workers": count, "cpu_seconds": cpu.used})
            print(report.concurrent_line(concurrent[-1]), flush=True)
    pipeline.clear(db)
    return {"bulk": bulk, "latency": latency, "concurrent": concurrent,
            "rq_noop": baselines.rq_overhead(redis_connection, args.noop_jobs)}


def main():
    args = parse_args()
    models = [m for m in shipped_models()
              if not args.models or m["name"] in args.models.split(",")]
    rows_by_model = {m["name"]: rows_for(m["name"], args.rows) for m in models}
    worker_counts = [int(w) for w in args.workers.split(",")]
    args.output.mkdir(parents=True, exist_ok=True)
    profile_dir = args.output / "profiles"
    mongo_uri = os.environ.get("MONGO_URI")
    with tempfile.TemporaryDirectory(prefix="bench-") as data_dir:
        stack = Stack(data_dir, port=services.free_port(), workers=max(worker_counts),
                      mongo_uri=bench_database(mongo_uri) if mongo_uri else None,
                      redis_url=os.environ.get("REDIS_URL"),
                      extra_env=NO_RATE_LIMIT)
        stack.start()
        try:
            machine = describe(stack)
            print(f"bench: {args.rows} rows per model, models {[m['name'] for m in models]}",
                  flush=True)
            measured = service_measurements(stack, args, models, rows_by_model, profile_dir)
            floors = {m["name"]: {"compute": baselines.compute_floor(m, rows_by_model[m["name"]]),
                                  "write": baselines.write_floor(stack.mongo_uri, m,
                                                                 rows_by_model[m["name"]])}
                      for m in models}
        finally:
            stack.stop()
        naive = baselines.naive_measurements(models, rows_by_model, worker_counts,
                                             Path(data_dir) / "logs", args.naive_requests)
    result = {"machine": machine, "rows_per_model": args.rows, "floors": floors,
              "naive": naive, **measured}
    (args.output / "latest.json").write_text(json.dumps(result, indent=2) + "\n")
    table = report.markdown(result)
    (args.output / "latest.md").write_text(table)
    report.chart(result, args.output / "latest.png")
    print(table)
    print(f"wrote {args.output / 'latest.json'}, latest.md, latest.png")


if __name__ == "__main__":
    main()
