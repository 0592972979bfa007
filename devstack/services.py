"""One child process per service, each with its log file, started and stopped cleanly."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from cli.endpoints import write_private

ROOT = Path(__file__).resolve().parent.parent
FERRETDB = ROOT / ".tools" / "bin" / "ferretdb"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reachable(host):
    """The address to connect to for a server listening on `host` (a wildcard address
    listens on loopback too)."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def wait_for_port(port, timeout=30.0, process=None, host="127.0.0.1"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        try:
            with socket.create_connection((reachable(host), port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout} s")


class Service:
    def __init__(self, name, argv, log_dir, env=None, port=None, host="127.0.0.1",
                 ready=None):
        """`ready`: called once the port answers, before start() returns."""
        self.name, self.argv, self.port, self.host, self.ready = name, argv, port, host, ready
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
            wait_for_port(self.port, process=self.process, host=self.host)
            if self.ready:
                self.ready()
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


def redis_server(port, data_dir, log_dir, host="127.0.0.1", password=None):
    """With a password, it is in a config file of mode 0600 (not on the command line,
    which every user of the machine can read)."""
    directory = Path(data_dir) / "redis"
    directory.mkdir(parents=True, exist_ok=True)
    argv = [shutil.which("redis-server") or "redis-server"]
    if password:
        argv.append(str(write_private(directory / "redis.conf", f"requirepass {password}\n")))
    argv += ["--port", str(port), "--bind", host, "--dir", str(directory),
             "--appendonly", "yes", "--save", "", "--daemonize", "no"]
    return Service("redis", argv, log_dir, port=port, host=host)


def mongo_server(port, data_dir, log_dir, host="127.0.0.1", user=None, password=None):
    """A mongod on PATH when there is one, else FerretDB (SQLite backend). With a user,
    the server accepts no command but the handshake before it logs in."""
    directory = Path(data_dir) / "mongo"
    directory.mkdir(parents=True, exist_ok=True)
    mongod = shutil.which("mongod")
    if mongod:
        return mongod_server(mongod, port, directory, log_dir, host, user, password)
    ferretdb = str(FERRETDB) if FERRETDB.exists() else shutil.which("ferretdb")
    if not ferretdb:
        raise FileNotFoundError("no mongod and no FerretDB: run `make ferretdb` first")
    # SQLite's WAL with synchronous=NORMAL: a commit is not fsynced, the WAL is at each
    # checkpoint. A killed FerretDB loses nothing; a host that loses power may lose the
    # last commits, as a mongod may lose acknowledged writes not yet in its journal (which
    # it flushes every 100 ms by default). FULL, SQLite's default, fsynced every commit.
    argv = [ferretdb, "--handler=sqlite",
            f"--sqlite-url=file:{directory}/?_pragma=synchronous(normal)",
            f"--listen-addr={host}:{port}", "--debug-addr=-", "--telemetry=disable",
            f"--state-dir={directory}", "--log-level=warn",
            # an insert of many documents is a transaction per 50 (FerretDB's default 100):
            # a one-row submission's writes wait for the transaction under way, if any
            # (the figures: docs/benchmarks.md, "Kept, and what each bought")
            "--test-batch-size=50"]
    # Go's collector at GOGC=400 instead of 100: FerretDB decodes every document it reads or
    # updates into short-lived objects, and collecting them was a fifth of its CPU; the
    # same store-and-read workload took 23-32% less of its CPU, RSS 60 -> 76 MB.
    env = {"GOGC": "400"}
    if user:
        # FerretDB v1's SCRAM authentication (still flagged experimental in v1): the user
        # is made in `admin` on the first start, when that database does not exist yet;
        # the password goes by environment, not on the command line
        argv += ["--test-enable-new-auth", "--setup-database=admin", f"--setup-username={user}"]
        env["FERRETDB_SETUP_PASSWORD"] = password
    return Service("ferretdb", argv, log_dir, port=port, host=host, env=env)


def mongod_server(mongod, port, directory, log_dir, host, user, password):
    """A mongod; with a user, `--auth`, and the user made through its localhost exception
    (it listens on loopback too for that) when it has none."""
    argv = [mongod, "--port", str(port), "--dbpath", str(directory)]
    if not user:
        return Service("mongod", argv + ["--bind_ip", host], log_dir, port=port, host=host)

    def create_user():
        import pymongo
        client = pymongo.MongoClient(f"mongodb://127.0.0.1:{port}/", directConnection=True)
        try:
            client.admin.command("createUser", user, pwd=password, roles=["root"])
        except pymongo.errors.OperationFailure as exc:
            if exc.code not in (13, 51003):  # the user exists: the exception is closed
                raise
        finally:
            client.close()
    return Service("mongod", argv + ["--bind_ip", f"127.0.0.1,{host}", "--auth"], log_dir,
                   port=port, host=host, ready=create_user)


def api_server(port, env, log_dir, host="127.0.0.1"):
    return Service("api", [sys.executable, "run.py"], log_dir,
                   env={**env, "PORT": str(port), "LISTEN_HOST": host}, port=port, host=host)


def worker(index, env, log_dir, name="worker"):
    return Service(f"{name}-{index}", [sys.executable, "-m", "jobs.worker"], log_dir, env=env)


def interactive_worker(index, env, log_dir):
    """A worker of small submissions only (INTERACTIVE_MAX_ROWS): one is always free
    for them, whatever files the others are working through."""
    return Service(f"interactive-worker-{index}", [sys.executable, "-m", "jobs.worker",
                                                   "interactive"], log_dir, env=env)


def callback_worker(env, log_dir):
    return Service("callback-worker", [sys.executable, "-m", "jobs.worker", "callbacks"],
                   log_dir, env=env)
