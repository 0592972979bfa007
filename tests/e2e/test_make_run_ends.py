"""However `make run` ends, it leaves nothing running: on a port already taken it says
so in one line and starts nothing; SIGKILLed mid-work (make, or its `python -m devstack
run`), and interrupted twice while stopping, no process of the stack is left after a
few seconds. `make -o deps run` is the Makefile's `run` with its `deps` taken as made
(the virtualenv, Redis and the database are installed for the tests already)."""
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
import requests

from devstack import services

from .test_make_run import read_until, stack_processes

MAKE_RUN = ["make", "--no-print-directory", "-o", "deps", "run"]
DEVSTACK_RUN = [sys.executable, "-m", "devstack", "run"]
IRIS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
# launch(argv, port=None) -> (process, data_dir, port)
Launch = Callable[..., tuple[subprocess.Popen, str, int]]


def left_after(data_dir: str, timeout: float) -> list[str]:
    """What of the stack still runs once `timeout` seconds have passed (or nothing, as
    soon as nothing does)."""
    deadline = time.monotonic() + timeout
    while True:
        left = stack_processes(data_dir)
        if not left or time.monotonic() > deadline:
            return [" ".join(p.cmdline())[:120] for p in left if p.is_running()]
        time.sleep(0.2)


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    """launch(argv) runs `make run` or `python -m devstack run` on a free PORT with its
    own DATA_DIR, in a session of its own (as from a terminal); returns (process,
    data_dir, port). Whatever of it runs at the test's end is killed."""
    data_dir = str(tmp_path / "data")
    launched: list[subprocess.Popen] = []

    def start(argv: list[str], port: int | None = None) -> tuple[subprocess.Popen, str, int]:
        port = port or services.free_port()
        env = {**os.environ, "DATA_DIR": data_dir, "PORT": str(port), "WORKERS": "1",
               "CHUNK_SIZE": "50"}
        for name in ("MONGO_URI", "REDIS_URL", "LISTEN_HOST"):
            env.pop(name, None)
        process = subprocess.Popen(argv, cwd=services.ROOT, env=env, text=True, bufsize=1,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   start_new_session=True)
        launched.append(process)
        return process, data_dir, port

    yield start
    for process in launched:
        if process.poll() is None:
            process.kill()
            process.wait()
    for leftover in stack_processes(data_dir):
        leftover.kill()


def admin_token(output: list[str]) -> str:
    """The admin token of the banner: the line before its last two."""
    return output[-3].strip()


def start_a_file(port: int, token: str, rows: int = 20000) -> str:
    """A CSV file of iris rows, posted as a batch; returns once its first rows are done
    (the workers are then under way through the rest)."""
    base = f"http://127.0.0.1:{port}/api/v1"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
    body = ",".join(IRIS) + "\n" + "5.1,3.5,1.4,0.2\n" * rows
    created = requests.post(f"{base}/batches?model=iris", data=body.encode(), timeout=120,
                            headers=headers)
    assert created.status_code == 201, created.text
    batch = f"{base}/batches/{created.json()['_id']}"
    deadline = time.monotonic() + 60
    while requests.get(batch, headers=headers, timeout=10).json()["done"] == 0:
        assert time.monotonic() < deadline, "no row of the file done"
        time.sleep(0.1)
    return batch


def test_make_run_on_a_port_taken_says_so_in_one_line_and_starts_nothing(
        launch: Launch) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        process, data_dir, _ = launch(MAKE_RUN, port)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0
    # make's own line about the recipe's failure aside ("make[1]: ***" when the tests
    # themselves run under make)
    lines = [line for line in stderr.splitlines()
             if not re.match(r"make(\[\d+\])?: \*\*\*", line)]
    assert lines == [f"[devstack] port {port} on 127.0.0.1 is in use (PORT={port}): stop "
                     "what holds it or choose another PORT"], stderr
    assert left_after(data_dir, 0) == []
    assert not os.path.exists(os.path.join(data_dir, "logs"))  # no service was started


def test_make_run_killed_with_sigkill_mid_work_leaves_nothing_running(launch: Launch) -> None:
    """make's `python -m devstack run` gets a TERM when make ends (its parent-death
    signal), and stops the stack as on Ctrl-C."""
    process, data_dir, port = launch(MAKE_RUN)
    output = read_until(process, "Ctrl-C stops everything.", timeout=120)
    start_a_file(port, admin_token(output))
    assert len(stack_processes(data_dir)) >= 6  # devstack, Redis, database, API, workers
    process.kill()  # make alone
    process.wait()
    assert left_after(data_dir, 30) == []


def test_devstack_killed_with_sigkill_mid_work_leaves_nothing_running(launch: Launch) -> None:
    """Each service gets its parent-death signal; gunicorn's workers end with their
    master, RQ's schedulers with their workers."""
    process, data_dir, port = launch(DEVSTACK_RUN)
    output = read_until(process, "Ctrl-C stops everything.", timeout=120)
    start_a_file(port, admin_token(output))
    assert len(stack_processes(data_dir)) >= 6
    process.kill()
    process.wait()
    assert left_after(data_dir, 15) == []


def test_interrupted_twice_while_stopping_it_kills_what_is_left(launch: Launch) -> None:
    """The stop waits for services that do not end on TERM (here stopped with SIGSTOP:
    a worker, and the Redis servers, queues' and cache's, which the stop ends after the
    workers); a second Ctrl-C kills
    them at once, instead of the stop waiting its timeout out for each (or raising out
    of the wait and leaving them running)."""
    process, data_dir, port = launch(DEVSTACK_RUN)
    read_until(process, "Ctrl-C stops everything.", timeout=120)
    direct = psutil.Process(process.pid).children()
    [worker] = [p for p in direct if p.cmdline()[-2:] == ["-m", "jobs.worker"]]
    redises = [p for p in direct if p.name() == "redis-server"]
    assert len(redises) == 2  # the queues' and the cache's
    for frozen in (worker, *redises):
        frozen.suspend()
    process.send_signal(signal.SIGINT)
    read_until(process, "[devstack] stopping")
    time.sleep(1.5)  # past the second within which a signal counts as the same one again
    assert all(p.is_running() for p in (worker, *redises))  # the stop waits for them
    process.send_signal(signal.SIGINT)
    assert left_after(data_dir, 10) == []
    assert process.wait(timeout=10) == 0
    assert process.stdout is not None
    assert "[devstack] stopped, what was left killed" in process.stdout.read()
