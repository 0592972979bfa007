"""Worker liveness in Redis: a key per worker with a short TTL, refreshed by a thread.
After a SIGKILL it is gone within WORKER_ALIVE_SECONDS, so the reconciler can tell a job
that is running from one whose worker died. (RQ's own started-job cleanup finds such a
job too, but only minutes later: its registry entries carry 60 s margins twice.)"""
import threading

import redis

import settings


def alive_key(worker_name: str) -> str:
    return f"predictions:worker-alive:{worker_name}"


def worker_is_alive(connection: redis.Redis, worker_name: str | None) -> bool:
    if not worker_name:
        return False
    return connection.exists(alive_key(worker_name)) == 1


def keep_alive(connection: redis.Redis, worker_name: str) -> threading.Event:
    """Refresh the key from a daemon thread until the returned event is set."""
    stopped = threading.Event()

    def loop() -> None:
        while not stopped.is_set():
            connection.set(alive_key(worker_name), 1, ex=settings.WORKER_ALIVE_SECONDS)
            stopped.wait(settings.WORKER_ALIVE_SECONDS / 3)
    threading.Thread(target=loop, name="keep-alive", daemon=True).start()
    return stopped
