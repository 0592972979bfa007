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
