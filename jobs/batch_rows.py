"""The workers' side of files of rows (POST /api/v1/batches): a job of a batch being
cancelled cancels its rows instead of predicting them, and the rows a job wrote are
counted on their batch (core/batches.py keeps the counters)."""
from bson import ObjectId

from core import batches
from core.documents import DONE, FAILED


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
    batches.cancel_jobs(db, connection, skipped)
    return [type(chunk)(chunk.job, [], []) if chunk.job in skipped else chunk
            for chunk in chunks]


def written_counts(db, shares, all_written):
    """[(job, done, failed), ...] as written: from the outcomes when every row was
    written, else (rows of a batch cancelled meanwhile were skipped) from the documents."""
    if all_written:
        return [(chunk.job, sum(status == DONE for status, _ in outcomes),
                 sum(status == FAILED for status, _ in outcomes)) for chunk, outcomes in shares]
    counted = []
    for chunk, _ in shares:
        statuses = [p["status"] for p in db.predictions.find(
            {"_id": {"$in": [ObjectId(pid) for pid in chunk.prediction_ids]}}, {"status": 1})]
        counted.append((chunk.job, statuses.count(DONE), statuses.count(FAILED)))
    return counted


def count(db, connection, shares, all_written):
    """shares: [(chunk, its outcomes), ...] just written (jobs/predict.py)."""
    batches.count_jobs(db, connection, written_counts(db, shares, all_written))


def count_failed(db, connection, job, written):
    """A job out of retries: its `written` rows were marked failed."""
    batches.count_jobs(db, connection, [(job, 0, written)])
