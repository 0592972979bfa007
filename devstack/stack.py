"""The whole stack: what to start given the environment, and a supervisor loop."""
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import requests

from cli import endpoints

from . import credentials, services


class Supervised:
    """What supervise() needs: the child services, restarted when they exit."""
    services: list[services.Service]
    stopping = False  # once stop() has begun
    killed = False  # kill() cut the stop short

    def restart_dead(self) -> list[str]:
        """Start again any service that exited; returns the names restarted."""
        restarted = []
        for service in self.services:
            if not service.alive():
                service.restarts += 1
                service.start(wait=False)
                restarted.append(service.name)
        return restarted

    def stop(self, timeout: float = 15.0) -> None:
        self.stopping = True
        services.stop_all(list(reversed(self.services)), timeout)

    def kill(self) -> None:
        """SIGKILL to every service now, for a stop that must not wait (a second Ctrl-C):
        the stop under way then finds them gone. Only signals, so safe in a handler."""
        self.killed = True
        for service in self.services:
            service.kill_now()


class Workers(Supervised):
    """`make worker`: prediction workers only, on any host, against the Redis and the
    database of the URIs given (models come from the database)."""

    def __init__(self, data_dir, workers, mongo_uri, redis_url, cache_url=None):
        self.log_dir = Path(data_dir).resolve() / "logs"
        env = {"MONGO_URI": mongo_uri, "REDIS_URL": redis_url}
        if cache_url:  # else these workers keep no answers for the cache (rows miss)
            env["CACHE_URL"] = cache_url
        # named apart from make run's, whose logs may share DATA_DIR/logs on one host
        self.services = [services.worker(i + 1, env, self.log_dir, name="joined-worker")
                         for i in range(workers)]

    def start(self):
        for service in self.services:
            service.start()
        return self


class Stack(Supervised):
    def __init__(self, data_dir, port=5000, workers=1, mongo_uri=None, redis_url=None,
                 extra_env=None, interactive_workers=0, listen_host="127.0.0.1",
                 cache_url=None, cache_max_mb=256):
        """listen_host: the address the API, Redis and the database listen on; off
        loopback, Redis and the database take the credentials of DATA_DIR. Without
        cache_url, a Redis of its own is started for the result cache (cache_max_mb)."""
        self.data_dir = Path(data_dir).resolve()
        self.log_dir = self.data_dir / "logs"
        self.port, self.listen_host = port, listen_host
        self.services = []
        self.redis = self.database = None  # the servers this stack starts, if any
        secret = (credentials.load_or_create(self.data_dir)
                  if credentials.needed(listen_host) and not (redis_url and mongo_uri) else {})
        address = services.reachable(listen_host)
        if not redis_url:
            redis_port = services.free_port()
            password = secret.get("redis_password")
            self.redis = services.redis_server(redis_port, self.data_dir, self.log_dir,
                                               listen_host, password)
            self.services.append(self.redis)
            login = f":{password}@" if password else ""
            redis_url = f"redis://{login}{address}:{redis_port}/0"
        if not mongo_uri:
            mongo_port = services.free_port()
            user, password = secret.get("mongo_user"), secret.get("mongo_password")
            self.database = services.mongo_server(mongo_port, self.data_dir, self.log_dir,
                                                  listen_host, user, password)
            self.services.append(self.database)
            login, options = (f"{user}:{password}@", "?authSource=admin") if user else ("", "")
            mongo_uri = f"mongodb://{login}{address}:{mongo_port}/predictions{options}"
        self.cache = None
        if not cache_url:
            cache_port = services.free_port()
            password = secret.get("redis_password")
            self.cache = services.cache_server(cache_port, self.data_dir, self.log_dir,
                                               cache_max_mb, listen_host, password)
            self.services.append(self.cache)
            login = f":{password}@" if password else ""
            cache_url = f"redis://{login}{address}:{cache_port}/0"
        self.mongo_uri, self.redis_url, self.cache_url = mongo_uri, redis_url, cache_url
        self.metrics_dir = self.data_dir / "metrics"
        self.env = {"MONGO_URI": mongo_uri, "REDIS_URL": redis_url, "CACHE_URL": cache_url,
                    "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir), **(extra_env or {})}
        self.api = services.api_server(port, self.env, self.log_dir, listen_host)
        self.workers = [services.worker(i + 1, self.env, self.log_dir) for i in range(workers)]
        self.workers += [services.interactive_worker(i + 1, self.env, self.log_dir)
                         for i in range(interactive_workers)]
        self.callback_worker = services.callback_worker(self.env, self.log_dir)
        self.services += [self.api, *self.workers, self.callback_worker]

    @property
    def url(self):
        return f"http://{services.reachable(self.listen_host)}:{self.port}"

    def start(self) -> "Stack":
        """Every service, then until the stack answers; on any failure or interruption,
        what started is stopped before the exception goes on. A port taken, or a service
        that exits during the start, is a StartFailed saying which."""
        services.check_port_free(self.listen_host, self.port)
        shutil.rmtree(self.metrics_dir, ignore_errors=True)  # counters start from zero
        self.metrics_dir.mkdir(parents=True)
        try:
            for service in self.services:
                service.start()
            self.wait_until_ready()
        except BaseException:
            self.stop()
            raise
        endpoints.write_stack_file(self.data_dir, self.mongo_uri, self.redis_url, self.url)
        return self

    def wait_until_ready(self, timeout: float = 60.0) -> dict:
        """Until health answers 200 with every worker registered, so that the first
        submission is served at once; a service that exits meanwhile ends the wait (a
        worker that cannot start would otherwise hold it until the timeout)."""
        deadline = time.monotonic() + timeout
        body = None
        while time.monotonic() < deadline:
            for service in self.services:
                code = service.exit_code()
                if code is not None:
                    raise services.StartFailed(f"{service.name} exited with {code} during the "
                                               f"start; its log: {service.log_path}")
            try:
                response = requests.get(f"{self.url}/api/v1/health", timeout=5)
                body = response.json()
                if response.status_code == 200 and body["workers"] >= len(self.workers):
                    return body
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.2)
        raise services.StartFailed(f"the stack was not ready after {timeout} s (health: "
                                   f"{body}); its logs: {self.log_dir}/")

    def stop(self, timeout: float = 15.0) -> None:
        """The API and the workers first, all at once, then Redis and the database, which
        a worker finishing its job still writes to."""
        endpoints.remove_stack_file(self.data_dir)
        self.stopping = True
        services.stop_all([self.callback_worker, *reversed(self.workers), self.api], timeout)
        services.stop_all([s for s in (self.database, self.redis, self.cache) if s is not None],
                          timeout)

    def cli(self, *args):
        """Run `python -m service ...` against this stack; returns its stdout."""
        return subprocess.run([sys.executable, "-m", "service", *args], check=True,
                              capture_output=True, text=True, cwd=services.ROOT,
                              env={**os.environ, **self.env}).stdout

    def create_token(self, role, name):
        return self.cli("create-token", "--role", role, "--name", name).strip().splitlines()[-1]


class Interrupts:
    """SIGINT and SIGTERM in the devstack process. The first ends what runs: the start
    (as Ctrl-C does, with a KeyboardInterrupt, upon which the start stops what it
    started) or the supervision, and the stop begins. One during the stop kills what is
    left at once: an exception there would abandon the stop and leave servers running.
    A signal within SAME_REQUEST_SECONDS of the last one acted upon is the same request
    twice, not a second one (make passes a TERM on to its child while `kill -TERM -PGID`,
    or systemd, signals that child too); RQ's workers count repeated signals so as well."""

    SAME_REQUEST_SECONDS = 1.0

    def __init__(self) -> None:
        self.supervised: Supervised | None = None  # what to kill once it is stopping
        self.supervising = False  # a signal then asks supervise() to stop
        self.requested = False
        self.last = -math.inf  # when a signal was last acted upon

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self.handle)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        if now - self.last < self.SAME_REQUEST_SECONDS:
            return
        self.last = now
        if self.supervised is not None and self.supervised.stopping:
            self.supervised.kill()
        elif self.supervising:
            self.requested = True
        else:
            raise KeyboardInterrupt


def supervise(stack: Supervised, interrupts: Interrupts, interval: float = 1.0) -> None:
    """Restart what dies until SIGINT or SIGTERM, then stop everything (a further
    signal kills what is left instead of waiting for it: Interrupts)."""
    interrupts.supervised, interrupts.supervising = stack, True
    try:
        while not interrupts.requested:
            for name in stack.restart_dead():
                print(f"[devstack] {name} exited; restarted", flush=True)
            time.sleep(interval)
    finally:
        print("[devstack] stopping…", flush=True)
        stack.stop()
        print("[devstack] stopped" + (", what was left killed" if stack.killed else ""),
              flush=True)
