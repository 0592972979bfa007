"""The whole stack: what to start given the environment, and a supervisor loop."""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from cli import endpoints

from . import credentials, services


class Supervised:
    """What supervise() needs: the child services, restarted when they exit."""
    services: list

    def restart_dead(self):
        """Start again any service that exited; returns the names restarted."""
        restarted = []
        for service in self.services:
            if not service.alive():
                service.restarts += 1
                service.start(wait=False)
                restarted.append(service.name)
        return restarted

    def stop(self):
        for service in reversed(self.services):
            service.stop()


class Workers(Supervised):
    """`make worker`: prediction workers only, on any host, against the Redis and the
    database of the URIs given (models come from the database)."""

    def __init__(self, data_dir, workers, mongo_uri, redis_url):
        self.log_dir = Path(data_dir).resolve() / "logs"
        env = {"MONGO_URI": mongo_uri, "REDIS_URL": redis_url}
        # named apart from make run's, whose logs may share DATA_DIR/logs on one host
        self.services = [services.worker(i + 1, env, self.log_dir, name="joined-worker")
                         for i in range(workers)]

    def start(self):
        for service in self.services:
            service.start()
        return self


class Stack(Supervised):
    def __init__(self, data_dir, port=5000, workers=1, mongo_uri=None, redis_url=None,
                 extra_env=None, interactive_workers=0, listen_host="127.0.0.1"):
        """listen_host: the address the API, Redis and the database listen on; off
        loopback, Redis and the database take the credentials of DATA_DIR."""
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
        self.mongo_uri, self.redis_url = mongo_uri, redis_url
        self.metrics_dir = self.data_dir / "metrics"
        self.env = {"MONGO_URI": mongo_uri, "REDIS_URL": redis_url,
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

    def start(self):
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

    def wait_until_ready(self, timeout=60.0):
        """Until health answers 200 with every worker registered, so that the first
        submission is served at once."""
        deadline = time.monotonic() + timeout
        body = None
        while time.monotonic() < deadline:
            try:
                response = requests.get(f"{self.url}/api/v1/health", timeout=5)
                body = response.json()
                if response.status_code == 200 and body["workers"] >= len(self.workers):
                    return body
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.2)
        raise TimeoutError(f"the stack was not ready after {timeout} s (health: {body})")

    def stop(self):
        endpoints.remove_stack_file(self.data_dir)
        super().stop()

    def cli(self, *args):
        """Run `python -m service ...` against this stack; returns its stdout."""
        return subprocess.run([sys.executable, "-m", "service", *args], check=True,
                              capture_output=True, text=True, cwd=services.ROOT,
                              env={**os.environ, **self.env}).stdout

    def create_token(self, role, name):
        return self.cli("create-token", "--role", role, "--name", name).strip().splitlines()[-1]


def supervise(stack, interval=1.0):
    """Restart what dies until SIGINT or SIGTERM, then stop everything."""
    stopping = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.append(True))
    try:
        while not stopping:
            for name in stack.restart_dead():
                print(f"[devstack] {name} exited; restarted", flush=True)
            time.sleep(interval)
    finally:
        print("[devstack] stopping…", flush=True)
        stack.stop()
        print("[devstack] stopped", flush=True)
