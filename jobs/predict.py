"""The prediction job: one model call for a chunk of rows, then one write-back."""
import logging
import time

import numpy as np
import pandas as pd
from rq import get_current_job

from service.artifacts import ArtifactError
from service.logs import audit

from . import metrics, models, writeback
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


def log_outcomes(meta, entry, prediction_ids, outcomes, duration_ms):
    inputs = meta.get("inputs") or [None] * len(prediction_ids)
    for input_id, prediction_id, (status, _) in zip(inputs, prediction_ids, outcomes):
        audit(log, "prediction_written", request_id=meta.get("request_id"),
              client=meta.get("client"), input=input_id, prediction=prediction_id,
              model=entry["name"], version=entry["version"],
              artifact_sha256=entry["artifact"]["sha256"], status=status,
              duration_ms=duration_ms)


def predict_chunk(model, version, prediction_ids, rows):
    """RQ job: predict `rows` with (model, version) and write each result into its
    prediction document. Infrastructure errors propagate, so RQ retries the job."""
    db = mongo_db()
    writeback.mark_running(db, prediction_ids)
    try:
        entry, estimator = models.load(db, model, version)
    except ArtifactError as exc:  # bytes altered or gone: retrying cannot help
        log.error("model %s v%s not loaded: %s", model, version, exc)
        writeback.mark_failed(db, prediction_ids, error_of(exc))
        return {"done": 0, "failed": len(prediction_ids)}
    started = time.perf_counter()
    try:
        outcomes = [("done", result) for result in compute(entry, estimator, rows)]
    except Exception:
        log.exception("chunk of %s v%s failed as a whole; retrying row by row", model, version)
        outcomes = compute_each(entry, estimator, rows)
    writeback.write_outcomes(db, prediction_ids, outcomes)
    job = get_current_job()
    metrics.observe_chunk(model, version, outcomes, job.enqueued_at if job else None)
    log_outcomes(job.meta if job else {}, entry, prediction_ids, outcomes,
                 duration_ms=round((time.perf_counter() - started) * 1000, 2))
    done = sum(1 for status, _ in outcomes if status == "done")
    return {"done": done, "failed": len(outcomes) - done}


def mark_chunk_failed(job, connection, exc_type, exc_value, traceback):
    """RQ on_failure callback: once the job has no retries left, its predictions are
    marked failed with the error instead of staying `running`."""
    if job.retries_left:
        return
    _, _, prediction_ids, _ = job.args
    writeback.mark_failed(mongo_db(), prediction_ids,
                          {"type": exc_type.__name__, "message": str(exc_value)[:500]})
