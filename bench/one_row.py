"""One row per request: `python -m bench.one_row [--seconds 20] [--clients 16]
[--submissions 200] [--warm-seconds 3]`.

Starts its own stack (2 workers) in a temporary directory, submits rows for
`--warm-seconds`, then:
1. sequential: `--submissions` (200) one-row submissions, each POSTed and long-polled (`Prefer: wait=10`)
   to `done`, one at a time: milliseconds per submission, Redis commands per submission
   (the server's `INFO commandstats` before and after) and CPU per submission of each
   process (API, workers, database, Redis; from /proc);
2. concurrent: `--clients` threads doing the same for `--seconds`: rows/s, p50 and p99
   of POST to `done`, and CPU per row of each process.
Prints one JSON line for each. The database commands of one submission are counted
exactly in tests/e2e/test_round_trips.py."""
import argparse
import json
import tempfile
import threading
import time

import requests

from bench import NO_RATE_LIMIT
from core.connections import redis_from_url
from devstack import services
from devstack.stack import Stack

from .load import latency_summary
from .machine import by_part, stack_meter

ROW = [5.1, 3.5, 1.4, 0.2]


def per_row_ms(used, rows):
    """stack_meter's seconds as ms per row, by part of the stack."""
    return {name: round(seconds / rows * 1000, 2) for name, seconds in by_part(used).items()}


def submit_one(session, api_url, model):
    """POST one row, long-poll it to done; the seconds it took."""
    started = time.perf_counter()
    posted = session.post(f"{api_url}/inputs", json={"model": model, "features": ROW})
    assert posted.status_code == 201, posted.text[:300]
    got = session.get(f"{api_url}/predictions/{posted.json()['prediction']}",
                      headers={"Prefer": "wait=10"})
    assert got.json()["status"] == "done", got.text[:300]
    return time.perf_counter() - started


def client_session(token):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def redis_commands(connection):
    return sum(stats["calls"] for stats in connection.info("commandstats").values())


def sequential(stack, api_url, token, model, count=200):
    session, connection = client_session(token), redis_from_url(stack.redis_url)
    commands, started = redis_commands(connection), time.perf_counter()
    with stack_meter(stack) as cpu:
        for _ in range(count):
            submit_one(session, api_url, model)
    seconds = time.perf_counter() - started
    return {"run": "sequential", "submissions": count,
            "ms_per_submission": round(seconds / count * 1000, 2),
            # less the INFO call itself
            "redis_commands_per_submission": round(
                (redis_commands(connection) - commands - 1) / count, 1),
            "cpu_ms_per_submission": per_row_ms(cpu.used, count)}


def concurrent(stack, api_url, token, model, clients, seconds):
    latencies, deadline = [], time.monotonic() + seconds

    def client():
        session = client_session(token)
        while time.monotonic() < deadline:
            latencies.append(submit_one(session, api_url, model))
    started = time.perf_counter()
    with stack_meter(stack) as cpu:
        threads = [threading.Thread(target=client) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    wall = time.perf_counter() - started
    return {"run": "concurrent", "clients": clients, "rows": len(latencies),
            "rows_per_s": round(len(latencies) / wall, 1), **latency_summary(latencies),
            "cpu_ms_per_row": per_row_ms(cpu.used, len(latencies))}


def main():
    parser = argparse.ArgumentParser(prog="python -m bench.one_row")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--model", default="iris")
    parser.add_argument("--submissions", type=int, default=200,
                        help="one-row submissions of the sequential run (default 200)")
    parser.add_argument("--warm-seconds", type=float, default=3,
                        help="seconds of submissions before measuring (default 3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-one-row-") as data_dir:
        stack = Stack(data_dir, port=services.free_port(), workers=2,
                      extra_env=NO_RATE_LIMIT)
        stack.start()
        try:
            token = stack.create_token("client", "one-row")
            api_url = f"{stack.url}/api/v1"
            session, warm_until = client_session(token), time.monotonic() + args.warm_seconds
            while time.monotonic() < warm_until:
                submit_one(session, api_url, args.model)
            print(json.dumps(sequential(stack, api_url, token, args.model, args.submissions)),
                  flush=True)
            print(json.dumps(concurrent(stack, api_url, token, args.model, args.clients,
                                        args.seconds)), flush=True)
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
