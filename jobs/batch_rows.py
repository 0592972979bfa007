"""The workers' side of files of rows (POST /api/v1/batches): a job of a batch being
cancelled cancels its rows instead of predicting them, and the rows a job wrote are
counted on their batch (core/batches.py keeps the counters)."""
from core import batches
from core.documents import DONE, FAILED
from core.queue import worker_queues


def skip_cancelled(db, connection, chunks):
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


def written_counts(shares, finished_ids):
    """[(job, done, failed), ...] of the rows this worker finished (finished_ids)."""
    counted = []
    for chunk, outcomes in shares:
        statuses = [status for pid, (status, _) in zip(chunk.prediction_ids, outcomes)
                    if pid in finished_ids]
        counted.append((chunk.job, statuses.count(DONE), statuses.count(FAILED)))
    return counted


def count(db, connection, shares, finished_ids):
    """shares: [(chunk, its outcomes), ...] just written (jobs/predict.py)."""
    batches.count_jobs(db, worker_queues(connection), written_counts(shares, finished_ids))


def count_failed(db, connection, job, written):
    """A job out of retries: its `written` rows were marked failed."""
    batches.count_jobs(db, worker_queues(connection), [(job, 0, written)])
