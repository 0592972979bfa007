"""The workers' side of files of rows (POST /api/v1/batches): a job of a batch being
cancelled cancels its rows instead of predicting them, and the rows a job wrote are
counted on their batch (core/batches.py keeps the counters)."""
from typing import TYPE_CHECKING, Any

import redis
from pymongo.database import Database
from rq.job import Job

from core import batches
from core.documents import DONE, FAILED
from core.queue import worker_queues
from core.types import Outcome

if TYPE_CHECKING:
    from .predict import Chunk


def skip_cancelled(db: Database[Any], connection: redis.Redis,
                   chunks: list["Chunk"]) -> list["Chunk"]:
    """The chunks to predict: a job of a batch being cancelled has its rows cancelled
    instead, and is left with no rows (a summary of zero)."""
    of_batch = {chunk.job.meta["batch"] for chunk in chunks
                if chunk.job is not None and chunk.job.meta.get("batch")}
    cancelled = batches.cancel_requested(db, of_batch)
    if not cancelled:
        return chunks
    skipped = [chunk.job for chunk in chunks
               if chunk.job is not None and chunk.job.meta.get("batch") in cancelled]
    batches.cancel_jobs(db, worker_queues(connection), skipped)
    return [type(chunk)(chunk.job, [], []) if chunk.job in skipped else chunk
            for chunk in chunks]


def written_counts(shares: list[tuple["Chunk", list[Outcome]]],
                   finished_ids: set[str]) -> list[tuple[Job | None, int, int]]:
    """[(job, done, failed), ...] of the rows this worker finished (finished_ids)."""
    counted: list[tuple[Job | None, int, int]] = []
    for chunk, outcomes in shares:
        statuses = [status for pid, (status, _) in zip(chunk.prediction_ids, outcomes)
                    if pid in finished_ids]
        counted.append((chunk.job, statuses.count(DONE), statuses.count(FAILED)))
    return counted


def count(db: Database[Any], connection: redis.Redis, shares: list[tuple["Chunk", list[Outcome]]],
          finished_ids: set[str]) -> None:
    """shares: [(chunk, its outcomes), ...] just written (jobs/predict.py)."""
    batches.count_jobs(db, worker_queues(connection), written_counts(shares, finished_ids))


def count_failed(db: Database[Any], connection: redis.Redis, job: Job, written: int) -> None:
    """A job out of retries: its `written` rows were marked failed."""
    batches.count_jobs(db, worker_queues(connection), [(job, 0, written)])
