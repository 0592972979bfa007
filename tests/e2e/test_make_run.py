"""`python -m devstack run`, what `make run` starts: it prints a working admin token,
starts WORKERS workers and one of small submissions, restarts a worker that dies (and
ends what that worker forked), and leaves no process behind on SIGTERM."""
import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
import requests
from redis import Redis

from core.liveness import alive_key
from devstack import services


def read_until(process, marker, timeout=60):
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            time.sleep(0.05)
            continue
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError(f"no {marker!r} in output: {''.join(lines)}")


def stack_processes(data_dir: str) -> list[psutil.Process]:
    """Every process of the stack of `data_dir`: by the DATA_DIR each inherits, or, for
    Redis (which writes its title over its command line and environment), by its
    working directory inside it; the database names it on its command line. Not by
    ancestry: a process left behind has no parent of the stack."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            if process.environ().get("DATA_DIR") == data_dir or \
                    process.cwd().startswith(data_dir + os.sep) or \
                    any(data_dir + os.sep in arg for arg in process.cmdline()):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found


def live_worker_names(redis: Redis) -> set[str]:
    prefix = alive_key("")
    return {key.decode().removeprefix(prefix) for key in redis.scan_iter(alive_key("*"))}


@pytest.fixture
def make_run(tmp_path):
    port = services.free_port()
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data"), "PORT": str(port), "WORKERS": "1"}
    env.pop("MONGO_URI", None)
    env.pop("REDIS_URL", None)
    process = subprocess.Popen([sys.executable, "-m", "devstack", "run"], cwd=services.ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, bufsize=1)
    try:
        yield process, port, env["DATA_DIR"]
    finally:  # a failed test leaves no server behind: make run's own stop, then kill
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        for leftover in stack_processes(env["DATA_DIR"]):
            leftover.kill()


def children(pid):
    return psutil.Process(pid).children(recursive=True)


def test_make_run_serves_supervises_and_stops_cleanly(make_run):
    process, port, data_dir = make_run
    output = read_until(process, "Ctrl-C stops everything.")
    token = output[-3].strip()
    base = f"http://127.0.0.1:{port}"
    assert any(f"{base}/api/v1/docs" in line for line in output)
    assert any(f"{base}/rq" in line for line in output)
    assert any(f"{base}/metrics" in line for line in output)
    assert any(f"{base}/ui/" in line for line in output)
    # WORKERS=1, and the worker of small submissions
    assert requests.get(f"{base}/api/v1/health", timeout=10).json()["workers"] == 2
    # on loopback (LISTEN_HOST's default) as before: no passwords, nothing listens elsewhere
    stack_file = os.path.join(data_dir, "stack.json")
    assert os.stat(stack_file).st_mode & 0o777 == 0o600
    assert "@" not in open(stack_file).read()
    assert not os.path.exists(os.path.join(data_dir, "credentials.json"))
    listening = {c.laddr.ip for p in children(process.pid) for c in p.net_connections("tcp")
                 if c.status == psutil.CONN_LISTEN}
    assert listening == {"127.0.0.1"}, listening

    # the README's next step, from a second terminal with no environment but DATA_DIR
    second = subprocess.run([sys.executable, "-m", "service", "create-token", "--role",
                             "client", "--name", "team-a"], cwd=services.ROOT, timeout=30,
                            env={"PATH": os.environ["PATH"], "DATA_DIR": data_dir},
                            capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    client = {"Authorization": f"Bearer {second.stdout.strip().splitlines()[-1]}"}
    assert requests.get(f"{base}/api/v1/predictions", headers=client, timeout=10).ok

    headers = {"Authorization": f"Bearer {token}"}
    posted = requests.post(f"{base}/api/v1/inputs", headers=headers, timeout=10,
                           json={"model": "iris", "features": [5.1, 3.5, 1.4, 0.2]})
    assert posted.status_code == 201
    prediction = f"{base}/api/v1/predictions/{posted.json()['prediction']}"
    deadline = time.monotonic() + 30
    while requests.get(prediction, headers=headers, timeout=10).json()["status"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.2)

    direct = psutil.Process(process.pid).children()  # the RQ scheduler forks below the worker
    [worker] = [p for p in direct if p.cmdline()[-2:] == ["-m", "jobs.worker"]]
    deadline = time.monotonic() + 30
    while not worker.children():
        assert time.monotonic() < deadline, "the worker started no scheduler"
        time.sleep(0.2)
    [scheduler] = worker.children()
    with open(stack_file) as opened:
        redis = Redis.from_url(json.load(opened)["redis_url"])
    live_before = live_worker_names(redis)
    worker.kill()
    read_until(process, "worker-1 exited; restarted")
    # the scheduler of the killed worker, which does not watch its parent, went with it
    gone, alive = psutil.wait_procs([scheduler], timeout=10)
    assert alive == []
    # the restarted worker (a new name) is live, and health counts the killed one out
    # (RQ keeps it registered for minutes)
    deadline = time.monotonic() + 90  # it loads and calls each model first
    while not (live_worker_names(redis) - live_before and
               requests.get(f"{base}/api/v1/health", timeout=10).json()["workers"] == 2):
        assert time.monotonic() < deadline, "the restarted worker did not register"
        time.sleep(0.3)

    everything = children(process.pid)
    assert len(everything) >= 4  # database, redis, gunicorn master and workers, RQ worker
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    gone, alive = psutil.wait_procs(everything, timeout=10)
    assert alive == []
    assert stack_processes(data_dir) == []
    assert not os.path.exists(os.path.join(data_dir, "stack.json"))
