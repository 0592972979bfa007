"""Worker entry point: `python -m jobs.worker`.

A SimpleWorker runs jobs in its own process instead of forking one child per job: the
models are loaded once per process (jobs/models.py), the registered ones before the
first job, and a job costs no fork (a child forked per job would load its model again).
The trade-off: a job that crashes the interpreter takes the worker down with it; the
supervisor (`make run`, compose's restart policy) starts it again, and RQ's registry
cleanup retries the abandoned job.

Every MAINTENANCE_SECONDS the worker also runs RQ's registry maintenance and then the
reconciler, under a Redis lock that is left to expire: at most one pass per interval
across all workers."""
import gc
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import import_module
from typing import Any

import redis
from pymongo.database import Database
from rq import Queue, SimpleWorker
from rq.executions import Execution
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.worker import BaseWorker

import settings
from core import logs, rq_seams
from core.connections import mongo_db, redis_from_url
from core.job import PredictionJob
from core.liveness import keep_alive
from core.queue import CALLBACK_QUEUE, PREDICT, TRAIN, callback_queue, worker_queues
from core.types import ModelDocument

from . import coalescing, models, retention
from .reconcile import reconcile, repair_batches

log = logging.getLogger(__name__)

INTERACTIVE = "interactive"  # `python -m jobs.worker interactive`


class PredictionWorker(rq_seams.RecordsFailure, SimpleWorker):
    """A SimpleWorker that coalesces prediction jobs (jobs/coalescing.py), reconciles, and
    shows it is alive (core/liveness.py); its jobs are PredictionJobs (core/job.py)."""

    job_class = PredictionJob

    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        """Run `job` with the jobs it can take from the queue joined to it, then finish
        each joined job as the first one ended: with its own result, or, when the call
        raised, with the same error (RQ retries each job on its own). A training runs
        alone, with its heartbeats kept meanwhile."""
        if job.func_name == TRAIN:
            with heartbeats(self, job, execution):
                return bool(super().perform_job(job, queue, execution))
        joined = coalescing.gather(self, queue, job)
        job.joined = [other for other, _ in joined]  # type: ignore[attr-defined]  # jobs/predict.py
        self.failure = None
        succeeded = super().perform_job(job, queue, execution)
        results = getattr(job, "joined_results", None) or [None] * len(joined)
        for (other, other_execution), result in zip(joined, results):
            other.started_at = job.started_at
            rq_seams.finish_joined(self, queue, other, other_execution, result,
                                   None if succeeded else self.failure)
        return succeeded

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        """A SimpleWorker's heartbeat lasts the job's whole timeout, as it sends none while
        the job runs: a worker killed mid-training would hold its training for the rest of
        TRAINING_TIMEOUT_SECONDS. A training's heartbeat is kept by a thread instead
        (heartbeats), and lasts a few of its intervals: RQ's maintenance then retries (or
        fails) the training of a worker that died soon after."""
        if job.func_name == TRAIN:
            return settings.TRAINING_HEARTBEAT_SECONDS * 3
        return int(super().get_heartbeat_ttl(job, working_time))

    def handle_job_success(self, job: Job, queue: Queue, started_job_registry: StartedJobRegistry,
                           execution: Execution) -> None:
        """RQ queues the chunks whose turn a job's end brings (core/queue.py: Turns), but
        concedes one whose ready registry another worker changed at that moment, leaving
        it for its maintenance (every MAINTENANCE_SECONDS): that file would wait. Any
        left there are queued at the end of each job instead."""
        super().handle_job_success(job, queue, started_job_registry, execution)
        ready = queue.ready_job_registry
        if ready.get_job_count(cleanup=False):
            ready.cleanup()

    sweeps = False  # runs retention's passes beside its jobs (jobs/retention.py)

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        super().bootstrap(*args, **kwargs)
        self.liveness_stopped = keep_alive(self.connection, self.name)
        self.sweeping_stopped = retention.sweeping(self.connection, mongo_db) if self.sweeps \
            else threading.Event()

    def teardown(self) -> None:
        """Runs when work() ends, on a stop signal or when a burst is over."""
        self.liveness_stopped.set()
        self.sweeping_stopped.set()
        super().teardown()

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()
        lock = self.connection.lock("predictions:reconciler",
                                    timeout=settings.MAINTENANCE_SECONDS, blocking=False)
        if not lock.acquire():
            return
        try:
            reconcile(mongo_db(), self.connection)
            repair_batches(mongo_db(), self.connection)
        except Exception:  # a store that is down now: the next pass tries again
            log.exception("reconciler pass failed")


@contextmanager
def heartbeats(worker: BaseWorker, job: Job, execution: Execution) -> Iterator[None]:
    """While the block runs (a training's fit), RQ's heartbeats of the worker, the job and
    its execution are sent every TRAINING_HEARTBEAT_SECONDS from a thread."""
    stopped = threading.Event()

    def beat() -> None:
        while not stopped.wait(settings.TRAINING_HEARTBEAT_SECONDS):
            try:
                worker.maintain_heartbeats(job, execution)
            except Exception:  # Redis away for a moment: the next beat tries again
                log.warning("training heartbeat not sent", exc_info=True)
    thread = threading.Thread(target=beat, name="training heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopped.set()
        thread.join()


CATALOG_WAIT_SECONDS = 10


def registered_versions(db: Database[Any]) -> list[ModelDocument]:
    """The versions to load at start: not retired, newest first, as many as the cache keeps."""
    return list(db.models.find({"retired": {"$ne": True}}, {"name": 1, "version": 1},
                               sort=[("_created", -1)], limit=settings.MODEL_CACHE_MODELS))


def preload_models(wait_seconds: float = CATALOG_WAIT_SECONDS) -> None:
    """Load the registered versions now and call each once (models.warm_up), so that
    the first rows wait for neither; a version registered later is loaded by its first
    job (jobs/models.py). A new database has no version until the API's first start
    registers the shipped ones, which a worker started beside it waits for, up to
    wait_seconds."""
    try:
        db = mongo_db()
        versions, deadline = registered_versions(db), time.monotonic() + wait_seconds
        while not versions and time.monotonic() < deadline:
            time.sleep(0.25)
            versions = registered_versions(db)
        for document in versions:
            models.warm_up(*models.load(db, document["name"], document["version"]))
    except Exception:  # a database down, or one bad artifact: jobs load what they need
        log.exception("models not preloaded")


def warn_of_renamed_settings(environ: dict[str, str] | None = None) -> list[str]:
    """One log line per setting given under the name it had before (settings.RENAMED):
    still read for this release. Returns the old names found."""
    environ = dict(os.environ) if environ is None else environ
    found = [old for old in settings.RENAMED if old in environ]
    for old in found:
        log.warning("%s is deprecated: set %s instead (the old name is read until the next "
                    "release)", old, settings.RENAMED[old])
    return found


KINDS = {(): "worker", (INTERACTIVE,): "interactive-worker", (CALLBACK_QUEUE,): "callback-worker"}


def queues_of(kind: str, connection: redis.Redis) -> list[Queue]:
    """What a worker of `kind` takes, in order."""
    if kind == "callback-worker":
        return [callback_queue(connection)]
    both = worker_queues(connection)
    if kind == "interactive-worker":
        return [both.interactive()]
    return [*both.both(), both.training()]  # interactive rows first, trainings last


def main(argv: list[str] | None = None) -> None:
    """`python -m jobs.worker` works the predictions, small submissions first;
    `python -m jobs.worker interactive` only the small submissions, so that one never
    waits for a file's chunk to end; `python -m jobs.worker callbacks` the callback
    deliveries (jobs/callbacks.py), apart, so that a receiver that hangs never holds a
    prediction."""
    kind = KINDS[tuple(argv if argv is not None else sys.argv[1:])]
    logs.configure(kind)
    warn_of_renamed_settings()
    connection = redis_from_url(socket_timeout=None)
    queues = queues_of(kind, connection)
    if kind != "callback-worker":
        import_module(PREDICT.rpartition(".")[0])  # the jobs' module, now, not by the first job
        preload_models()
    # the imports and the models loaded: out of every later collection, as in the API
    # (docs/operations.md, "Garbage collection")
    gc.freeze()
    # An idle worker runs maintenance only when its BLPOP times out, after
    # worker_ttl - 15 s (405 s by default): wake it every MAINTENANCE_SECONDS instead.
    worker = PredictionWorker(queues, connection=connection,
                              maintenance_interval=settings.MAINTENANCE_SECONDS,
                              worker_ttl=settings.MAINTENANCE_SECONDS + 15)
    worker.sweeps = kind != "interactive-worker"
    worker.work(with_scheduler=True)


if __name__ == "__main__":
    main()
