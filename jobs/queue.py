"""Turning stored inputs into RQ jobs: one job per chunk of rows of one model version."""
import uuid
from itertools import groupby

from rq import Callback, Queue, Retry

import settings

from .batching import describe
from .job import PredictionJob


def prediction_queue(connection):
    return Queue(settings.QUEUE_NAME, connection=connection, job_class=PredictionJob)


def plan_chunks(inputs, chunk_size=None):
    """Group inputs by (model, version, batch) and cut each group into chunks of at
    most chunk_size rows. Returns [(job_id, model, version, [input, ...]), ...]."""
    chunk_size = chunk_size or settings.CHUNK_SIZE
    key = lambda item: (item["model"], item["version"], str(item.get("batch") or ""))  # noqa: E731
    chunks = []
    for (model, version, _), group in groupby(sorted(inputs, key=key), key=key):
        rows = list(group)
        for start in range(0, len(rows), chunk_size):
            chunks.append((uuid.uuid4().hex, model, version, rows[start:start + chunk_size]))
    return chunks


def job_data(job_id, model, version, inputs, request_id=None, client=None):
    prediction_ids = [str(item["prediction"]) for item in inputs]
    rows = [item["features"] for item in inputs]
    return Queue.prepare_data(
        "jobs.predict.predict_chunk",
        args=(model, version, prediction_ids, rows),
        job_id=job_id,
        timeout=settings.JOB_TIMEOUT_SECONDS,
        retry=Retry(max=len(settings.JOB_RETRY_INTERVALS),
                    interval=settings.JOB_RETRY_INTERVALS),
        on_failure=Callback("jobs.predict.mark_chunk_failed"),
        description=describe(model, version, len(rows), inputs[0].get("batch")),
        meta={"request_id": request_id, "client": client,
              "batch": str(inputs[0]["batch"]) if inputs[0].get("batch") else None,
              "inputs": [str(item["_id"]) for item in inputs],
              "callbacks": {str(item["prediction"]): item["callback_url"]
                            for item in inputs if item.get("callback_url")}},
    )


def enqueue_chunks(queue, chunks, request_id=None, client=None):
    """Enqueue every chunk in one Redis pipeline; request id and client ride along in
    each job's meta for the audit log."""
    return queue.enqueue_many([job_data(*chunk, request_id=request_id, client=client)
                               for chunk in chunks])
