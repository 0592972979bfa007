"""Coalescing: jobs of many requests joined into one model call.

("Batch" in this project means a file of rows, POST /batches; this is something else.)
A worker that starts a prediction job also takes the prediction jobs queued right behind
it for the same model version, up to COALESCE_MAX_ROWS rows in all, and runs them as one
model call and one write-back (jobs/predict.py). Each job it takes is started and
finished in RQ as usual (started and finished registries, its own result, its own
retries), so the dashboard shows every job as it is.

A lone job runs at once: a worker waits for more rows (COALESCE_WAIT_MS, once) only for a
call of fewer rows than a chunk, and only when another prediction job is running at
that moment, that is when clients send a few rows each, concurrently, and each would
otherwise cost a model call of its own (a forest's call costs about the same for 1 row
as for 20). Under heavier load, jobs queue up while a call runs, and the next call
takes them without waiting (BentoML's adaptive batching).

Which jobs may join is read from their `meta` (model, version, rows: core/queue.py),
without loading their rows. A job is taken with LREM, which only one worker can win. A
worker killed between that and starting the job leaves it `queued` in RQ and in no
list: the reconciler puts such a job back on its queue (jobs/reconcile.py)."""
import time

from rq import Queue
from rq.executions import Execution
from rq.job import Job
from rq.worker import BaseWorker

import settings
from core import rq_seams
from core.queue import PREDICT


def joinable(queue: Queue, job: Job, max_rows: int | None = None,
             lookahead: int | None = None) -> list[str]:
    """Ids of the jobs queued first for the same model version as `job`, as many as fit
    with it into max_rows rows, in queue order."""
    if job.func_name != PREDICT:
        return []
    model, version, _, rows = job.args
    room = (max_rows or settings.COALESCE_MAX_ROWS) - len(rows)
    if room <= 0:
        return []
    ids = queue.get_job_ids(0, lookahead or settings.COALESCE_LOOKAHEAD_JOBS)
    chosen: list[str] = []
    for job_id, meta in zip(ids, rq_seams.metas_of(queue, ids)):
        count = meta.get("rows")
        if (job_id != job.id and meta.get("model") == model and meta.get("version") == version
                and count is not None and count <= room):
            chosen.append(job_id)
            room -= count
    return chosen


def take(worker: BaseWorker, queue: Queue, job_ids: list[str]) -> list[tuple[Job, Execution]]:
    """Remove the jobs from the queue and start them on this worker, as RQ starts the
    job it dequeues. Returns [(job, execution), ...] for the ones this worker won."""
    return rq_seams.start_taken(worker, rq_seams.take_off_queue(queue, job_ids))


def rows_of(job: Job) -> int:
    return len(job.args[3])


def others_running(queue: Queue, started: int) -> bool:
    """Whether a prediction job other than the `started` ones is running now."""
    return queue.started_job_registry.get_job_count(cleanup=False) > started


def gather(worker: BaseWorker, queue: Queue, job: Job,
           wait_ms: float | None = None) -> list[tuple[Job, Execution]]:
    """The jobs to run with `job` (take): those queued behind it now, and, for a call
    of fewer rows than a chunk (CHUNK_SIZE) while another job is running, also those
    queued within wait_ms (COALESCE_WAIT_MS) from now."""
    wait_ms = settings.COALESCE_WAIT_MS if wait_ms is None else wait_ms
    taken = take(worker, queue, joinable(queue, job))
    if job.func_name != PREDICT or not wait_ms:
        return taken
    rows = rows_of(job) + sum(rows_of(other) for other, _ in taken)
    if rows < settings.CHUNK_SIZE and others_running(queue, 1 + len(taken)):
        time.sleep(wait_ms / 1000)
        room = settings.COALESCE_MAX_ROWS - (rows - rows_of(job))
        taken += take(worker, queue, joinable(queue, job, max_rows=room))
    return taken
