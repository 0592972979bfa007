"""Worker liveness in Redis: a key per worker with a short TTL, refreshed by a thread.
After a SIGKILL it is gone within WORKER_ALIVE_SECONDS, so the reconciler can tell a job
that is running from one whose worker died, and the health endpoint counts live workers
only. (RQ finds a dead worker too, but only minutes later: its worker key outlives the
worker by worker_ttl + 60 s, and its started-job cleanup carries 60 s margins twice.)"""
import threading

import redis
from rq import Queue, Worker

import settings


def alive_key(worker_name: str) -> str:
    return f"predictions:worker-alive:{worker_name}"


def worker_is_alive(connection: redis.Redis, worker_name: str | None) -> bool:
    if not worker_name:
        return False
    return connection.exists(alive_key(worker_name)) == 1


def live_workers(queues: list[Queue]) -> int:
    """Workers registered in RQ on any of `queues`, each once, whose liveness key is there
    (a worker killed stays registered in RQ for minutes)."""
    names = {key.removeprefix(Worker.redis_worker_namespace_prefix)
             for queue in queues for key in Worker.all_keys(queue=queue)}
    if not names:
        return 0
    present = queues[0].connection.mget([alive_key(name) for name in names])
    return sum(value is not None for value in present)


def keep_alive(connection: redis.Redis, worker_name: str) -> threading.Event:
    """Refresh the key from a daemon thread until the returned event is set."""
    stopped = threading.Event()

    def loop() -> None:
        while not stopped.is_set():
            connection.set(alive_key(worker_name), 1, ex=settings.WORKER_ALIVE_SECONDS)
            stopped.wait(settings.WORKER_ALIVE_SECONDS / 3)
    threading.Thread(target=loop, name="keep-alive", daemon=True).start()
    return stopped
