"""`python -m bench.loop` (`make bench-loop`): retraining beside the rows being served.

Starts its own stack (2 RQ workers, as `make bench`). Registers over the API
`iris_pipeline` v1, a scikit-learn Pipeline (StandardScaler, then a random forest of 100
trees) fitted on iris; serves it `--labelled` (10,000) rows (iris rows with a little
noise, 1,000 per create-and-wait POST) and labels each with its true class (POST
/feedback, 1,000 per request). Then `--rounds` (3) times, in turn:

- idle: one client sends single rows to v1 (create and wait: `POST /inputs` with
  `Prefer: wait=10`), back to back, for `--idle-seconds` (10);
- training: `POST /models/{v1}/retrain {"window": "all", "holdout": 0.2}`, the same
  client going on until `GET /trainings/{id}` (long-polled) answers `done`.

Reports each round's training (seconds from the POST to `done` seen, its queue wait and
fit as the trainings document records them, rows, holdout figures), the single rows' p50
and p99 idle and during the training, and the CPU of each process during the training.
Prints a JSON line per round and a table; writes bench/results/loop.json and loop.md."""
import argparse
import json
import statistics
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import requests
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bench import NO_RATE_LIMIT
from devstack import services
from devstack.stack import Stack

from .admin import IRIS_FEATURES, Api
from .load import latency_summary
from .machine import CpuMeter, describe, ms_per_row, stack_processes
from .report import write_results

RESULTS = Path(__file__).resolve().parent / "results"
NAME = "iris_pipeline"
IRIS = load_iris()
EVE_DATE = "%a, %d %b %Y %H:%M:%S GMT"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.loop")
    parser.add_argument("--labelled", type=int, default=10_000,
                        help="rows served and labelled before the trainings")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle-seconds", type=float, default=10)
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def labelled_rows(count, seed=0):
    """Iris rows with noise (sd 0.05, 3 decimals), and each one's true class."""
    noise = np.random.default_rng(seed).normal(0, 0.05, (count, 4))
    picks = np.arange(count) % len(IRIS.data)
    rows = np.round(IRIS.data[picks] + noise, 3).tolist()
    return rows, IRIS.target_names[IRIS.target[picks]].tolist()


class SingleRows:
    """One client sending single rows to v1 back to back, from a thread, each timed."""

    def __init__(self, url, token):
        self.url = f"{url}/api/v1/inputs"
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "Prefer": "wait=10"})
        self.rows, _ = labelled_rows(1000, seed=1)

    def run(self, stop):
        """Until stop is set; the latencies in seconds."""
        timings, index = [], 0
        while not stop.is_set():
            started = time.perf_counter()
            response = self.session.post(self.url, timeout=60, json={
                "model": NAME, "version": 1, "features": self.rows[index % len(self.rows)]})
            assert response.status_code == 201 and response.json()["status"] == "done", \
                response.text[:300]
            timings.append(time.perf_counter() - started)
            index += 1
        return timings

    def for_seconds(self, seconds):
        stop = threading.Event()
        threading.Timer(seconds, stop.set).start()
        return self.run(stop)


def train_once(stack, admin, model_id, singles):
    """POST retrain, single rows until the training is seen done; the round's figures."""
    stop, timings = threading.Event(), []
    sender = threading.Thread(target=lambda: timings.extend(singles.run(stop)))
    with CpuMeter(stack_processes(stack)) as cpu:
        sender.start()
        time.sleep(0.5)  # the single rows under way before the training starts
        posted = time.perf_counter()
        training = admin.call("POST", f"/models/{model_id}/retrain", expected=(202,),
                              json={"window": "all", "holdout": 0.2})
        while training["status"] not in ("done", "failed"):
            training = admin.call("GET", f"/trainings/{training['_id']}",
                                  headers={"Prefer": "wait=60"}, timeout=90)
        seconds = time.perf_counter() - posted
        stop.set()
        sender.join()
    assert training["status"] == "done", training
    stamps = {k: datetime.strptime(training[k], EVE_DATE) for k in
              ("_created", "started_at", "finished_at")}
    return {"training_seconds": round(seconds, 2),
            "queued_seconds": (stamps["started_at"] - stamps["_created"]).total_seconds(),
            "running_seconds": (stamps["finished_at"] - stamps["started_at"]).total_seconds(),
            "rows": training["rows"], "holdout_rows": training["holdout_rows"],
            "version": training["version"],
            "challenger_accuracy": training["metrics"]["challenger"]["accuracy"],
            "champion_accuracy": training["metrics"]["champion"]["accuracy"],
            "during": {"rows": len(timings), **latency_summary(timings)},
            "cpu_ms_per_training_second": ms_per_row(cpu.used, seconds)}


def markdown(result):
    lines = [f"Measured {result['machine']['date']} on {result['machine']['cores']} cores, "
             f"{result['machine']['database']}; {result['labelled']:,} labelled rows "
             f"(served and labelled in {result['setup']['serve_seconds']} s and "
             f"{result['setup']['label_seconds']} s).", "",
             "| round | training s (queued + running) | rows / holdout | single rows idle: "
             "p50 / p99 ms | during: p50 / p99 ms (rows) | during p50 / idle p50 |",
             "|---:|---|---|---|---|---:|"]
    for run in result["rounds"]:
        idle, during = run["idle"], run["during"]
        lines.append(f"| {run['round']} | {run['training_seconds']} ({run['queued_seconds']:.0f}"
                     f" + {run['running_seconds']:.0f}) | {run['rows']:,} / "
                     f"{run['holdout_rows']:,} | {idle['p50_ms']} / {idle['p99_ms']} | "
                     f"{during['p50_ms']} / {during['p99_ms']} ({during['rows']}) | "
                     f"{run['p50_ratio']} |")
    seconds = [run["training_seconds"] for run in result["rounds"]]
    ratios = [run["p50_ratio"] for run in result["rounds"]]
    lines += ["", "| target | this run | met |", "|---|---|---|",
              f"| training done within 30 s of the POST | {max(seconds)} s at most | "
              f"{'yes' if max(seconds) <= 30 else 'no'} |",
              f"| single rows' p50 during it <= 2 x idle | {statistics.median(ratios)} "
              f"({min(ratios)}-{max(ratios)}) | "
              f"{'yes' if statistics.median(ratios) <= 2 else 'no'} |"]
    cpu = result["rounds"][len(result["rounds"]) // 2]["cpu_ms_per_training_second"]
    lines += ["", "CPU during the training (ms per second, by process; round "
              f"{len(result['rounds']) // 2 + 1}): " + ", ".join(f"{k} {v:.0f}"
                                                                for k, v in cpu.items())]
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-loop-") as data_dir:
        stack = Stack(data_dir, port=services.free_port(), workers=2,
                      extra_env=NO_RATE_LIMIT).start()
        try:
            machine = describe(stack)
            admin = Api(stack.url, stack.create_token("admin", "bench-admin"))
            estimator = make_pipeline(StandardScaler(), RandomForestClassifier(
                n_estimators=args.trees, random_state=0)).fit(
                IRIS.data, IRIS.target_names[IRIS.target])
            model = admin.upload(NAME, estimator, IRIS_FEATURES,
                                 reference_rows=IRIS.data.tolist())
            rows, actuals = labelled_rows(args.labelled)
            started = time.perf_counter()
            items = admin.submit(NAME, rows, version=1)
            served = time.perf_counter()
            admin.label([item["prediction"] for item in items], actuals)
            labelled = time.perf_counter()
            setup = {"serve_seconds": round(served - started, 1),
                     "label_seconds": round(labelled - served, 1)}
            print(json.dumps(setup), flush=True)
            singles = SingleRows(stack.url, stack.create_token("client", "single-rows"))
            singles.for_seconds(2)  # warm
            rounds = []
            for index in range(args.rounds):
                idle = singles.for_seconds(args.idle_seconds)
                run = {"round": index + 1, "idle": {"rows": len(idle), **latency_summary(idle)},
                       **train_once(stack, admin, model["_id"], singles)}
                run["p50_ratio"] = round(run["during"]["p50_ms"] / run["idle"]["p50_ms"], 2)
                rounds.append(run)
                print(json.dumps(run), flush=True)
        finally:
            stack.stop()
    result = {"machine": machine, "labelled": args.labelled, "setup": setup, "rounds": rounds}
    table = markdown(result)
    write_results(args.output, "loop", result, table)


if __name__ == "__main__":
    main()
