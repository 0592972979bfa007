"""The prediction job: one model call for a chunk of rows, then one write-back."""
import logging
import time

import numpy as np
import pandas as pd
from bson import ObjectId
from rq import get_current_job

from service.artifacts import ArtifactError
from service.logs import audit

from . import batches, callbacks, metrics, models, writeback
from .connections import mongo_db

log = logging.getLogger(__name__)


def classification_results(classes, probabilities):
    """Label and probabilities from predict_proba alone: the label is the class of the
    highest probability, which is what predict() returns for these models, without
    running the model twice."""
    results = []
    for row in probabilities:
        values = [float(p) for p in row]
        results.append({"label": classes[int(np.argmax(row))],
                        "probabilities": dict(zip(classes, values))})
    return results


DTYPES = {"number": "float64", "string": "object", "boolean": "bool"}


def model_input(entry, estimator, rows):
    """Numbers-only models fitted on an array take a float array; a model fitted on a
    DataFrame, or with string or boolean features, takes one with the training column
    names and dtypes, as in the notebook it came from."""
    types = entry.get("feature_types") or ["number"]
    if set(types) == {"number"} and not hasattr(estimator, "feature_names_in_"):
        return np.asarray(rows, dtype=np.float64)
    frame = pd.DataFrame(rows, columns=entry["features"])
    return frame.astype(dict(zip(entry["features"], (DTYPES[t] for t in types))))


def compute(entry, estimator, rows):
    X = model_input(entry, estimator, rows)
    if entry["task"] == "classification":
        return classification_results(entry["classes"], estimator.predict_proba(X))
    return [{"value": float(v)} for v in estimator.predict(X)]


def error_of(exc):
    return {"type": type(exc).__name__, "message": str(exc)[:500]}


def compute_each(entry, estimator, rows):
    """Row by row, after a whole-chunk call raised: the rows that work still succeed,
    and each failing row gets its own error."""
    outcomes = []
    for row in rows:
        try:
            outcomes.append(("done", compute(entry, estimator, [row])[0]))
        except Exception as exc:  # a poison row: recorded on its prediction, not raised
            outcomes.append(("failed", error_of(exc)))
    return outcomes


def log_outcomes(meta, model, version, sha256, prediction_ids, outcomes, duration_ms):
    inputs = meta.get("inputs") or [None] * len(prediction_ids)
    for input_id, prediction_id, (status, _) in zip(inputs, prediction_ids, outcomes):
        audit(log, "prediction_written", request_id=meta.get("request_id"),
              client=meta.get("client"), input=input_id, prediction=prediction_id,
              model=model, version=version, artifact_sha256=sha256, status=status,
              duration_ms=duration_ms)


def outcomes_of(db, model, version, rows):
    """(artifact sha256 or None, [(status, result or error), ...]) for the rows."""
    try:
        entry, estimator = models.load(db, model, version)
    except ArtifactError as exc:  # bytes altered or gone: retrying cannot help
        log.error("model %s v%s not loaded: %s", model, version, exc)
        return None, [("failed", error_of(exc))] * len(rows)
    try:
        return entry["artifact"]["sha256"], [
            ("done", result) for result in compute(entry, estimator, rows)]
    except Exception:
        log.exception("chunk of %s v%s failed as a whole; retrying row by row", model, version)
        return entry["artifact"]["sha256"], compute_each(entry, estimator, rows)


def predict_rows(db, model, version, prediction_ids, rows):
    """Predict the rows in one model call and write each outcome; the rows show
    `running` meanwhile if that takes long (writeback.running_if_slow).
    Returns (artifact sha256 or None, outcomes in row order, rows written: all but
    those of a cancelled batch)."""
    if not rows:
        return None, [], 0
    started_at = writeback.now()
    with writeback.running_if_slow(db, prediction_ids) as marked_running:
        sha256, outcomes = outcomes_of(db, model, version, rows)
    written = writeback.write_outcomes(db, prediction_ids, outcomes,
                                       started_at=None if marked_running() else started_at)
    return sha256, outcomes, written


def summary(outcomes):
    done = sum(1 for status, _ in outcomes if status == "done")
    return {"done": done, "failed": len(outcomes) - done}


def batch_counts(db, chunks, outcomes, written):
    """[(job, done, failed), ...] as written: from the outcomes when every row was
    written, else (rows of a cancelled batch skipped) from the documents."""
    counts, start = [], 0
    for chunk_job, ids, _ in chunks:
        own, start = outcomes[start:start + len(ids)], start + len(ids)
        counts.append((chunk_job, *summary(own).values()))
    if written == len(outcomes):
        return counts
    counted = []
    for chunk_job, ids, _ in chunks:
        statuses = [p["status"] for p in db.predictions.find(
            {"_id": {"$in": [ObjectId(pid) for pid in ids]}}, {"status": 1})]
        counted.append((chunk_job, statuses.count("done"), statuses.count("failed")))
    return counted


def without_cancelled_batches(db, connection, chunks):
    """The chunks to predict: a job of a batch being cancelled has its rows cancelled
    instead (jobs/batches.py), and gets a summary of zero rows."""
    of_batch = {chunk[0].meta["batch"] for chunk in chunks
                if chunk[0] is not None and chunk[0].meta.get("batch")}
    cancelled = batches.cancel_requested(db, of_batch)
    if not cancelled:
        return chunks
    skipped = [chunk[0] for chunk in chunks
               if chunk[0] is not None and chunk[0].meta.get("batch") in cancelled]
    batches.cancel_jobs(db, connection, skipped)
    return [chunk if chunk[0] not in skipped else (chunk[0], [], []) for chunk in chunks]


def predict_chunk(model, version, prediction_ids, rows):
    """RQ job: predict `rows` with (model, version) and write each result into its
    prediction document. The worker may have joined jobs queued for the same model
    version to this one (jobs/batching.py): their rows go into the same model call and
    write-back, and each one's summary is left in job.joined_results. The rows of a
    batch are counted on the batch once written (jobs/batches.py).
    Infrastructure errors propagate, so RQ retries the job and each joined one."""
    job = get_current_job()
    db = mongo_db()
    chunks = [(job, prediction_ids, rows)]
    chunks += [(other, other.args[2], other.args[3]) for other in getattr(job, "joined", ())]
    if job is not None:
        chunks = without_cancelled_batches(db, job.connection, chunks)
    started = time.perf_counter()
    sha256, outcomes, written = predict_rows(db, model, version,
                                             [pid for _, ids, _ in chunks for pid in ids],
                                             [row for _, _, part in chunks for row in part])
    duration_ms = round((time.perf_counter() - started) * 1000, 2)
    if job is not None:  # the waiting requests first: counting a batch's rows takes a lock
        writeback.announce(job.connection, [pid for _, ids, _ in chunks for pid in ids])
        callbacks.enqueue_deliveries(job.connection, {
            pid: url for chunk_job, _, _ in chunks
            for pid, url in chunk_job.meta.get("callbacks", {}).items()})
        batches.count_jobs(db, job.connection, batch_counts(db, chunks, outcomes, written))
    summaries, start = [], 0
    for chunk_job, ids, _ in chunks:
        own, start = outcomes[start:start + len(ids)], start + len(ids)
        metrics.observe_chunk(model, version, own, chunk_job.enqueued_at if chunk_job else None)
        log_outcomes(chunk_job.meta if chunk_job else {}, model, version, sha256, ids, own,
                     duration_ms)
        summaries.append(summary(own))
    if job is not None:
        job.joined_results = summaries[1:]
    return summaries[0]


def mark_chunk_failed(job, connection, exc_type, exc_value, traceback):
    """RQ on_failure callback: once the job has no retries left, its predictions are
    marked failed with the error instead of staying `queued` or `running`."""
    if job.retries_left:
        return
    _, _, prediction_ids, _ = job.args
    db = mongo_db()
    written = writeback.mark_failed(db, prediction_ids,
                                    {"type": exc_type.__name__, "message": str(exc_value)[:500]})
    batches.count_jobs(db, connection, [(job, 0, written)])
    writeback.announce(connection, prediction_ids)
    callbacks.enqueue_deliveries(connection, job.meta.get("callbacks", {}))
