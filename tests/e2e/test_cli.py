"""The CLI against the real stack: submit a CSV, wait, export the joined results; find
the stack from the file `make run` writes; fail in one line when something is missing."""
import csv
import io
import os
import subprocess
import sys
import time

import pytest
import requests
from sklearn.datasets import load_iris

from cli import endpoints
from devstack import services
from devstack.services import ROOT
from service.models.catalog import load_model

pytestmark = pytest.mark.alone  # a failure said within 5 s

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def cli(stack, token, *args, stdin=None):
    env = {**os.environ, "PREDICTION_API_URL": stack.url, "PREDICTION_API_TOKEN": token}
    done = subprocess.run([sys.executable, "-m", "service", *args], input=stdin, env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done


def test_submit_a_file_as_a_batch_wait_and_get_the_results_file(stack, tmp_path):
    token = stack.create_token("client", "cli-user")
    data = load_iris().data
    path = tmp_path / "iris.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ref", *reversed(FEATURES)])  # by name, in any column order
        for index, row in enumerate(data):
            writer.writerow([f"row-{index}", *reversed(row.tolist())])

    submitted = cli(stack, token, "submit", str(path), "--model", "iris")
    [batch_id] = submitted.stdout.split()
    cli(stack, token, "wait", "--timeout", "120")  # all of this client's predictions

    out = tmp_path / "results.csv"
    waited = cli(stack, token, "submit", str(path), "--model", "iris", "--out", str(out))
    assert waited.stdout.split()[0] == batch_id  # the same file: the same batch
    assert "150/150" in waited.stderr and "done, 150 done, 0 failed" in waited.stderr
    rows = list(csv.DictReader(open(out, newline="")))
    assert [r["ref"] for r in rows] == [f"row-{i}" for i in range(150)]  # file order
    _, estimator = load_model("iris", 1)
    for row, features, expected in zip(rows, data, estimator.predict_proba(data).tolist()):
        assert row["status"] == "done"
        assert [float(row[f"p_{c}"]) for c in ("setosa", "versicolor", "virginica")] == expected
        assert [float(row[name]) for name in FEATURES] == features.tolist()

    exported = cli(stack, token, "export", "--format", "csv")  # the client's predictions
    exported_rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    # the same file submitted again is the same batch (its Idempotency-Key): 150 rows
    assert len(exported_rows) == 150 and {r["status"] for r in exported_rows} == {"done"}
    assert {r["ref"] for r in exported_rows} == {r["ref"] for r in rows}
    answer = requests.get(f"{stack.url}/api/v1/batches/{batch_id}", timeout=10,
                          headers={"Authorization": f"Bearer {token}"})
    assert (answer.json()["status"], answer.json()["done"]) == ("done", 150)


def clean_env(data_dir):
    """What a second terminal has: no MONGO_URI, REDIS_URL or API settings."""
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"),
            "DATA_DIR": str(data_dir)}


def run_cli(env, *args, timeout=60):
    return subprocess.run([sys.executable, "-m", "service", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def assert_one_line_failure(done, *expected):
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for text in expected:
        assert text in lines[0], lines[0]


def test_create_token_finds_the_running_stack_without_environment(stack):
    done = run_cli(clean_env(stack.data_dir), "create-token", "--role", "client",
                   "--name", "second-terminal")
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1]
    response = requests.get(f"{stack.url}/api/v1/predictions", timeout=10,
                            headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_submit_finds_the_api_from_the_stack_file(stack, tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n")
    env = {**clean_env(stack.data_dir), "PREDICTION_API_TOKEN": stack.create_token(
        "client", "stack-file-user")}
    done = run_cli(env, "submit", str(path), "--model", "iris")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.split()) == 1


def test_create_token_with_no_database_fails_fast_in_one_line(tmp_path):
    port = services.free_port()  # nothing listens there: a stale stack file
    endpoints.write_stack_file(tmp_path, f"mongodb://127.0.0.1:{port}/predictions",
                               "redis://127.0.0.1:1/0", "http://127.0.0.1:1")
    started = time.monotonic()
    done = run_cli(clean_env(tmp_path), "create-token", "--role", "client", "--name", "x")
    assert time.monotonic() - started < 5
    assert_one_line_failure(done, f"cannot reach MongoDB at mongodb://127.0.0.1:{port}",
                            "set MONGO_URI")


def test_api_commands_fail_in_one_line(stack, tmp_path):
    csv_file = tmp_path / "rows.csv"
    csv_file.write_text("sepal_length,sepal_width,petal_length,petal_width\n5.1,x,1.4,0.2\n")
    env = {**clean_env(stack.data_dir), "PREDICTION_API_TOKEN": "not-a-token"}
    assert_one_line_failure(run_cli(env, "submit", str(csv_file), "--model", "iris"),
                            "401")
    env["PREDICTION_API_TOKEN"] = stack.create_token("client", "one-line")
    assert_one_line_failure(run_cli(env, "submit", str(csv_file), "--model", "iris"),
                            "422", "not a finite number")
    assert_one_line_failure(run_cli(env, "submit", str(tmp_path / "missing.csv"), "--model",
                                    "iris"), "missing.csv")
    assert_one_line_failure(run_cli(env, "wait", "--url", f"http://127.0.0.1:"
                                    f"{services.free_port()}"), "cannot reach the API")
