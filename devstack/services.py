"""One child process per service, each with its log file, started and stopped cleanly."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FERRETDB = ROOT / ".tools" / "bin" / "ferretdb"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, timeout=30.0, process=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


class Service:
    def __init__(self, name, argv, log_dir, env=None, port=None):
        self.name, self.argv, self.port = name, argv, port
        self.env = {**os.environ, **(env or {})}
        self.log_path = Path(log_dir) / f"{name}.log"
        self.process = None
        self.restarts = 0

    def start(self, wait=True):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                        env=self.env, cwd=ROOT, start_new_session=True)
        log.close()
        if wait and self.port:
            wait_for_port(self.port, process=self.process)
        return self

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def signal(self, signum):
        if self.alive():
            os.killpg(self.process.pid, signum)

    def stop(self, timeout=15.0):
        if not self.alive():
            return
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.process.wait()


def redis_server(port, data_dir, log_dir):
    directory = Path(data_dir) / "redis"
    directory.mkdir(parents=True, exist_ok=True)
    argv = [shutil.which("redis-server") or "redis-server", "--port", str(port),
            "--bind", "127.0.0.1", "--dir", str(directory), "--appendonly", "yes",
            "--save", "", "--daemonize", "no"]
    return Service("redis", argv, log_dir, port=port)


def mongo_server(port, data_dir, log_dir):
    """A mongod on PATH when there is one, else FerretDB (SQLite backend)."""
    directory = Path(data_dir) / "mongo"
    directory.mkdir(parents=True, exist_ok=True)
    mongod = shutil.which("mongod")
    if mongod:
        argv = [mongod, "--bind_ip", "127.0.0.1", "--port", str(port), "--dbpath", str(directory)]
        return Service("mongod", argv, log_dir, port=port)
    ferretdb = str(FERRETDB) if FERRETDB.exists() else shutil.which("ferretdb")
    if not ferretdb:
        raise FileNotFoundError("no mongod and no FerretDB: run `make ferretdb` first")
    argv = [ferretdb, "--handler=sqlite", f"--sqlite-url=file:{directory}/",
            f"--listen-addr=127.0.0.1:{port}", "--debug-addr=-", "--telemetry=disable",
            f"--state-dir={directory}", "--log-level=warn"]
    # Go's collector at GOGC=400 instead of 100: FerretDB decodes every document it reads or
    # updates into short-lived objects, and collecting them was a fifth of its CPU; the
    # same store-and-read workload took 23-32% less of its CPU, RSS 60 -> 76 MB.
    return Service("ferretdb", argv, log_dir, port=port,
                   env={"GOGC": "400"})


def api_server(port, env, log_dir):
    return Service("api", [sys.executable, "run.py"], log_dir, env={**env, "PORT": str(port)},
                   port=port)


def worker(index, env, log_dir):
    return Service(f"worker-{index}", [sys.executable, "-m", "jobs.worker"], log_dir, env=env)


def interactive_worker(index, env, log_dir):
    """A worker of small submissions only (INTERACTIVE_MAX_ROWS): one is always free
    for them, whatever files the others are working through."""
    return Service(f"interactive-worker-{index}", [sys.executable, "-m", "jobs.worker",
                                                   "interactive"], log_dir, env=env)


def callback_worker(env, log_dir):
    return Service("callback-worker", [sys.executable, "-m", "jobs.worker", "callbacks"],
                   log_dir, env=env)
