"""`python -m bench.retention` (`make bench-retention`): a backlog of expired rows
deleted while new rows keep arriving.

Starts its own stack as `make run` lays it out with WORKERS=2 (two workers, one of small
submissions, the callback worker), with RETENTION_DAYS=1 (passes of the default
RETENTION_PASS_SECONDS, MAINTENANCE_SECONDS). `--clients` (1) clients send single rows
(`POST /inputs` with `Prefer: wait=10`) back to back through every phase but the second:

1. without: `--seconds` (20) with nothing to delete;
2. the backlog: the workers that sweep stopped (the two workers and the callback worker;
   the one of small submissions goes on), `--backlog` (1,000,000) finished rows stored
   straight into the database as a file's rows are (inputs, then predictions,
   insert_many of 5,000), finished 2 days ago;
3. deletion: the sweeping workers started again (a worker's first pass begins as it
   starts), until no expired prediction is left: seconds from their start and from the
   first row deleted, rows deleted a second, the single rows' latency meanwhile, the
   cores each process kept busy;
4. without again, as 1 (so that A, B, A take turns).

Then checks that nothing expired is left, no input of the backlog either, and every row
the clients sent is stored and `done`. Prints a JSON line per phase and a table; writes
bench/results/retention.json and retention.md. A million rows take a while to store
here: `--backlog 200000` for less."""
import argparse
import ast
import json
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pymongo
import requests
from bson import ObjectId
from rq import Worker
from sklearn.datasets import load_iris

from bench import NO_RATE_LIMIT
from core import store
from core.connections import redis_from_url
from devstack import services
from devstack.stack import Stack

from .load import latency_summary
from .machine import CpuMeter, describe, stack_processes
from .report import write_results

RESULTS = Path(__file__).resolve().parent / "results"
ROWS = load_iris().data.tolist()
RESULT = {"label": "setosa", "probabilities": {"setosa": 1.0, "versicolor": 0.0,
                                               "virginica": 0.0}}
SLICE = 5000


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.retention")
    parser.add_argument("--backlog", type=int, default=1_000_000,
                        help="expired rows stored before the deletion")
    parser.add_argument("--seconds", type=float, default=20,
                        help="each phase without deletion")
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=3600,
                        help="longest the deletion may take")
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def store_backlog(db, rows, finished_at):
    """`rows` inputs and their `done` predictions as the service stores them, written in
    slices of SLICE; rows stored a second."""
    started = time.perf_counter()
    for start in range(0, rows, SLICE):
        inputs, predictions = [], []
        for index in range(min(SLICE, rows - start)):
            input_id, prediction_id = ObjectId(), ObjectId()
            features = ROWS[(start + index) % len(ROWS)]
            inputs.append({"_id": input_id, "prediction": prediction_id, "model": "iris",
                           "version": 1, "features": features, "owner": "backlog",
                           "status": "queued", "_created": finished_at,
                           "_updated": finished_at, "_etag": "e"})
            predictions.append({"_id": prediction_id, "input": input_id, "model": "iris",
                                "version": 1, "status": "done", "owner": "backlog",
                                "result": RESULT, "attempts": 1, "worker": "h:1",
                                "queued_at": finished_at, "started_at": finished_at,
                                "finished_at": finished_at, "_created": finished_at,
                                "_updated": finished_at, "_etag": "e"})
        db.inputs.insert_many(inputs, ordered=False)
        db.predictions.insert_many(predictions, ordered=False)
        if (start // SLICE) % 20 == 19:
            print(f"stored {start + SLICE:,} of {rows:,}", flush=True)
    return rows / (time.perf_counter() - started)


class Senders:
    """`clients` threads sending single rows, each timed with the moment it was sent; a
    row not answered within its POST's wait is long-polled to `done` (and counted late);
    the prediction ids kept for the final check."""

    def __init__(self, url, token, clients):
        self.url, self.token, self.clients = f"{url}/api/v1", token, clients
        self.samples, self.predictions = [], []  # (sent at, seconds, late); ids
        self.stop, self.threads = threading.Event(), []

    def send(self, index):
        with requests.Session() as session:
            session.headers.update({"Authorization": f"Bearer {self.token}",
                                    "Prefer": "wait=10"})
            while not self.stop.is_set():
                sent = time.monotonic()
                started = time.perf_counter()
                response = session.post(f"{self.url}/inputs", timeout=60, json={
                    "model": "iris", "features": ROWS[index % len(ROWS)]})
                assert response.status_code == 201, response.text[:300]
                prediction, status = response.json()["prediction"], response.json()["status"]
                late = status != "done"
                while status != "done":
                    assert status in ("queued", "running"), status
                    status = session.get(f"{self.url}/predictions/{prediction}",
                                         timeout=60).json()["status"]
                self.samples.append((sent, time.perf_counter() - started, late))
                self.predictions.append(prediction)
                index += self.clients

    def start(self):
        self.stop.clear()
        self.threads = [threading.Thread(target=self.send, args=(i,)) for i in range(self.clients)]
        for thread in self.threads:
            thread.start()

    def end(self):
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def between(self, start, end):
        """The latencies of the rows sent from start to end, and how many were late."""
        sent = [(seconds, late) for at, seconds, late in self.samples if start <= at < end]
        return [seconds for seconds, _ in sent], sum(late for _, late in sent)


def cores(used, seconds):
    """CpuMeter's seconds over the wall seconds: the cores each part kept busy."""
    parts = {}
    for name, value in used.items():
        part = "workers" if "worker" in name else name
        parts[part] = parts.get(part, 0.0) + value
    return {part: round(value / seconds, 2) for part, value in parts.items()}


def without(stack, senders, seconds, phase):
    start = time.monotonic()
    with CpuMeter(stack_processes(stack)) as cpu:
        time.sleep(seconds)
    latencies, late = senders.between(start, time.monotonic())
    return {"phase": phase, "seconds": seconds, "single_rows": len(latencies),
            "late": late, **latency_summary(latencies), "cores_busy": cores(cpu.used, seconds)}


def sweepers(stack):
    return [*stack.workers, stack.callback_worker]


def delete_backlog(stack, db, senders, backlog, timeout):
    """Start the sweeping workers; until no expired prediction is left, asked every second
    of the index that retention reads (one find_one: the polls' longest is reported). The
    passes' progress is read from the workers' logs afterwards (passes())."""
    expired = {"status": "done", **store.before(
        "finished_at", datetime.now(timezone.utc) - timedelta(days=1))}
    connection = redis_from_url(stack.redis_url)
    started = time.monotonic()
    for worker in sweepers(stack):
        worker.start()
    everyone = len(stack.workers) + 1  # and the callback worker
    registered, longest_poll = None, 0.0
    with CpuMeter(stack_processes(stack)) as cpu:
        while True:
            asked = time.monotonic()
            if db.predictions.find_one(expired, {"_id": 1}) is None:
                break
            longest_poll = max(longest_poll, time.monotonic() - asked)
            if registered is None and Worker.count(connection=connection) >= everyone:
                registered = time.monotonic() - started  # their passes begin as they do
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"expired rows left after {timeout} s")
            time.sleep(1)
        ended = time.monotonic()
    seconds = ended - started
    deleting = seconds - (registered or 0.0)
    latencies, late = senders.between(started, ended)
    return {"phase": "deletion", "backlog": backlog, "seconds_to_window": round(seconds, 1),
            "seconds_from_registered": round(deleting, 1),
            "rows_deleted_per_s": round(backlog / deleting) if deleting else None,
            "single_rows": len(latencies), "late": late, **latency_summary(latencies),
            "cores_busy": cores(cpu.used, seconds),
            "longest_poll_ms": round(longest_poll * 1000, 1)}


def passes(log_dir):
    """The retention passes the workers logged: [(seconds since the epoch it ended,
    predictions it deleted)], in time order."""
    found = []
    for path in sorted(Path(log_dir).glob("*worker*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if "retention: deleted" not in line:
                continue
            entry = json.loads(line)
            deleted = ast.literal_eval(entry["message"].split("retention: deleted", 1)[1].strip())
            found.append((datetime.fromisoformat(entry["time"]).timestamp(),
                          deleted["predictions"]))
    return sorted(found)


def pass_rates(found):
    """Each pass's predictions deleted a second (from the end of the pass before it)."""
    return [round(count / (end - before)) for (before, _), (end, count) in zip(found, found[1:])
            if end > before]


def spread_of(values):
    if not values:
        return "–"
    ordered = sorted(values)
    return f"median {ordered[len(ordered) // 2]:,}, {ordered[0]:,}-{ordered[-1]:,}"


def markdown(result):
    phases = {phase["phase"]: phase for phase in result["phases"]}
    deletion = phases["deletion"]
    lines = [f"Measured {result['machine']['date']} on {result['machine']['cores']} cores, "
             f"{result['machine']['database']}; {result['backlog']:,} expired rows stored at "
             f"{result['stored_rows_per_s']:,.0f} rows/s; {result['clients']} client(s) sending "
             "single rows throughout.", "",
             f"Back to the window {deletion['seconds_to_window']} s after the sweeping workers "
             f"were started ({deletion['seconds_from_registered']} s after they registered, "
             f"when their passes begin): {deletion['rows_deleted_per_s']:,} rows deleted a "
             f"second, in {len(result['passes'])} passes of "
             f"{min(p[1] for p in result['passes']):,}-{max(p[1] for p in result['passes']):,} "
             f"rows (each pass's rows/s: {spread_of(result['pass_rates'])}).", "",
             "| phase | single rows (late) | p50 ms | p95 ms | p99 ms | max ms | cores busy: "
             "database / API / workers / Redis |", "|---|---:|---:|---:|---:|---:|---|"]
    for phase in result["phases"]:
        busy = phase["cores_busy"]
        lines.append(f"| {phase['phase']} | {phase['single_rows']} ({phase['late']}) | "
                     f"{phase['p50_ms']} | "
                     f"{phase['p95_ms']} | {phase['p99_ms']} | {phase['max_ms']} | "
                     f"{busy.get('database', 0)} / {busy.get('api', 0)} / "
                     f"{busy.get('workers', 0)} / {busy.get('redis', 0)} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-retention-") as data_dir:
        stack = Stack(data_dir, port=services.free_port(), workers=2, interactive_workers=1,
                      extra_env={**NO_RATE_LIMIT, "RETENTION_DAYS": "1"})
        stack.start()
        try:
            machine = describe(stack)
            db = pymongo.MongoClient(stack.mongo_uri).get_default_database()
            senders = Senders(stack.url, stack.create_token("client", "single-rows"),
                              args.clients)
            senders.start()
            time.sleep(2)  # warm
            phases = [without(stack, senders, args.seconds, "without, before")]
            print(json.dumps(phases[-1]), flush=True)
            senders.end()
            for worker in sweepers(stack):
                worker.stop()
            senders.start()  # the worker of small submissions answers them meanwhile
            stored_rate = store_backlog(db, args.backlog,
                                        datetime.now(timezone.utc) - timedelta(days=2))
            print(json.dumps({"stored_rows_per_s": round(stored_rate)}), flush=True)
            phases.append(delete_backlog(stack, db, senders, args.backlog, args.timeout))
            print(json.dumps({k: v for k, v in phases[-1].items() if k != "timeline"}),
                  flush=True)
            phases.append(without(stack, senders, args.seconds, "without, after"))
            print(json.dumps(phases[-1]), flush=True)
            senders.end()
            assert db.inputs.count_documents({"owner": "backlog"}) == 0, "inputs left"
            sent = [ObjectId(p) for p in senders.predictions]
            kept = sum(db.predictions.count_documents({"_id": {"$in": sent[i:i + 1000]},
                                                       "status": "done"})
                       for i in range(0, len(sent), 1000))
            assert kept == len(sent), f"{len(sent) - kept} of the rows sent are missing"
            logged = passes(stack.log_dir)
        finally:
            stack.stop()
    result = {"machine": machine, "backlog": args.backlog, "clients": args.clients,
              "stored_rows_per_s": round(stored_rate), "phases": phases, "passes": logged,
              "pass_rates": pass_rates(logged),
              "rows_sent": len(sent)}
    table = markdown(result)
    write_results(args.output, "retention", result, table)


if __name__ == "__main__":
    main()
