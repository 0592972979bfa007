"""Micro-batching across requests.

A worker that starts a prediction job also takes the prediction jobs queued right behind
it for the same model version, up to BATCH_MAX_ROWS rows in all, and runs them as one
model call and one write-back (jobs/predict.py). Each job it takes is started and
finished in RQ as usual (started and finished registries, its own result, its own
retries), so the dashboard shows every job as it is.

A lone job runs at once: a worker waits for more rows (BATCH_WAIT_MS, once) only for a
batch of fewer rows than a chunk, and only when another prediction job is running at
that moment, that is when clients send a few rows each, concurrently, and each would
otherwise cost a model call of its own (a forest's call costs about the same for 1 row
as for 20). Under heavier load, jobs queue up while a batch runs, and the next batch
takes them without waiting (BentoML's adaptive batching).

A job is taken with LREM, which only one worker can win. A worker killed between that
and starting the job leaves it `queued` in RQ and in no list: the reconciler puts such
a job back on its queue (jobs/reconcile.py)."""
import re
import time

from rq.executions import Execution
from rq.job import Job

import settings

PREDICT = "jobs.predict.predict_chunk"
DESCRIPTION = re.compile(
    r"predict (?P<model>.+) v(?P<version>\d+): (?P<rows>\d+) rows( of batch [0-9a-f]{24})?$")


def describe(model, version, rows, batch=None):
    """A prediction job's description, which is also how a worker learns, without
    loading a job's rows, whether it can join a batch. The rows of a file (POST
    /batches) name their batch, which the dashboard then shows."""
    return f"predict {model} v{version}: {rows} rows" + (f" of batch {batch}" if batch else "")


def joinable(queue, job, max_rows=None, lookahead=None):
    """Ids of the jobs queued first for the same model version as `job`, as many as fit
    with it into max_rows rows, in queue order."""
    if job.func_name != PREDICT:
        return []
    model, version, _, rows = job.args
    room = (max_rows or settings.BATCH_MAX_ROWS) - len(rows)
    if room <= 0:
        return []
    ids = [i.decode() for i in queue.connection.lrange(
        queue.key, 0, (lookahead or settings.BATCH_LOOKAHEAD_JOBS) - 1)]
    with queue.connection.pipeline(transaction=False) as pipeline:
        for job_id in ids:
            pipeline.hget(Job.key_for(job_id), "description")
        descriptions = pipeline.execute()
    chosen = []
    for job_id, description in zip(ids, descriptions):
        match = DESCRIPTION.match((description or b"").decode())
        if (job_id != job.id and match and match["model"] == model
                and int(match["version"]) == version and int(match["rows"]) <= room):
            chosen.append(job_id)
            room -= int(match["rows"])
    return chosen


def take(worker, queue, job_ids):
    """Remove the jobs from the queue and start them on this worker, as RQ starts the
    job it dequeues. Returns [(job, execution), ...] for the ones this worker won."""
    if not job_ids:
        return []
    with queue.connection.pipeline(transaction=False) as pipeline:
        for job_id in job_ids:
            pipeline.lrem(queue.key, 1, job_id)
        removed = pipeline.execute()
    won = [job_id for job_id, count in zip(job_ids, removed) if count == 1]
    jobs = [job for job in queue.job_class.fetch_many(won, connection=queue.connection,
                                                      serializer=queue.serializer)
            if job is not None]
    started = []
    with queue.connection.pipeline() as pipeline:
        for job in jobs:
            execution = Execution.create(job, worker.get_heartbeat_ttl(job), pipeline=pipeline,
                                         worker_name=worker.name)
            worker.executions[execution.id] = execution
            job.prepare_for_execution(worker.name, pipeline)
            pipeline.persist(job.key)
            started.append((job, execution))
        pipeline.execute()
    return started


def rows_of(job):
    return len(job.args[3])


def others_running(queue, started):
    """Whether a prediction job other than the `started` ones is running now."""
    return queue.started_job_registry.get_job_count(cleanup=False) > started


def gather(worker, queue, job, wait_ms=None):
    """The jobs to run with `job` (take): those queued behind it now, and, for a batch
    of fewer rows than a chunk (CHUNK_SIZE) while another job is running, also those
    queued within wait_ms (BATCH_WAIT_MS) from now."""
    wait_ms = settings.BATCH_WAIT_MS if wait_ms is None else wait_ms
    taken = take(worker, queue, joinable(queue, job))
    if job.func_name != PREDICT or not wait_ms:
        return taken
    rows = rows_of(job) + sum(rows_of(other) for other, _ in taken)
    if rows < settings.CHUNK_SIZE and others_running(queue, 1 + len(taken)):
        time.sleep(wait_ms / 1000)
        room = settings.BATCH_MAX_ROWS - (rows - rows_of(job))
        taken += take(worker, queue, joinable(queue, job, max_rows=room))
    return taken
