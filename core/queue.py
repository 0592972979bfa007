"""The queues, and turning stored inputs into RQ jobs: one job per chunk of rows of one
model version. The API enqueues (service/hooks.py, service/batches/), the workers run
(jobs/); a job names its function by path, so neither side imports the other.

What a worker needs to know of a job without loading its rows (may it join another
job's model call, jobs/coalescing.py? which file of rows is it of, core/batches.py?) is
in its `meta`:
`model`, `version`, `rows`, `batch`. The description is for the dashboard only."""
import logging
import uuid
from collections.abc import Mapping
from itertools import groupby
from typing import Any, cast

import redis
from rq import Callback, Queue, Retry
from rq.job import Dependency, Job
from rq.queue import EnqueueData

import settings

from .job import PredictionJob
from .types import Chunk, InputItem, JobMeta

log = logging.getLogger(__name__)

PREDICT = "jobs.predict.predict_chunk"
MARK_FAILED = "jobs.predict.mark_chunk_failed"
DELIVER = "jobs.callbacks.deliver"
CALLBACK_QUEUE = "callbacks"
TRAIN = "jobs.training.train_version"
TRAINING_FAILED = "jobs.training.mark_failed"
TRAINING_QUEUE = "training"
TRAINING_RETRIES = 2


def settings_mapping() -> dict[str, Any]:
    """The workers' configuration: the settings module's values, by name."""
    return {name: getattr(settings, name) for name in dir(settings) if name.isupper()}


class Queues:
    """The service's queues on one Redis, and the settings of the jobs put on them, read
    from one configuration: the API's app.config (so that create_app's overrides reach
    them), or the workers' settings module (settings_mapping)."""

    def __init__(self, connection: redis.Redis, config: Mapping[str, Any]) -> None:
        self.connection, self.config = connection, config

    def predictions(self) -> Queue:
        """The queue of files and large submissions."""
        return Queue(self.config["QUEUE_NAME"], connection=self.connection,
                     job_class=PredictionJob)

    def interactive(self) -> Queue:
        """The queue of submissions of at most INTERACTIVE_MAX_ROWS rows."""
        return Queue(self.config["INTERACTIVE_QUEUE_NAME"], connection=self.connection,
                     job_class=PredictionJob)

    def both(self) -> list[Queue]:
        """Both prediction queues, in the order a worker takes them: interactive first."""
        return [self.interactive(), self.predictions()]

    def for_rows(self, rows: int) -> Queue:
        """Where a submission of `rows` rows waits."""
        if rows <= self.config["INTERACTIVE_MAX_ROWS"]:
            return self.interactive()
        return self.predictions()

    def callbacks(self) -> Queue:
        return Queue(CALLBACK_QUEUE, connection=self.connection)

    def origin(self, job: Job) -> Queue:
        """The queue a job was enqueued on."""
        return Queue(job.origin, connection=self.connection, job_class=PredictionJob)

    def plan(self, inputs: list[InputItem]) -> list[Chunk]:
        """plan_chunks with this configuration's CHUNK_SIZE."""
        return plan_chunks(inputs, self.config["CHUNK_SIZE"])

    def job_data(self, chunk: Chunk, request_id: str | None = None, client: str | None = None,
                 depends_on: Dependency | None = None, answer: bool = False) -> EnqueueData:
        job_id, model, version, inputs = chunk
        intervals = self.config["JOB_RETRY_INTERVALS"]
        return Queue.prepare_data(
            PREDICT,
            args=(model, version, [str(item["prediction"]) for item in inputs],
                  [item["features"] for item in inputs]),
            job_id=job_id,
            timeout=self.config["JOB_TIMEOUT_SECONDS"],
            retry=Retry(max=len(intervals), interval=intervals),
            on_failure=Callback(MARK_FAILED),
            result_ttl=self.config["JOB_RESULT_TTL"],
            failure_ttl=self.config["JOB_FAILURE_TTL"],
            description=describe(model, version, len(inputs), inputs[0].get("batch")),
            meta=cast(dict[str, Any], job_meta(model, version, inputs, request_id, client,
                                               answer)),
            depends_on=depends_on,
        )

    def enqueue_chunks(self, queue: Queue, chunks: list[Chunk], request_id: str | None = None,
                       client: str | None = None, turns: "Turns | None" = None,
                       answer: bool = False) -> list[Job]:
        """Enqueue every chunk in one Redis pipeline (those of a file in `turns`); request
        id and client ride along in each job's meta for the audit log, and `answer` when
        the request waits for its rows' answers (core/finished.py)."""
        if not chunks:
            return []
        return queue.enqueue_many([
            self.job_data(chunk, request_id=request_id, client=client,
                          depends_on=turns.next_dependency(chunk[0]) if turns else None,
                          answer=answer)
            for chunk in chunks])

    def training(self) -> Queue:
        """The queue of trainings (jobs/training.py), taken after both prediction queues."""
        return Queue(TRAINING_QUEUE, connection=self.connection)

    def enqueue_training(self, training_id: str) -> Job:
        """A training's job: long, retried on a worker's death, failed with the reason once
        no retry is left; its id names the training, so it is queued once."""
        intervals = self.config["JOB_RETRY_INTERVALS"]
        return self.training().enqueue(
            TRAIN, training_id, job_id=f"training-{training_id}",
            job_timeout=self.config["TRAINING_TIMEOUT_SECONDS"],
            retry=Retry(max=TRAINING_RETRIES, interval=intervals[:TRAINING_RETRIES]),
            on_failure=Callback(TRAINING_FAILED),
            result_ttl=self.config["JOB_RESULT_TTL"], failure_ttl=self.config["JOB_FAILURE_TTL"],
            description=f"train from model version {training_id}")

    def enqueue_deliveries(self, callbacks: dict[str, str],
                           collection: str = "predictions") -> None:
        """callbacks: {document_id: url} of `predictions` or `batches`, delivered by the
        callback worker (jobs/callbacks.py). Best effort, like the announcement: the
        documents are written whatever happens here."""
        if not callbacks:
            return
        kind = {"predictions": "prediction", "batches": "batch"}[collection]
        intervals = self.config["CALLBACK_RETRY_INTERVALS"]
        try:
            self.callbacks().enqueue_many([
                Queue.prepare_data(DELIVER, args=(document_id, url),
                                   kwargs={"collection": collection},
                                   timeout=self.config["CALLBACK_TIMEOUT_SECONDS"] * 3,
                                   retry=Retry(max=len(intervals), interval=intervals),
                                   description=f"callback of {kind} {document_id}")
                for document_id, url in callbacks.items()])
        except redis.RedisError as exc:
            log.error("callbacks of %d %s not enqueued: %s", len(callbacks), collection, exc)


def worker_queues(connection: redis.Redis) -> Queues:
    """The queues as the workers see them (the settings module)."""
    return Queues(connection, settings_mapping())


def prediction_queue(connection: redis.Redis) -> Queue:
    """The workers' queue of files and large submissions."""
    return worker_queues(connection).predictions()


def interactive_queue(connection: redis.Redis) -> Queue:
    return worker_queues(connection).interactive()


def prediction_queues(connection: redis.Redis) -> list[Queue]:
    return worker_queues(connection).both()


def callback_queue(connection: redis.Redis) -> Queue:
    return worker_queues(connection).callbacks()


def plan_chunks(inputs: list[InputItem], chunk_size: int) -> list[Chunk]:
    """Group inputs by (model, version, batch) and cut each group into chunks of at
    most chunk_size rows. Returns [(job_id, model, version, [input, ...]), ...]."""
    def key(item: InputItem) -> tuple[str, int, str]:
        return item["model"], item["version"], str(item.get("batch") or "")
    chunks: list[Chunk] = []
    for (model, version, _), group in groupby(sorted(inputs, key=key), key=key):
        rows = list(group)
        for start in range(0, len(rows), chunk_size):
            chunks.append((uuid.uuid4().hex, model, version, rows[start:start + chunk_size]))
    return chunks


def describe(model: str, version: int, rows: int, batch: Any = None) -> str:
    """The job's description, as the dashboard shows it."""
    return f"predict {model} v{version}: {rows} rows" + (f" of batch {batch}" if batch else "")


def job_meta(model: str, version: int, inputs: list[InputItem], request_id: str | None = None,
             client: str | None = None, answer: bool = False) -> JobMeta:
    batch = str(inputs[0]["batch"]) if inputs[0].get("batch") else None
    meta: JobMeta = {"model": model, "version": version, "rows": len(inputs), "batch": batch,
                     "request_id": request_id, "client": client,
                     "inputs": [str(item["_id"]) for item in inputs],
                     "callbacks": {str(item["prediction"]): item["callback_url"]
                                   for item in inputs if item.get("callback_url")}}
    if answer:
        meta["answer"] = True
    return meta


class Turns:
    """A file's chunks in turns with other files': the first `size` are queued at once;
    each further one waits (an RQ dependency, failure allowed) for the one `size` before
    it, and RQ queues it when that one ends, behind what other files queued meanwhile.
    One per file, across the enqueue_chunks calls of its upload."""

    def __init__(self, size: int = 0) -> None:
        self.size = size
        self.job_ids: list[str] = []

    def next_dependency(self, job_id: str) -> Dependency | None:
        """What the file's next chunk (`job_id`) waits for, if anything."""
        self.job_ids.append(job_id)
        if not self.size or len(self.job_ids) <= self.size:
            return None
        return Dependency(jobs=[self.job_ids.pop(0)], allow_failure=True)
