"""Scale out (API.md "Scale out"): two hosts, as two network namespaces. Host A runs
`make run` on its own address (LISTEN_HOST) with one worker; host B runs `make worker`
with two, knowing only the URIs of A's stack.json. B's link is cut for 40 s while its
workers are inside a model call (the model is iris's, PACE_SECONDS slower), then
restored: A's worker takes B's jobs over and finishes them; B's workers, back, write
nothing over them. Every row is done once, as scikit-learn computes it, by workers of
both hosts, the batch's counters and the live counts exact. From B, nothing answers
without the credentials."""
import json
import os
import shutil
import subprocess
import time
from datetime import timezone

import numpy as np
import psutil
import pymongo
import pytest
import requests
from rq import Worker

from core.connections import redis_from_url
from core.job import PredictionJob
from devstack import services
from devstack.hosts import stop, two_hosts
from service.models.catalog import ARTIFACTS_DIR, load_model

from .poison import Paced
from .test_faults import add_model

# alone: both of host B's workers are caught inside a model call of 1.5 s
pytestmark = [pytest.mark.e2e, pytest.mark.alone]

ROWS = 20_000
IRIS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
CLASSES = ["setosa", "versicolor", "virginica"]
MODEL = "paced_iris"
PACE_SECONDS = 1.5
CUT_SECONDS = 40
QUICK = {"MAINTENANCE_SECONDS": "3", "RECONCILE_STALE_SECONDS": "10"}
PYTHON = str(services.ROOT / ".venv" / "bin" / "python")


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def read_json(path):
    return json.loads(path.read_text())


PROBE = r"""
import json, socket, sys, pymongo
host, redis_port, mongo_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
answers = {}
with socket.create_connection((host, redis_port), timeout=5) as redis:  # as redis-cli would
    redis.sendall(b"SET x 1\r\n")
    answers["redis"] = redis.recv(200).decode()
db = pymongo.MongoClient(f"mongodb://{host}:{mongo_port}/", serverSelectionTimeoutMS=5000,
                         directConnection=True).predictions
commands = {"find": {"find": "predictions"}, "insert": {"insert": "x", "documents": [{}]},
            "update": {"update": "predictions", "updates": [{"q": {}, "u": {"$set": {"a": 1}}}]},
            "delete": {"delete": "predictions", "deletes": [{"q": {}, "limit": 0}]},
            "count": {"count": "predictions"}, "listCollections": {"listCollections": 1},
            "aggregate": {"aggregate": "predictions", "pipeline": [], "cursor": {}},
            "listDatabases": {"listDatabases": 1}, "drop": {"drop": "predictions"}}
for name, command in commands.items():
    try:
        db.command(command)
        answers[name] = "answered"
    except pymongo.errors.OperationFailure as exc:
        answers[name] = exc.code
print(json.dumps(answers))
"""


def probe_without_credentials(host, a_address, stack):
    redis_port = stack["redis_url"].rsplit(":", 1)[1].split("/")[0]
    mongo_port = stack["mongo_uri"].rsplit(":", 1)[1].split("/")[0]
    answer = subprocess.run(host.command([PYTHON, "-c", PROBE, a_address, redis_port,
                                          mongo_port]), capture_output=True, text=True,
                            timeout=60, cwd=services.ROOT)
    assert answer.returncode == 0, answer.stderr
    return json.loads(answer.stdout)


def audit_lines(tmp_path):
    """The prediction_written audit lines of every worker of both hosts."""
    for path in [*(tmp_path / "a" / "logs").glob("*worker*.log"),
                 *(tmp_path / "b" / "logs").glob("*worker*.log")]:
        for line in path.read_text(errors="replace").splitlines():
            if '"prediction_written"' in line:
                yield json.loads(line)


def iris_rows(n):
    rng = np.random.default_rng(27)
    low, high = np.array([4.3, 2.0, 1.0, 0.1]), np.array([7.9, 4.4, 6.9, 2.5])
    return np.round(rng.uniform(low, high, size=(n, 4)), 2)


def jobs_held(connection, hostname):
    """{worker: (its pid, the job it runs)} of the host's workers running a job now."""
    return {w.name: (w.pid, job) for w in Worker.all(connection=connection)
            if w.hostname == hostname and (job := w.get_current_job_id()) is not None}


def all_inside_the_model(connection, hostname):
    """jobs_held, when every one of them started less than 0.6 x PACE_SECONDS ago (so
    none will reach its write-back within the next 0.5 s); else None."""
    held = jobs_held(connection, hostname)
    for _, job_id in held.values():
        started = PredictionJob.fetch(job_id, connection=connection).started_at
        if started is None or time.time() - started.replace(
                tzinfo=started.tzinfo or timezone.utc).timestamp() > PACE_SECONDS * 0.6:
            return None
    return held or None


def artifacts_with_paced_iris(directory):
    shutil.copytree(ARTIFACTS_DIR, directory)
    _, iris = load_model("iris", 1)
    add_model(directory, MODEL, Paced(iris, PACE_SECONDS), features=IRIS, classes=CLASSES)
    return directory


def moved_on(connection, name, pid, job):
    """The worker is past the job it held: it ended it (and took another or none), or
    its process is gone."""
    worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + name,
                                connection=connection)
    return (worker is None or not psutil.pid_exists(pid)
            or worker.get_current_job_id() != job)


def test_workers_on_a_second_host_survive_its_link_cut_for_40_s(tmp_path):
    with two_hosts() as (a, b):
        env_a = {**os.environ, **QUICK, "DATA_DIR": str(tmp_path / "a"), "PORT": "5000",
                 "LISTEN_HOST": a.address, "WORKERS": "1",
                 "ARTIFACTS_DIR": str(artifacts_with_paced_iris(tmp_path / "artifacts"))}
        for name in ("MONGO_URI", "REDIS_URL"):
            env_a.pop(name, None)
        run = a.start(["make", "--no-print-directory", "run"], env_a, tmp_path / "a.log")
        worker = None
        try:
            log = tmp_path / "a.log"
            wait_for(lambda: "Ctrl-C stops everything." in log.read_text(errors="replace"),
                     180, "make run on host A")
            stack_file = tmp_path / "a" / "stack.json"
            stack = read_json(stack_file)
            assert f"MONGO_URI='{stack['mongo_uri']}'" in log.read_text()  # how B joins
            assert stack_file.stat().st_mode & 0o777 == 0o600
            assert (tmp_path / "a" / "credentials.json").stat().st_mode & 0o777 == 0o600
            assert stack["api_url"] == f"http://{a.address}:5000"

            # host B, without the credentials: nothing but the handshake answers
            answers = probe_without_credentials(b, a.address, stack)
            assert "NOAUTH" in answers.pop("redis")
            assert answers == dict.fromkeys(answers, 13), answers  # Unauthorized

            env_b = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **QUICK,
                     "DATA_DIR": str(tmp_path / "b"), "WORKERS": "2",
                     "MONGO_URI": stack["mongo_uri"], "REDIS_URL": stack["redis_url"]}
            worker = b.start(["make", "--no-print-directory", "worker"], env_b,
                             tmp_path / "b.log")
            token = subprocess.run(
                a.command([PYTHON, "-m", "service", "create-token", "--role", "admin",
                           "--name", "scale-out"]), cwd=services.ROOT, check=True, text=True,
                env={"PATH": os.environ["PATH"], "DATA_DIR": env_a["DATA_DIR"]},
                capture_output=True, timeout=60).stdout.strip().splitlines()[-1]
            with a.inside():
                run_the_file_through_a_cut(a, b, stack, token, tmp_path)
        finally:
            left = [stop(p) for p in (worker, run) if p is not None]
        assert left == [[]] * len(left), "processes left after SIGTERM"


def run_the_file_through_a_cut(a, b, stack, token, tmp_path):
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {token}"
    base = f"{stack['api_url']}/api/v1"
    connection = redis_from_url(stack["redis_url"])
    db = pymongo.MongoClient(stack["mongo_uri"], tz_aware=True).get_default_database()
    try:
        # the API's health counts the workers of both hosts: A's two, B's two
        wait_for(lambda: api.get(f"{base}/health", timeout=10).json()["workers"] == 4, 120,
                 "4 workers")
        rows = iris_rows(ROWS)
        body = ",".join(IRIS) + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n"
        created = api.post(f"{base}/batches?model={MODEL}", data=body.encode(), timeout=120,
                           headers={"Content-Type": "text/csv"})
        assert created.status_code == 201, created.text
        batch_id = created.json()["_id"]

        held = wait_for(lambda: all_inside_the_model(connection, b.name), 120,
                        "host B's workers inside a model call")
        b.cut()
        held_rows = {pid for _, job in held.values()
                     for pid in PredictionJob.fetch(job, connection=connection).args[2]}
        cut_at = time.monotonic()
        time.sleep(CUT_SECONDS)
        b.restore()
        batch = wait_for(lambda: (lambda d: d if d["status"] == "done" else None)(
            api.get(f"{base}/batches/{batch_id}", timeout=10).json()), 240, "the batch done")
        assert time.monotonic() - cut_at < CUT_SECONDS + 240

        # B's workers back, past the jobs they held at the cut (taken over by A meanwhile)
        wait_for(lambda: all(moved_on(connection, name, pid, job)
                             for name, (pid, job) in held.items()), 180,
                 "host B's workers past the jobs they held")

        assert (batch["total"], batch["done"], batch["failed"], batch["cancelled"]) == \
            (ROWS, ROWS, 0, 0), batch
        assert api.get(f"{base}/batches/{batch_id}", timeout=10).json()["done"] == ROWS

        _, estimator = load_model("iris", 1)  # what paced_iris answers, later
        expected = estimator.predict_proba(rows)
        records = [json.loads(line) for line in api.get(
            f"{base}/batches/{batch_id}/results?format=jsonl", timeout=120).text.splitlines()]
        assert len(records) == ROWS
        assert all(r["status"] == "done" for r in records)
        classes = list(records[0]["result"]["probabilities"])
        assert [[r["result"]["probabilities"][c] for c in classes] for r in records] == \
            [[float(p) for p in ps] for ps in expected]

        writer = {str(p["_id"]): p["worker"] for p in db.predictions.find(
            {"batch": db.batches.find_one()["_id"]}, {"worker": 1})}
        assert {w.split(":")[0] for w in writer.values()} == {a.name, b.name}
        # the jobs B held at the cut were taken over and finished by A; B, back, wrote
        # nothing over them
        logs = "".join(path.read_text(errors="replace") for path in
                       (tmp_path / "a" / "logs").glob("*worker*.log"))
        assert "reconciled predictions" in logs
        assert held_rows and {writer[pid].split(":")[0] for pid in held_rows} == {a.name}
        # finished once: one audit line per row, across both hosts, each naming the writer
        # the row records; and each row counted once in its version's live counts
        written = [(line["prediction"], line["worker"]) for line in audit_lines(tmp_path)]
        assert len(written) == len({pid for pid, _ in written}) == ROWS
        assert all(writer[pid] == worker for pid, worker in written)
        [model] = api.get(f"{base}/models", params={"where": json.dumps({"name": MODEL})},
                          timeout=10).json()["_items"]
        quality = api.get(f"{base}/models/{model['_id']}/quality?window=all", timeout=10).json()
        assert quality["predictions"] == ROWS
    finally:
        db.client.close()
        connection.close()
