"""Where the service relies on more of RQ than its public API: every such use is here,
and tests/unit/test_library_seams.py pins each one, so that an upgrade of RQ fails one named
test instead of a prediction path.

- metas_of: the meta of queued jobs without loading their rows (a job's data is a
  chunk's rows, up to COALESCE_MAX_ROWS of them): one HGET of the `meta` field of each
  job's hash, decoded by the queue's serializer, as Job.restore does.
- take_off_queue, start_taken: a worker takes jobs queued behind the one it dequeued
  (jobs/coalescing.py) and starts each as RQ's own dequeue and perform_job would
  (Execution.create, Job.prepare_for_execution, in one pipeline for all of them).
- finish_joined: the jobs so taken end as the one RQ ran ended, through the worker's
  _finalize_success / _finalize_failure (result, status, callbacks, registries).
- save_data_compressed: the job class of the prediction queue compresses a job's data
  at zlib's fastest level (core/job.py) by handing Job.to_dict no data (`_data`)."""
import zlib
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rq import Queue
from rq.executions import Execution
from rq.job import Job
from rq.worker import BaseWorker

META_FIELD = "meta"
ExcInfo = tuple[type[BaseException] | None, BaseException | None, TracebackType | None]


def metas_of(queue: Queue, job_ids: list[str]) -> list[dict[str, Any]]:
    """[meta dict, ...] of the jobs, in order ({} for a job that is gone)."""
    with queue.connection.pipeline(transaction=False) as pipeline:
        for job_id in job_ids:
            pipeline.hget(Job.key_for(job_id), META_FIELD)
        raw = pipeline.execute()
    return [queue.serializer.loads(meta) if meta else {} for meta in raw]


def take_off_queue(queue: Queue, job_ids: list[str]) -> list[Job]:
    """Remove the jobs from the queue (LREM, which only one caller can win); returns
    the jobs this call removed."""
    if not job_ids:
        return []
    with queue.connection.pipeline(transaction=False) as pipeline:
        for job_id in job_ids:
            pipeline.lrem(queue.key, 1, job_id)
        removed = pipeline.execute()
    won = [job_id for job_id, count in zip(job_ids, removed) if count == 1]
    return [job for job in queue.job_class.fetch_many(won, connection=queue.connection,
                                                      serializer=queue.serializer)
            if job is not None]


def start_taken(worker: BaseWorker, jobs: list[Job]) -> list[tuple[Job, Execution]]:
    """Start the jobs on this worker as RQ starts the job it dequeues.
    Returns [(job, execution), ...]."""
    started: list[tuple[Job, Execution]] = []
    with worker.connection.pipeline() as pipeline:
        for job in jobs:
            execution = Execution.create(job, worker.get_heartbeat_ttl(job), pipeline=pipeline,
                                         worker_name=worker.name)
            worker.executions[execution.id] = execution
            job.prepare_for_execution(worker.name, pipeline)
            pipeline.persist(job.key)
            started.append((job, execution))
        pipeline.execute()
    return started


def finish_joined(worker: BaseWorker, queue: Queue, job: Job, execution: Execution, result: Any = None,
                  exc_info: ExcInfo | None = None) -> None:
    """End a taken job as RQ ends the job it ran: succeeded with `result`, or failed
    with `exc_info` (its on_failure callback and retries included)."""
    if exc_info is None:
        worker._finalize_success(job, queue, execution, result)
    else:
        worker._finalize_failure(job, queue, execution, exc_info)


if TYPE_CHECKING:
    _MixedIntoWorker = BaseWorker  # what the mix-in's super() is
else:
    _MixedIntoWorker = object


class RecordsFailure(_MixedIntoWorker):
    """Worker mix-in: keeps the exc_info of the job RQ ran last, for the jobs joined to
    it (finish_joined)."""

    failure: ExcInfo | None = None

    def _finalize_failure(self, job: Job, queue: Queue, execution: Execution,
                          exc_info: ExcInfo) -> None:
        self.failure = exc_info
        super()._finalize_failure(job, queue, execution, exc_info)


def job_dict_with_data(job: Job, to_dict: Callable[[], dict[str, Any]], level: int) -> dict[str, Any]:
    """Job.to_dict with the job's data compressed at zlib `level`: RQ's to_dict
    compresses `_data` at its own level, so it is handed none."""
    data = job.data
    job._data = b""
    try:
        fields = to_dict()
    finally:
        job._data = data
    fields["data"] = zlib.compress(data, level)
    return fields
