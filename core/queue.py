"""The queues, and turning stored inputs into RQ jobs: one job per chunk of rows of one
model version. The API enqueues (service/hooks.py, service/batches/), the workers run
(jobs/); a job names its function by path, so neither side imports the other.

What a worker needs to know of a job without loading its rows (may it join a batch,
jobs/batching.py? which file of rows is it of, core/batches.py?) is in its `meta`:
`model`, `version`, `rows`, `batch`. The description is for the dashboard only."""
import logging
import uuid
from itertools import groupby

import redis
from rq import Callback, Queue, Retry
from rq.job import Dependency
from rq.queue import EnqueueData

import settings

from .job import PredictionJob

log = logging.getLogger(__name__)

PREDICT = "jobs.predict.predict_chunk"
MARK_FAILED = "jobs.predict.mark_chunk_failed"
DELIVER = "jobs.callbacks.deliver"
CALLBACK_QUEUE = "callbacks"


def prediction_queue(connection: redis.Redis) -> Queue:
    """The queue of files and large submissions."""
    return Queue(settings.QUEUE_NAME, connection=connection, job_class=PredictionJob)


def interactive_queue(connection: redis.Redis) -> Queue:
    """The queue of submissions of at most INTERACTIVE_MAX_ROWS rows."""
    return Queue(settings.INTERACTIVE_QUEUE_NAME, connection=connection, job_class=PredictionJob)


def prediction_queues(connection: redis.Redis) -> list[Queue]:
    """Both, in the order a worker takes them: interactive rows first."""
    return [interactive_queue(connection), prediction_queue(connection)]


def queue_for(connection: redis.Redis, rows: int) -> Queue:
    """Where a submission of `rows` rows waits."""
    if rows <= settings.INTERACTIVE_MAX_ROWS:
        return interactive_queue(connection)
    return prediction_queue(connection)


def origin_queue(connection: redis.Redis, job) -> Queue:
    """The queue a job was enqueued on."""
    return Queue(job.origin, connection=connection, job_class=PredictionJob)


def callback_queue(connection: redis.Redis) -> Queue:
    return Queue(CALLBACK_QUEUE, connection=connection)


def plan_chunks(inputs: list[dict], chunk_size: int | None = None) -> list[tuple]:
    """Group inputs by (model, version, batch) and cut each group into chunks of at
    most chunk_size rows. Returns [(job_id, model, version, [input, ...]), ...]."""
    chunk_size = chunk_size or settings.CHUNK_SIZE

    def key(item):
        return item["model"], item["version"], str(item.get("batch") or "")
    chunks = []
    for (model, version, _), group in groupby(sorted(inputs, key=key), key=key):
        rows = list(group)
        for start in range(0, len(rows), chunk_size):
            chunks.append((uuid.uuid4().hex, model, version, rows[start:start + chunk_size]))
    return chunks


def describe(model: str, version: int, rows: int, batch: str | None = None) -> str:
    """The job's description, as the dashboard shows it."""
    return f"predict {model} v{version}: {rows} rows" + (f" of batch {batch}" if batch else "")


def job_meta(model: str, version: int, inputs: list[dict], request_id=None, client=None) -> dict:
    batch = str(inputs[0]["batch"]) if inputs[0].get("batch") else None
    return {"model": model, "version": version, "rows": len(inputs), "batch": batch,
            "request_id": request_id, "client": client,
            "inputs": [str(item["_id"]) for item in inputs],
            "callbacks": {str(item["prediction"]): item["callback_url"]
                          for item in inputs if item.get("callback_url")}}


class Turns:
    """A file's chunks in turns with other files': the first `size` are queued at once;
    each further one waits (an RQ dependency, failure allowed) for the one `size` before
    it, and RQ queues it when that one ends, behind what other files queued meanwhile.
    One per file, across the enqueue_chunks calls of its upload."""

    def __init__(self, size: int = 0):
        self.size, self.job_ids = size, []

    def next_dependency(self, job_id: str) -> Dependency | None:
        """What the file's next chunk (`job_id`) waits for, if anything."""
        self.job_ids.append(job_id)
        if not self.size or len(self.job_ids) <= self.size:
            return None
        return Dependency(jobs=[self.job_ids.pop(0)], allow_failure=True)


def job_data(job_id: str, model: str, version: int, inputs: list[dict], request_id=None,
             client=None, depends_on=None) -> EnqueueData:
    prediction_ids = [str(item["prediction"]) for item in inputs]
    rows = [item["features"] for item in inputs]
    return Queue.prepare_data(
        PREDICT,
        args=(model, version, prediction_ids, rows),
        job_id=job_id,
        timeout=settings.JOB_TIMEOUT_SECONDS,
        retry=Retry(max=len(settings.JOB_RETRY_INTERVALS),
                    interval=settings.JOB_RETRY_INTERVALS),
        on_failure=Callback(MARK_FAILED),
        result_ttl=settings.JOB_RESULT_TTL, failure_ttl=settings.JOB_FAILURE_TTL,
        description=describe(model, version, len(rows), inputs[0].get("batch")),
        meta=job_meta(model, version, inputs, request_id, client),
        depends_on=depends_on,
    )


def enqueue_chunks(queue: Queue, chunks: list[tuple], request_id=None, client=None,
                   turns: Turns | None = None) -> list:
    """Enqueue every chunk in one Redis pipeline (those of a file in `turns`); request
    id and client ride along in each job's meta for the audit log."""
    return queue.enqueue_many([
        job_data(*chunk, request_id=request_id, client=client,
                 depends_on=turns.next_dependency(chunk[0]) if turns else None)
        for chunk in chunks])


def enqueue_deliveries(connection: redis.Redis, callbacks: dict[str, str],
                       collection: str = "predictions") -> None:
    """callbacks: {document_id: url} of `predictions` or `batches`, delivered by the
    callback worker (jobs/callbacks.py). Best effort, like the announcement: the
    documents are written whatever happens here."""
    if not callbacks:
        return
    kind = {"predictions": "prediction", "batches": "batch"}[collection]
    try:
        callback_queue(connection).enqueue_many([
            Queue.prepare_data(DELIVER, args=(document_id, url),
                               kwargs={"collection": collection},
                               timeout=settings.CALLBACK_TIMEOUT_SECONDS * 3,
                               retry=Retry(max=len(settings.CALLBACK_RETRY_INTERVALS),
                                           interval=settings.CALLBACK_RETRY_INTERVALS),
                               description=f"callback of {kind} {document_id}")
            for document_id, url in callbacks.items()])
    except redis.RedisError as exc:
        log.error("callbacks of %d %s not enqueued: %s", len(callbacks), collection, exc)
