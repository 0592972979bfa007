"""`make bench-batches`: files of rows (POST /api/v1/batches) on the embedded default.

Starts its own stack (2 RQ workers) and, as one client token:

- the CLI's path for a CSV of `--rows` iris rows (default 100,000):
  `python -m service submit FILE --model iris --out results.csv`, end to end, then the
  same through service.client phase by phase: upload (until 201: validated and stored),
  until `done` (long polling), results file;
- a `--big-rows` file (default 1,000,000 rows) whose row `--big-rows - 1` is bad: time
  to the 422, the API processes' resident memory before and at most during the upload,
  and that nothing was stored;
- `--waiters` (200) clients long-polling one row each of 10,000 breast_cancer rows (10
  POSTs) while they run: how long after the worker's announcement each got its answer,
  and the database's operations per second during the run beside the same run without
  them.

Prints a table and writes bench/results/batches.{json,md}."""
import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import redis
import requests
from sklearn.datasets import load_iris

from cli.client import Client
from devstack import services
from devstack.services import ROOT
from devstack.stack import Stack

from .workload import rows_for

RESULTS = Path(__file__).resolve().parent / "results"
IRIS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
ROWS = load_iris().data.tolist()


def write_csv(path, rows, bad_row=None):
    rng = random.Random(1)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ref", *IRIS])
        for n in range(1, rows + 1):
            row = ROWS[rng.randrange(len(ROWS))]
            writer.writerow([f"r{n}", "x" if n == bad_row else row[0], *row[1:]])


def tree_rss_mb(pid):
    """Resident memory of a process and its children (gunicorn's master and workers)."""
    total, pids = 0, [pid]
    while pids:
        current = pids.pop()
        try:
            with open(f"/proc/{current}/status") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
            with open(f"/proc/{current}/task/{current}/children") as f:
                pids += [int(p) for p in f.read().split()]
        except (OSError, StopIteration):
            continue
    return total / 1024


def cli_end_to_end(stack, token, path, out):
    env = {**os.environ, "PREDICTION_API_URL": stack.url, "PREDICTION_API_TOKEN": token}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "service", "submit", str(path), "--model",
                           "iris", "--out", str(out)], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=3600)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"CLI failed: {done.stderr[-2000:]}")
    with open(out) as f:
        lines = sum(1 for _ in f) - 1
    return seconds, lines


def by_phases(api, path, rows):
    started = time.monotonic()
    batch = api.submit_file(str(path), "iris")
    uploaded = time.monotonic()
    api.wait_batch(batch["_id"])
    finished = time.monotonic()
    with tempfile.NamedTemporaryFile(suffix=".csv") as out:
        api.batch_results(batch["_id"], out.name)
    fetched = time.monotonic()
    return {"upload_s": round(uploaded - started, 2), "to_done_s": round(finished - started, 2),
            "results_s": round(fetched - finished, 2),
            "rows_per_s": round(rows / (fetched - started))}


def big_refused(stack, api, path, bad_row):
    db_before = api.request("GET", "/batches", params={"max_results": 1})["_meta"]["total"]
    api_pid = stack.api.process.pid
    before = tree_rss_mb(api_pid)
    peak, stop = [before], threading.Event()

    def sample():
        while not stop.is_set():
            peak.append(tree_rss_mb(api_pid))
            time.sleep(0.1)
    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.monotonic()
    try:
        api.submit_file(str(path), "iris")
        raise SystemExit("the file with a bad row was accepted")
    except Exception as exc:  # ApiError: the 422 expected
        status = getattr(exc, "status", None)
        issues = getattr(exc, "body", {}).get("_issues", [])
    finally:
        seconds = time.monotonic() - started
        stop.set()
        sampler.join()
    after = api.request("GET", "/batches", params={"max_results": 1})["_meta"]["total"]
    return {"status": status, "seconds": round(seconds, 2),
            "names_the_row": any(issue.get("row") == bad_row for issue in issues),
            "rss_before_mb": round(before), "rss_peak_mb": round(max(peak)),
            "rss_growth_mb": round(max(peak) - before), "stored": after - db_before}


def long_pollers(stack, token, waiters=200, rows=10_000):
    """`waiters` clients each long-polling one of `rows` breast_cancer rows queued while
    the workers are stopped; then the workers start. Measured: when each waiter got its
    answer after the worker announced the row written; the requests the waiters made (a
    long-polling GET reads the database twice, before it waits and to answer, never
    while it waits); and the run's time beside the same run without waiters."""
    api = f"{stack.url}/api/v1"
    headers = {"Authorization": f"Bearer {token}"}
    features = rows_for("breast_cancer", rows)

    def queue_rows():
        for worker in stack.workers:
            worker.stop()
        ids = []
        for start in range(0, rows, 1000):
            answer = requests.post(f"{api}/inputs", headers=headers, timeout=120, json=[
                {"model": "breast_cancer", "features": x} for x in features[start:start + 1000]])
            ids += [item["prediction"] for item in answer.json()["_items"]]
        return ids

    def run():
        started = time.monotonic()
        for worker in stack.workers:
            worker.start()
        while requests.get(f"{api}/predictions", headers=headers, timeout=30, params={
                "where": '{"status": {"$in": ["queued", "running"]}}', "max_results": 1}
                ).json()["_meta"]["total"]:
            time.sleep(0.2)
        return time.monotonic() - started

    queue_rows()
    alone_seconds = run()
    ids = queue_rows()
    watched, answered, announced, requests_made = ids[::rows // waiters], {}, {}, []
    subscriber = redis.Redis.from_url(stack.redis_url).pubsub()
    subscriber.subscribe("predictions:finished")
    subscriber.get_message(timeout=2)
    stop = threading.Event()

    def listen():
        while not stop.is_set():
            message = subscriber.get_message(timeout=0.5)
            if message and message["type"] == "message":
                now = time.time()
                for pid in message["data"].decode().split(","):
                    announced.setdefault(pid, now)

    def wait(prediction_id):
        session = requests.Session()
        while True:
            answer = session.get(f"{api}/predictions/{prediction_id}", timeout=90,
                                 headers={**headers, "Prefer": "wait=60"})
            requests_made.append(prediction_id)
            if answer.json()["status"] == "done":
                answered[prediction_id] = time.time()
                return
    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    with ThreadPoolExecutor(waiters) as pool:
        futures = [pool.submit(wait, pid) for pid in watched]
        time.sleep(3)  # all waiting
        seconds = run()
        for future in futures:
            future.result()
    stop.set()
    late = sorted((answered[p] - announced[p]) * 1000 for p in watched)
    return {"waiters": waiters, "rows": rows,
            "woken_ms": {"p50": round(late[len(late) // 2], 1),
                         "p95": round(late[int(0.95 * len(late)) - 1], 1),
                         "max": round(late[-1], 1)},
            "requests": len(requests_made),
            "run_s": {"without_waiters": round(alone_seconds, 1), "with_waiters": round(seconds, 1)}}


def report(results):
    cli, phases, big, lp = (results[k] for k in ("cli", "phases", "big", "long_polling"))
    lines = [
        f"# make bench-batches ({results['date']}, commit {results['commit']})", "",
        "| what | figure | target |", "|---|---|---|",
        f"| CLI `submit {results['rows']:,}.csv --model iris --out r.csv`, 2 workers | "
        f"{cli['rows_per_s']:,} rows/s ({cli['seconds']} s) | >= 2,500 rows/s |",
        f"| the same by phases (service.client) | upload {phases['upload_s']} s, done at "
        f"{phases['to_done_s']} s, results file {phases['results_s']} s: "
        f"{phases['rows_per_s']:,} rows/s | |",
        f"| `POST /batches` of {results['big_rows']:,} rows, row {results['big_rows'] - 1:,} "
        f"bad | {big['status']} in {big['seconds']} s (row named: {big['names_the_row']}), "
        f"stored {big['stored']} | 422 within 30 s, nothing stored |",
        f"| API memory (all gunicorn processes) during it | {big['rss_before_mb']} -> "
        f"{big['rss_peak_mb']} MB (+{big['rss_growth_mb']}) | grows <= 300 MB |",
        f"| {lp['waiters']} clients long-polling while {lp['rows']:,} breast_cancer rows run: "
        f"answered after the worker's announcement | p50 {lp['woken_ms']['p50']} ms, p95 "
        f"{lp['woken_ms']['p95']} ms, max {lp['woken_ms']['max']} ms | each <= 50 ms |",
        f"| the waiters' requests in all (2 database reads each, none while waiting); the "
        f"run with them and without | {lp['requests']} requests; {lp['run_s']['with_waiters']}"
        f" s and {lp['run_s']['without_waiters']} s | no rise from the waiting |", ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(prog="python -m bench.batches")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--big-rows", type=int, default=1_000_000)
    parser.add_argument("--waiters", type=int, default=200)
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_csv(tmp / "rows.csv", args.rows)
        write_csv(tmp / "big.csv", args.big_rows, bad_row=args.big_rows - 1)
        stack = Stack(tmp / "stack", port=services.free_port(), workers=2)
        stack.start()
        try:
            token = stack.create_token("client", "bench-batches")
            api = Client(stack.url, token, timeout=3600)
            seconds, lines = cli_end_to_end(stack, token, tmp / "rows.csv", tmp / "out.csv")
            assert lines == args.rows, lines
            cli = {"seconds": round(seconds, 1), "rows_per_s": round(args.rows / seconds)}
            phases = by_phases(api, tmp / "rows.csv", args.rows)
            big = big_refused(stack, api, tmp / "big.csv", args.big_rows - 1)
            long_polling = long_pollers(stack, token, args.waiters)
        finally:
            stack.stop()
    results = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "commit": commit, "rows": args.rows, "big_rows": args.big_rows,
               "cli": cli, "phases": phases, "big": big, "long_polling": long_polling}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "batches.json").write_text(json.dumps(results, indent=2) + "\n")
    text = report(results)
    (RESULTS / "batches.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
