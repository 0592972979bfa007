"""The CLI against the real stack: submit a CSV, wait, export the joined results."""
import csv
import io
import os
import subprocess
import sys

from sklearn.datasets import load_iris

from devstack.services import ROOT
from service.registry import load_model

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def cli(stack, token, *args, stdin=None):
    env = {**os.environ, "PREDICTION_API_URL": stack.url, "PREDICTION_API_TOKEN": token}
    done = subprocess.run([sys.executable, "-m", "service", *args], input=stdin, env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done


def test_submit_wait_export_round_trip(stack, tmp_path):
    token = stack.create_token("client", "cli-user")
    data = load_iris().data
    path = tmp_path / "iris.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ref", *reversed(FEATURES)])  # by name, in any column order
        for index, row in enumerate(data):
            writer.writerow([f"row-{index}", *reversed(row.tolist())])

    submitted = cli(stack, token, "submit", str(path), "--model", "iris")
    ids = submitted.stdout.split()
    assert len(ids) == 150 and "submitted" in submitted.stderr  # the progress bar
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(ids))

    waited = cli(stack, token, "wait", str(ids_file), "--timeout", "120")
    assert "150/150" in waited.stderr

    exported = cli(stack, token, "export", "--format", "csv", "--ids", str(ids_file))
    rows = {r["ref"]: r for r in csv.DictReader(io.StringIO(exported.stdout))}
    assert len(rows) == 150
    _, estimator = load_model("iris", 1)
    for index, expected in enumerate(estimator.predict_proba(data).tolist()):
        row = rows[f"row-{index}"]
        assert row["status"] == "done"
        assert [float(row[f"p_{c}"]) for c in ("setosa", "versicolor", "virginica")] == expected
        assert [float(row[name]) for name in FEATURES] == data[index].tolist()
