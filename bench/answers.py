"""`python -m bench.answers` (the second step of `make bench`): one request per row, the
result cache and the shadow, each measured beside what it is held against, in turns.

Starts its own stack (2 RQ workers, as `make bench`; the cache's Redis as `make run`)
and, beside it, the naive endpoint (bench/naive_app.py under gunicorn, 2 sync workers,
the same iris trees). Registers over the API three more versions of iris: v2 (a random
forest of another seed: the challenger), v3 (v1's trees, `cache_seconds` 3600) and v4
(v1's trees, shadowed by v2); v1 has neither. Then `--rounds` times, the order turning
each round:

1. one row at a time on the idle stack, `--sequential` rows of each: the model alone
   (predict_proba of one row in this process), create and wait (`POST /inputs` with
   `Prefer: wait=10`, v1), POST then GET long-polled (v1), create and wait answered
   from the cache (v3), the naive endpoint;
2. `--clients` (16) clients each sending one row per request back to back for
   `--seconds` (10): the naive endpoint, create and wait, POST + GET long-polled, and
   create and wait answered from the cache (v3, every row one it answered before);
3. bulk: `--bulk-rows` (20,000) rows in `--bulk-size` (1,000)-row POSTs from 4 threads,
   first POST to last `done`, rows never sent before: v1 (no cache, no shadow), v3 (the
   cache on, every row a miss) and v4 (v2 as its shadow).

CPU seconds of each process (API, workers, Redis, the cache's Redis, database, naive
endpoint, this client) during each run give its CPU per row. Prints a JSON line per run,
then the tables and the targets; writes bench/results/answers.json and answers.md."""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import timezone
from pathlib import Path

import numpy as np
import pymongo
import requests
from bson import ObjectId
from rq.job import Job
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

from bench import NO_RATE_LIMIT
from core.connections import redis_from_url
from devstack import services
from devstack.stack import Stack
from service.models.catalog import load_model

from . import pipeline
from .admin import IRIS_FEATURES, Api, until
from .baselines import NaiveEndpoint
from .load import latency_summary, run_for
from .machine import CpuMeter, describe, ms_per_row, stack_processes
from .one_row import redis_commands
from .report import write_results

RESULTS = Path(__file__).resolve().parent / "results"
IRIS = load_iris()
ROWS = IRIS.data.tolist()
NAMES = list(IRIS.target_names)
WAIT = {"Prefer": "wait=10"}
PLAIN, CACHED, SHADOWED, CHALLENGER = 1, 3, 4, 2  # the iris versions, by role

# create and wait, one row: from the client's send to the prediction's `queued_at` (the
# API's checks, up to the insert hook), to its job's enqueue (the two inserts), to the
# model call's start (the queue, RQ's and the job's set-up), to `finished_at` (the model
# call), to the answer at the client (the write-back, the announcement, the API's wake
# and its response)
STAGES = ("API to the insert hook", "inserts and enqueue", "queue to the model call",
          "model call", "write-back to answer received")
ONE_ROW = ("naive", "create and wait", "POST + GET long-polled", "cache hit")
BULK = ("cache off, no shadow", "cache on, every row a miss", "shadow")
BULK_VERSION = {"cache off, no shadow": PLAIN, "cache on, every row a miss": CACHED,
                "shadow": SHADOWED}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.answers")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10,
                        help="each concurrent run's length")
    parser.add_argument("--sequential", type=int, default=100,
                        help="rows sent one at a time, per kind and round")
    parser.add_argument("--bulk-rows", type=int, default=20_000)
    parser.add_argument("--bulk-size", type=int, default=1000)
    parser.add_argument("--warm-rows", type=int, default=3000,
                        help="rows sent to each version before the rounds")
    parser.add_argument("--quiet", type=float, default=0,
                        help="before each round's one-row, concurrent and bulk runs, wait "
                             "until the machine's 1-minute load average is below this (0: "
                             "do not wait; the machine may be shared)")
    parser.add_argument("--quiet-wait", type=float, default=600,
                        help="the longest to wait for it")
    parser.add_argument("--skip", default="", help="comma-separated: sequential, concurrent, bulk")
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


# -- one row per request, each kind a call(session, row) ----------------------------------

def naive_call(url):
    def call(session, row):
        response = session.post(url, json={"model": "iris", "rows": [row]}, timeout=60)
        assert response.status_code == 200 and len(response.json()) == 1, response.text[:300]
    return call


def create_and_wait_call(api_url, token, version):
    headers = {"Authorization": f"Bearer {token}", **WAIT}

    def call(session, row):
        response = session.post(f"{api_url}/inputs", headers=headers, timeout=60,
                                json={"model": "iris", "version": version, "features": row})
        assert response.status_code == 201, response.text[:300]
        body = response.json()
        assert body["status"] == "done" and "result" in body, body
        return body
    return call


def post_get_call(api_url, token, version):
    headers = {"Authorization": f"Bearer {token}"}

    def call(session, row):
        response = session.post(f"{api_url}/inputs", headers=headers, timeout=60,
                                json={"model": "iris", "version": version, "features": row})
        assert response.status_code == 201, response.text[:300]
        url = f"{api_url}/predictions/{response.json()['prediction']}"
        while True:
            polled = session.get(url, headers={**headers, **WAIT}, timeout=60)
            assert polled.status_code == 200, polled.text[:300]
            if polled.json()["status"] in ("done", "failed"):
                assert polled.json()["status"] == "done", polled.text[:300]
                return
    return call


def raw_model_ms(count):
    """predict_proba of one iris row, in this process, with v1's trees: ms each."""
    _, estimator = load_model("iris", 1)
    X = np.asarray(ROWS, dtype=np.float64)
    estimator.predict_proba(X[:1])
    timings = []
    for index in range(count):
        started = time.perf_counter()
        estimator.predict_proba(X[index % len(X):index % len(X) + 1])
        timings.append(time.perf_counter() - started)
    return timings


class Bench:
    def __init__(self, stack, naive, args):
        self.stack, self.naive, self.args = stack, naive, args
        self.db = pymongo.MongoClient(stack.mongo_uri).get_default_database()
        self.redis = redis_from_url(stack.redis_url)
        self.admin = Api(stack.url, stack.create_token("admin", "bench-admin"))
        self.token = stack.create_token("client", "bench")
        self.client = Api(stack.url, self.token)
        api_url = f"{stack.url}/api/v1"
        self.calls = {
            "naive": naive_call(f"http://127.0.0.1:{naive.port}/predict"),
            "create and wait": create_and_wait_call(api_url, self.token, PLAIN),
            "POST + GET long-polled": post_get_call(api_url, self.token, PLAIN),
            "cache hit": create_and_wait_call(api_url, self.token, CACHED)}
        self.fresh = 0  # rows never sent before, handed out so far

    def meter(self):
        return CpuMeter({**stack_processes(self.stack), "naive": self.naive.service.process.pid,
                         "bench client": os.getpid()}, trees=("api", "naive"))

    def register_versions(self):
        """v2: another forest (the challenger); v3 and v4: v1's own trees, so that they
        cost what v1 costs; v3 keeps its answers an hour, v4 has v2 as its shadow. Each
        has the iris rows as its drift reference, as v1 has its training split."""
        _, trees = load_model("iris", 1)
        trees.classes_ = np.array(NAMES)  # its columns named as v1's manifest names them
        challenger = RandomForestClassifier(random_state=1).fit(IRIS.data,
                                                                IRIS.target_names[IRIS.target])
        for version, estimator in ((CHALLENGER, challenger), (CACHED, trees), (SHADOWED, trees)):
            document = self.admin.upload("iris", estimator, IRIS_FEATURES, reference_rows=ROWS)
            assert document["version"] == version, document
        self.admin.patch_model(self.admin.model("iris", PLAIN)["_id"], aliases=["production"])
        self.admin.patch_model(self.admin.model("iris", CACHED)["_id"], cache_seconds=3600)
        self.admin.patch_model(self.admin.model("iris", SHADOWED)["_id"], shadow=CHALLENGER)

    def fresh_rows(self, count):
        """Iris rows, each made new by a step of 1e-7 in its first feature: the cache has
        never seen them."""
        rows = []
        for index in range(count):
            row = list(ROWS[index % len(ROWS)])
            row[0] = round(row[0] + (self.fresh + index + 1) * 1e-7, 7)
            rows.append(row)
        self.fresh += count
        return rows

    def warm_up(self):
        """Each worker loads v2-v4 (its first job of each), every iris row is in the cache
        for v3, the shadow is seen; then a second of each one-row kind."""
        for version in (PLAIN, CACHED, SHADOWED):
            self.client.submit("iris", self.fresh_rows(self.args.warm_rows), version=version,
                               per_request=500)
        time.sleep(1)  # the last answers' cache writes follow their announcement

        def all_hits():
            ids = [item["prediction"] for item in self.client.submit("iris", ROWS, CACHED)]
            return self.db.predictions.count_documents(
                {"_id": {"$in": [ObjectId(i) for i in ids]},
                 "cached": True}) == len(ROWS)
        until(all_hits, timeout=30, pause=1, what="every iris row answered from the cache")
        assert self.db.predictions.count_documents({"version": SHADOWED,
                                                    "shadow.version": CHALLENGER}) > 0
        for call in self.calls.values():
            run_for(1, 4, call, ROWS)
        pipeline.clear(self.db)

    # -- the runs ----------------------------------------------------------------------

    def sequential(self, kind):
        if kind == "model alone":
            timings = raw_model_ms(self.args.sequential)
            return {"kind": kind, "rows": len(timings), **latency_summary(timings)}
        call = self.calls[kind]
        commands = redis_commands(self.redis)
        with requests.Session() as session, self.meter() as cpu:
            timings, answered = [], []
            for index in range(self.args.sequential):
                sent, started = time.time(), time.perf_counter()
                body = call(session, ROWS[index % len(ROWS)])
                timings.append(time.perf_counter() - started)
                answered.append((sent, time.time(), body))
        result = {"kind": kind, "rows": len(timings), **latency_summary(timings),
                  "cpu_ms_per_row": ms_per_row(cpu.used, len(timings)),
                  # the queue's Redis, less the INFO that reads the count
                  "redis_commands_per_row": round(
                      (redis_commands(self.redis) - commands - 1) / len(timings), 1)}
        if kind == "create and wait":
            result["stages_ms"] = self.stages(answered)
        return result

    def stages(self, answered):
        """Where a row's time went, median ms of each stage, from the client's clock, the
        prediction's stamps (ms) and its RQ job's (the same machine's clock)."""
        documents = {str(d["_id"]): d for d in self.db.predictions.find(
            {"_id": {"$in": [ObjectId(body["prediction"]) for _, _, body in answered]}},
            {"queued_at": 1, "started_at": 1, "finished_at": 1, "job": 1})}
        stages = {name: [] for name in STAGES}
        for sent, received, body in answered:
            document = documents[body["prediction"]]
            job = Job.fetch(document["job"], connection=self.redis)
            points = [sent, *(stamp.replace(tzinfo=timezone.utc).timestamp() for stamp in (
                document["queued_at"], job.enqueued_at, document["started_at"],
                document["finished_at"])), received]
            for name, start, end in zip(STAGES, points, points[1:]):
                stages[name].append((end - start) * 1000)
        return {name: round(statistics.median(values), 2) for name, values in stages.items()}

    def concurrent(self, kind):
        pipeline.clear(self.db)
        before = self.db.predictions.estimated_document_count()
        with self.meter() as cpu:
            latencies, wall = run_for(self.args.seconds, self.args.clients, self.calls[kind],
                                      ROWS)
        result = {"kind": kind, "clients": self.args.clients, "rows": len(latencies),
                  "seconds": round(wall, 2), "rows_per_s": round(len(latencies) / wall, 1),
                  **latency_summary(latencies),
                  "cpu_ms_per_row": ms_per_row(cpu.used, len(latencies))}
        if kind == "cache hit":
            result["cached_share"] = round(self.db.predictions.count_documents(
                {"cached": True}) / len(latencies), 4)
        elif kind != "naive":
            assert self.db.predictions.estimated_document_count() - before == len(latencies)
        return result

    def bulk(self, kind):
        version = BULK_VERSION[kind]
        rows = self.fresh_rows(self.args.bulk_rows)
        with self.meter() as cpu:
            result = pipeline.bulk_throughput(
                f"{self.stack.url}/api/v1", self.token, self.db, self.redis, "iris", rows,
                self.args.bulk_size, settled=cpu.stop, fields={"version": version})
        cached = self.db.predictions.count_documents({"cached": True})
        shadowed = self.db.predictions.count_documents({"shadow.version": CHALLENGER})
        assert cached == 0, f"{cached} rows of new values answered from the cache"
        assert shadowed == (len(rows) if version == SHADOWED else 0), shadowed
        return {"kind": kind, "version": version, "rows": len(rows),
                "rows_per_s": result["rows_per_s"], "seconds": result["seconds"],
                "post_seconds": result["post_seconds"],
                "cpu_ms_per_row": ms_per_row(cpu.used, len(rows))}


def turned(kinds, round_index):
    """The kinds in this round's order: each round starts one further along."""
    shift = round_index % len(kinds)
    return list(kinds[shift:]) + list(kinds[:shift])


def wait_for_quiet(limit, longest):
    """Until the machine's 1-minute load average is below `limit`, `longest` s at most."""
    deadline = time.monotonic() + longest
    while limit and os.getloadavg()[0] >= limit and time.monotonic() < deadline:
        time.sleep(5)


def measure(bench, args):
    skip = set(filter(None, args.skip.split(",")))
    results = {"sequential": [], "concurrent": [], "bulk": []}
    for round_index in range(args.rounds):
        groups = []
        if "sequential" not in skip:
            groups.append([("sequential", kind, bench.sequential)
                           for kind in turned(("model alone",) + ONE_ROW, round_index)])
        if "concurrent" not in skip:
            groups.append([("concurrent", kind, bench.concurrent)
                           for kind in turned(ONE_ROW, round_index)])
        if "bulk" not in skip:
            groups.append([("bulk", kind, bench.bulk) for kind in turned(BULK, round_index)])
        for steps in groups:
            wait_for_quiet(args.quiet, args.quiet_wait)
            for what, kind, run in steps:
                load = round(os.getloadavg()[0], 2)  # what else ran on the machine
                result = {"round": round_index + 1, "load": load, **run(kind)}
                results[what].append(result)
                print(json.dumps({"run": what, **result}), flush=True)
    pipeline.clear(bench.db)
    return results


# -- the report ---------------------------------------------------------------------------

def of(runs, kind, field):
    return [run[field] for run in runs if run["kind"] == kind]


def ratios(runs, kind, against, field="rows_per_s"):
    """Round by round, kind's field over against's (the two ran in the same round)."""
    by_round = {}
    for run in runs:
        by_round.setdefault(run["round"], {})[run["kind"]] = run[field]
    return [round(r[kind] / r[against], 3) for r in by_round.values()
            if r.get(kind) and r.get(against)]


def spread(values, digits=2):
    if not values:
        return "–"
    return (f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-"
            f"{max(values):.{digits}f})")


def targets(results):
    """[(what, target, measured, met)]: met by the median of the rounds."""
    rows = []
    concurrent, sequential, bulk = results["concurrent"], results["sequential"], results["bulk"]
    if concurrent:
        wait = ratios(concurrent, "create and wait", "naive")
        p99 = of(concurrent, "create and wait", "p99_ms")
        rows.append(("16 one-row clients, create and wait / naive rows/s", ">= 0.8",
                     spread(wait), bool(wait) and statistics.median(wait) >= 0.8))
        rows.append(("16 one-row clients, create and wait p99", "<= 150 ms",
                     spread(p99, 1) + " ms", bool(p99) and statistics.median(p99) <= 150))
        hits = ratios(concurrent, "cache hit", "naive")
        rows.append(("16 one-row clients, cache hits / naive rows/s", ">= 1.0", spread(hits),
                     bool(hits) and statistics.median(hits) >= 1.0))
    if sequential:
        over = [run["p50_ms"] - alone for alone, run in zip(
            of(sequential, "model alone", "p50_ms"),
            [r for r in sequential if r["kind"] == "create and wait"])]
        rows.append(("one row idle, create and wait p50 - model alone p50", "<= 8 ms",
                     spread(over, 1) + " ms", bool(over) and statistics.median(over) <= 8))
    if bulk:
        cache = ratios(bulk, "cache on, every row a miss", "cache off, no shadow")
        shadow = ratios(bulk, "shadow", "cache off, no shadow")
        rows.append(("bulk, cache on (all misses) / cache off", ">= 0.95", spread(cache, 3),
                     bool(cache) and statistics.median(cache) >= 0.95))
        rows.append(("bulk, shadow / no shadow", ">= 0.8", spread(shadow, 3),
                     bool(shadow) and statistics.median(shadow) >= 0.8))
    return rows


def cpu_bound(run, cores):
    """Rows/s if the cores did nothing but this run's work: cores over CPU s per row."""
    return round(cores * 1000 / sum(run["cpu_ms_per_row"].values()), 1)


PARTS = ("api", "workers", "redis", "cache", "database", "naive", "bench client")


def cpu_cells(run):
    ms = run.get("cpu_ms_per_row", {})
    return " | ".join(f"{ms.get(part, 0):.2f}" for part in PARTS)


def markdown(result):
    machine, results = result["machine"], result["results"]
    loads = [run["load"] for runs in results.values() for run in runs]
    lines = [f"Measured {machine['date']} on {machine['cores']} cores, {machine['database']}, "
             f"{result['rounds']} rounds (median, then the rounds' least-most); the machine's "
             f"load average {min(loads):.1f}-{max(loads):.1f} as the runs began.", ""]
    if results["sequential"]:
        lines += ["**One row at a time, idle stack** (ms)", "",
                  "| kind | p50 | p99 | rounds' p50s | Redis commands a row |",
                  "|---|---:|---:|---|---:|"]
        for kind in ("model alone",) + ONE_ROW:
            p50, p99 = of(results["sequential"], kind, "p50_ms"), of(results["sequential"],
                                                                      kind, "p99_ms")
            commands = of(results["sequential"], kind, "redis_commands_per_row") \
                if kind != "model alone" else []
            lines.append(f"| {kind} | {statistics.median(p50):.1f} | "
                         f"{statistics.median(p99):.1f} | {', '.join(f'{v:.1f}' for v in p50)} | "
                         f"{statistics.median(commands) if commands else '–'} |")
        traced = of(results["sequential"], "create and wait", "stages_ms")
        lines += ["", "Create and wait, one row, where its time goes (ms, the rounds' medians): "
                  + "; ".join(f"{name} {statistics.median(t[name] for t in traced):.1f}"
                              for name in STAGES) + "."]
    if results["concurrent"]:
        lines += ["", f"**{results['concurrent'][0]['clients']} clients, one row per request** "
                  "(CPU-bound: the rows/s the machine's cores allow at the run's CPU per row, "
                  "all processes, this client's included)", "",
                  "| kind | rows/s | / naive | p50 ms | p99 ms | CPU-bound rows/s | / naive |",
                  "|---|---|---|---|---|---|---|"]
        runs = [{**run, "cpu_bound": cpu_bound(run, machine["cores"])}
                for run in results["concurrent"]]
        for kind in ONE_ROW:
            lines.append(f"| {kind} | {spread(of(runs, kind, 'rows_per_s'), 0)} | "
                         f"{spread(ratios(runs, kind, 'naive'))} | "
                         f"{spread(of(runs, kind, 'p50_ms'), 1)} | "
                         f"{spread(of(runs, kind, 'p99_ms'), 1)} | "
                         f"{spread(of(runs, kind, 'cpu_bound'), 0)} | "
                         f"{spread(ratios(runs, kind, 'naive', 'cpu_bound'))} |")
    if results["bulk"]:
        lines += ["", "**Bulk** (rows/s, first POST to last `done`)", "",
                  "| kind | rows/s | / cache off, no shadow |", "|---|---|---|"]
        for kind in BULK:
            runs = results["bulk"]
            lines.append(f"| {kind} | {spread(of(runs, kind, 'rows_per_s'), 0)} | "
                         f"{spread(ratios(runs, kind, 'cache off, no shadow'), 3)} |")
    lines += ["", "**CPU per row** (ms; median run of each kind)", "",
              "| run | " + " | ".join(PARTS) + " |", "|---|" + "---:|" * len(PARTS)]
    for what, kinds in (("sequential", ONE_ROW), ("concurrent", ONE_ROW), ("bulk", BULK)):
        for kind in kinds:
            runs = [r for r in results[what] if r["kind"] == kind]
            if runs:
                middle = sorted(runs, key=lambda r: r.get("rows_per_s") or r["p50_ms"])[
                    len(runs) // 2]
                lines.append(f"| {what}: {kind} | {cpu_cells(middle)} |")
    lines += ["", "**Targets**", "", "| what | target | this run | met |", "|---|---|---|---|"]
    lines += [f"| {what} | {target} | {measured} | {'yes' if met else 'no'} |"
              for what, target, measured, met in targets(results)]
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-answers-") as data_dir:
        stack = Stack(data_dir, port=services.free_port(), workers=2,
                      extra_env=NO_RATE_LIMIT)
        stack.start()
        try:
            with NaiveEndpoint(2, Path(data_dir) / "logs") as naive:
                naive.warm_up([{"name": "iris", "features": IRIS_FEATURES}])
                bench = Bench(stack, naive, args)
                bench.register_versions()
                bench.warm_up()
                machine = describe(stack)
                print(f"bench.answers: {args.rounds} rounds", file=sys.stderr, flush=True)
                results = measure(bench, args)
        finally:
            stack.stop()
    result = {"machine": machine, "rounds": args.rounds, "clients": args.clients,
              "seconds": args.seconds, "bulk_rows": args.bulk_rows, "results": results}
    table = markdown(result)
    write_results(args.output, "answers", result, table)


if __name__ == "__main__":
    main()
