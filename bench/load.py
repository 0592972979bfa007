"""Client-side helpers: run calls from a pool of threads and summarise latencies."""
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

_local = threading.local()


def session(headers=None):
    """One keep-alive session per client thread and set of headers."""
    sessions = _local.__dict__.setdefault("sessions", {})
    key = frozenset((headers or {}).items())
    if key not in sessions:
        sessions[key] = requests.Session()
        sessions[key].headers.update(headers or {})
    return sessions[key]


def run_concurrently(call, items, threads):
    """call(item) -> anything, from `threads` threads; returns (results, seconds,
    per-call latencies in seconds)."""
    def timed(item):
        started = time.perf_counter()
        result = call(item)
        return result, time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        outcomes = list(pool.map(timed, items))
    seconds = time.perf_counter() - started
    return [r for r, _ in outcomes], seconds, [t for _, t in outcomes]


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def latency_summary(seconds):
    ms = [s * 1000 for s in seconds]
    return {"p50_ms": round(statistics.median(ms), 2), "p95_ms": round(percentile(ms, 95), 2),
            "p99_ms": round(percentile(ms, 99), 2), "max_ms": round(max(ms), 2)}


def run_for(seconds, clients, call, items):
    """`clients` threads, each calling call(session, item) back to back, over `items` in
    turn (client i takes items i, i + clients, ...), until `seconds` have passed; each
    thread has its own keep-alive requests.Session. Returns (per-call latencies in
    seconds, wall seconds from the first call to the last answer)."""
    latencies, deadline = [], time.monotonic() + seconds

    def client(index):
        with requests.Session() as own:
            position = index
            while time.monotonic() < deadline:
                started = time.perf_counter()
                call(own, items[position % len(items)])
                latencies.append(time.perf_counter() - started)
                position += clients
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - started
