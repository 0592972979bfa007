"""One child process per service, each with its log file, started and stopped cleanly.

Each service runs in a session of its own (so that a Ctrl-C in the terminal reaches
the supervisor only, which stops the services in order), and ends with the process
that started it however that one ends, SIGKILL included (devstack/deathsig.py)."""
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

from cli.endpoints import write_private

from .deathsig import die_with_this_process

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


class StartFailed(RuntimeError):
    """Something the stack needs could not start; the message, one line, says what and
    what to do, for `make run` to print instead of a traceback."""


def port_in_use(host: str, port: int) -> bool:
    """Whether a server listens on host:port already. A bind as gunicorn's: with
    SO_REUSEADDR, so that connections of an earlier run still in TIME_WAIT do not
    count; a host that is no address of this machine is an error of its own (OSError)."""
    for family, kind, proto, _, address in socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE):
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return True
                raise
    return False


def check_port_free(host: str, port: int) -> None:
    """Before anything starts: a port taken by another process would otherwise answer
    for the API (so the start would wait for a health that never comes) while gunicorn
    fails to bind it."""
    try:
        taken = port_in_use(host, port)
    except OSError as exc:
        raise StartFailed(f"cannot listen on {host} port {port} (LISTEN_HOST={host}, "
                          f"PORT={port}): {exc.strerror or exc}") from None
    if taken:
        raise StartFailed(f"port {port} on {host} is in use (PORT={port}): stop what holds "
                          "it or choose another PORT")


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
                 ready=None, deathsig: int = signal.SIGKILL):
        """`ready`: called once the port answers, before start() returns. `deathsig`:
        what the service gets if the process that started it ends without stopping it
        (killed with SIGKILL): KILL, as nothing is left to follow a TERM up with one."""
        self.name, self.argv, self.port, self.host, self.ready = name, argv, port, host, ready
        self.env = {**os.environ, **(env or {})}
        self.log_path = Path(log_dir) / f"{name}.log"
        self.deathsig = deathsig
        self.process: subprocess.Popen | None = None
        self.group_killed = False
        self.restarts = 0

    def start(self, wait: bool = True) -> "Service":
        self.kill()  # what an earlier run left in its group, if it exited
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                        env=self.env, cwd=ROOT, start_new_session=True,
                                        preexec_fn=die_with_this_process(self.deathsig))
        self.group_killed = False
        log.close()
        if wait and self.port:
            try:
                wait_for_port(self.port, process=self.process, host=self.host)
            except (RuntimeError, TimeoutError) as exc:
                raise StartFailed(f"{self.name}: {exc}; its log: {self.log_path}") from None
            if self.ready:
                self.ready()
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_code(self) -> int | None:
        """The service's exit status once it has ended; None while it runs, or before
        it was started."""
        return None if self.process is None else self.process.poll()

    def signal(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signum)

    def kill(self) -> None:
        """SIGKILL to the service's process group, then reap it. The group also holds
        what the service forked, which may outlive the service (RQ's scheduler does not
        watch the worker that forked it): so this is for after the service's own exit
        too, soon after, while the group's number still belongs to what is left of it."""
        if self.process is None or self.group_killed:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.group_killed = True

    def kill_now(self) -> None:
        """SIGKILL to the service's process group, without waiting for anything: safe in
        a signal handler, which may have interrupted a wait for this same process."""
        if self.process is not None and self.process.returncode is None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def stop(self, timeout: float = 15.0) -> None:
        stop_all([self], timeout)


def stop_all(group: list[Service], timeout: float = 15.0) -> None:
    """TERM to each service's process group, then KILL to what is left of each group,
    at the latest `timeout` seconds later: all at once, so that the stop takes as long
    as its slowest service, not as long as all of them together."""
    for service in group:
        service.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    waiting = [service for service in group if service.process is not None]
    while waiting:
        late = time.monotonic() >= deadline
        for service in [s for s in waiting if late or not s.alive()]:
            service.kill()
            waiting.remove(service)
        if waiting:
            time.sleep(0.05)


def redis_server(port, data_dir, log_dir, host="127.0.0.1", password=None, name="redis",
                 options=("--appendonly", "yes")):
    """With a password, it is in a config file of mode 0600 (not on the command line,
    which every user of the machine can read)."""
    directory = Path(data_dir) / name
    directory.mkdir(parents=True, exist_ok=True)
    argv = [shutil.which("redis-server") or "redis-server"]
    if password:
        argv.append(str(write_private(directory / "redis.conf", f"requirepass {password}\n")))
    argv += ["--port", str(port), "--bind", host, "--dir", str(directory), *options,
             "--save", "", "--daemonize", "no"]
    return Service(name, argv, log_dir, port=port, host=host)


def cache_server(port, data_dir, log_dir, max_mb, host="127.0.0.1", password=None):
    """The result cache's Redis (core/cache.py): apart from the queue's, nothing kept on
    disk, at most max_mb of answers, the least recently used evicted first."""
    return redis_server(port, data_dir, log_dir, host, password, name="cache", options=(
        "--appendonly", "no", "--maxmemory", f"{max_mb}mb", "--maxmemory-policy", "allkeys-lru"))


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


# An RQ worker's parent-death signal is TERM, not KILL: the worker forks a scheduler
# process that does not watch its parent, and stops it on TERM; a worker killed would
# leave it running for as long as Redis answers it (for `make worker`, another host's
# Redis: for good). On TERM a worker ends after its current job, which the job timeout
# bounds.
WORKER_DEATHSIG = signal.SIGTERM


def worker(index, env, log_dir, name="worker"):
    return Service(f"{name}-{index}", [sys.executable, "-m", "jobs.worker"], log_dir, env=env,
                   deathsig=WORKER_DEATHSIG)


def interactive_worker(index, env, log_dir):
    """A worker of small submissions only (INTERACTIVE_MAX_ROWS): one is always free
    for them, whatever files the others are working through."""
    return Service(f"interactive-worker-{index}", [sys.executable, "-m", "jobs.worker",
                                                   "interactive"], log_dir, env=env,
                   deathsig=WORKER_DEATHSIG)


def callback_worker(env, log_dir):
    return Service("callback-worker", [sys.executable, "-m", "jobs.worker", "callbacks"],
                   log_dir, env=env, deathsig=WORKER_DEATHSIG)
