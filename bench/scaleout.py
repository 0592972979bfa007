"""`python -m bench.scaleout` (root): bulk rows/s with the two prediction workers on a
second host, against the same two on the API's host, side by side in one run: the cost
of the network hop and of the credentials.

Two network namespaces stand for two hosts (devstack/hosts.py). In turn, `--rounds`
times, each setup from a fresh DATA_DIR:
- `one-host`: on host A, `make run` with WORKERS=2 (INTERACTIVE_WORKERS=0), on
  loopback, no credentials;
- `two-hosts`: on host A, `make run` with LISTEN_HOST on its address and WORKERS=0
  (credentials on); on host B, `make worker` with WORKERS=2 and only the URIs of A's
  stack.json.
A client on host A uploads a CSV of `--rows` iris rows (50,000) and waits for the batch
to be done: rows/s is the rows over the seconds from the upload's start to `done`.
Writes bench/results/scaleout.json."""
import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from cli.client import Client
from devstack import services
from devstack.hosts import stop, two_hosts

from .batches import write_csv

RESULTS = Path(__file__).resolve().parent / "results"
PYTHON = str(services.ROOT / ".venv" / "bin" / "python")


def wait_for_banner(log, timeout=180):
    deadline = time.monotonic() + timeout
    while "Ctrl-C stops everything." not in log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"make run did not start: see {log}")
        time.sleep(0.2)


def admin_token(host, data_dir):
    return subprocess.run(
        host.command([PYTHON, "-m", "service", "create-token", "--role", "admin", "--name",
                      "bench"]), cwd=services.ROOT, check=True, text=True, capture_output=True,
        env={"PATH": os.environ["PATH"], "DATA_DIR": str(data_dir)}).stdout.split()[-1]


def one_file(a, b, setup, csv_path, rows, tmp):
    """Starts the setup, uploads the file, waits for it; returns seconds to done."""
    data = tmp / f"{setup}-{time.monotonic_ns()}"
    env = {k: v for k, v in os.environ.items() if k not in ("MONGO_URI", "REDIS_URL")}
    env.update(DATA_DIR=str(data / "a"), PORT="5000", INTERACTIVE_WORKERS="0",
               WORKERS="2" if setup == "one-host" else "0",
               LISTEN_HOST="127.0.0.1" if setup == "one-host" else a.address)
    processes = [a.start(["make", "--no-print-directory", "run"], env, tmp / "a.log")]
    try:
        wait_for_banner(tmp / "a.log")
        stack = json.loads((data / "a" / "stack.json").read_text())
        if setup == "two-hosts":
            processes.append(b.start(["make", "--no-print-directory", "worker"], {
                "PATH": os.environ["PATH"], "DATA_DIR": str(data / "b"), "WORKERS": "2",
                "MONGO_URI": stack["mongo_uri"], "REDIS_URL": stack["redis_url"]},
                tmp / "b.log"))
        token = admin_token(a, data / "a")
        with a.inside():
            deadline = time.monotonic() + 120
            while requests.get(f"{stack['api_url']}/api/v1/health", timeout=10).json()[
                    "workers"] != 2:
                assert time.monotonic() < deadline, "the 2 workers did not register"
                time.sleep(0.2)
            client = Client(stack["api_url"], token, timeout=600)
            started = time.perf_counter()
            batch = client.submit_file(csv_path, "iris")
            batch = client.wait_batch(batch["_id"], timeout=3600)
            seconds = time.perf_counter() - started
        assert (batch["status"], batch["done"]) == ("done", rows), batch
        return seconds
    finally:
        for process in reversed(processes):
            stop(process)


def main():
    parser = argparse.ArgumentParser(prog="python -m bench.scaleout")
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS / "scaleout.json")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp, two_hosts() as (a, b):
        tmp = Path(tmp)
        write_csv(tmp / "rows.csv", args.rows)
        for _ in range(args.rounds):
            for setup in ("one-host", "two-hosts"):
                seconds = one_file(a, b, setup, tmp / "rows.csv", args.rows, tmp)
                runs.append({"setup": setup, "rows": args.rows, "seconds": round(seconds, 2),
                             "rows_per_s": round(args.rows / seconds)})
                print(json.dumps(runs[-1]), flush=True)
    pairs = [(one["rows_per_s"], two["rows_per_s"]) for one, two in zip(runs[::2], runs[1::2])]
    result = {"command": "python -m bench.scaleout " + " ".join(
        f"--{k} {v}" for k, v in (("rows", args.rows), ("rounds", args.rounds))),
        "runs": runs, "two_hosts_over_one": [round(two / one, 3) for one, two in pairs]}
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"two_hosts_over_one": result["two_hosts_over_one"]}))


if __name__ == "__main__":
    main()
