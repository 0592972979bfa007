"""The training job (queue `training`): retrain a version from its labelled predictions
and its training file, score champion and challenger on the same holdout rows, and
register the challenger as the name's next version, unaliased (core/training.py).

The `trainings` document goes queued -> running -> done | failed. A reason known only
now (too few labels in the window, one class, an estimator that cannot be cloned or
does not fit) ends it `failed` with that reason; any other error is raised, for RQ to
retry the job, and fails it once no retry is left (mark_failed). A worker killed while
it fits leaves the training `running` with its job abandoned: the reconciler puts the
job back (jobs/reconcile.py), and the rerun starts again. The version is registered by
one insert, found again by its `trained_from.training` if a rerun comes after it: a
training never registers two versions, nor half of one."""
import io
import logging
import random
from datetime import timedelta
from typing import Any

import joblib
import sklearn
from bson import ObjectId
from pymongo.database import Database
from redis import Redis
from rq.job import Job

from core import artifacts, finished, profiles, registry, store
from core.connections import mongo_db
from core.describe import describe
from core.documents import now
from core.inference import compute
from core.training import (
    TrainingRefused,
    as_csv,
    fit,
    labelled,
    refusal,
    score,
    split,
    store_file,
    training_file,
)
from core.types import ModelDocument

from . import models

log = logging.getLogger(__name__)

WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7),
           "all": None}
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


def new_seed() -> int:
    return random.SystemRandom().randrange(2**31)


def update(db: Database[Any], training_id: ObjectId, fields: dict[str, Any],
           condition: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Set fields on the training (with a new _updated and _etag) if it matches."""
    stamp = now()
    fields = {**fields, "_updated": stamp,
              "_etag": registry.etag_of({"_id": training_id, **fields, "at": stamp})}
    result: dict[str, Any] | None = db.trainings.find_one_and_update(
        {"_id": training_id, **(condition or {})}, {"$set": fields})
    return result


def end(db: Database[Any], connection: Redis | None, training_id: ObjectId,
        fields: dict[str, Any]) -> None:
    """Finish the training (done or failed) once, and tell its long-polling requests."""
    update(db, training_id, {**fields, "finished_at": now()},
           condition={"status": {"$in": [QUEUED, RUNNING]}})
    if connection is not None:
        finished.announce(connection, [str(training_id)])


def error_of(exc: BaseException) -> dict[str, str]:
    return {"type": type(exc).__name__, "message": str(exc)[:1000]}


def train_version(training_id: str) -> dict[str, Any]:
    """RQ job: the training `training_id`, start to end."""
    from rq import get_current_job
    job = get_current_job()
    db, the_id = mongo_db(), ObjectId(training_id)
    training = db.trainings.find_one({"_id": the_id})
    if training is None or training["status"] in (DONE, FAILED):
        return {"status": "nothing to do"}
    update(db, the_id, {"status": RUNNING, "started_at": now(),
                        "attempts": training.get("attempts", 0) + 1})
    connection = job.connection if job is not None else None
    try:
        fields = run(db, training)
    except TrainingRefused as exc:
        end(db, connection, the_id, {"status": FAILED, "error": error_of(exc)})
        return {"status": FAILED, "reason": str(exc)}
    end(db, connection, the_id, {"status": DONE, **fields,
                                 "metrics": store.without_nested_arrays(fields["metrics"])})
    if connection is not None:
        registry.models_changed(connection)
    return {"status": DONE, "version": fields["version"]}


def run(db: Database[Any], training: dict[str, Any]) -> dict[str, Any]:
    """Fit, score and register; returns the training's final fields."""
    source = db.models.find_one({"_id": training["model"]})
    if source is None:
        raise TrainingRefused("the source version was deleted")
    entry, estimator = models.load(db, source["name"], source["version"])
    span = WINDOWS[training["window"]]
    rows, targets = labelled(db, entry, now() - span if span else None)
    reason = refusal(entry, targets)
    if reason:
        raise TrainingRefused(reason)
    train_rows, hold_rows, train_y, hold_y = split(entry, rows, targets, training["holdout"],
                                                   training["seed"])
    file_rows, file_y = training_file(db, entry)
    fit_rows, fit_y = file_rows + train_rows, file_y + train_y
    challenger = fit(entry, estimator, fit_rows, fit_y)
    challenger_entry: ModelDocument = {**entry, **describe(challenger, entry["features"])}
    metrics = {"challenger": score(challenger_entry, challenger, hold_rows, hold_y),
               "champion": score(entry, estimator, hold_rows, hold_y)}
    version = registered(db, training, entry, challenger, challenger_entry, metrics,
                         fit_rows, fit_y)
    return {"version": version, "metrics": metrics, "rows": len(fit_rows),
            "holdout_rows": len(hold_rows), "labelled_rows": len(rows),
            "file_rows": len(file_rows)}


def flat_metrics(figures: dict[str, Any]) -> dict[str, float]:
    """The numbers of a version's `metrics` (its holdout figures that are numbers)."""
    return {key: value for key, value in figures.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)}


def registered(db: Database[Any], training: dict[str, Any], source: ModelDocument,
               challenger: Any, entry: ModelDocument, metrics: dict[str, Any],
               rows: list[Any], targets: list[Any]) -> int:
    """The challenger as the name's next version (not aliased), with what it came from;
    the version a rerun of the training had registered already, if any. A name without
    a `production` alias serves its latest version to inputs that name none: the source
    version, if it is that latest, gets the alias first, so that they stay with it until
    the challenger is promoted."""
    done = db.models.find_one({"trained_from.training": training["_id"]}, {"version": 1})
    if done is not None:
        return int(done["version"])
    buffer = io.BytesIO()
    joblib.dump(challenger, buffer)
    fields: dict[str, Any] = {
        "task": entry["task"], "features": entry["features"],
        "feature_types": entry.get("feature_types"),
        "metrics": flat_metrics(metrics["challenger"]),
        "artifact": artifacts.store(db, buffer.getvalue(), artifacts.JOBLIB),
        "sklearn_version": sklearn.__version__, "trained_at": now(),
        "trained_from": {"training": training["_id"], "version": source["version"],
                         "rows": len(rows)},
        "training": store_file(db, as_csv(entry, rows, targets), len(rows)),
        "reference": profiles.build(entry, rows[:profiles.REFERENCE_MAX_ROWS],
                                    compute(entry, challenger, rows[:profiles.REFERENCE_MAX_ROWS]),
                                    "training"),
        "aliases": [], "retired": False}
    if entry["task"] == "classification":
        fields["classes"] = entry["classes"]
    registry.keep_default(db, source["name"], source)
    document = registry.insert_next_version(db, source["name"], fields, now())
    return int(document["version"])


def mark_failed(job: Job, connection: Redis, exc_type: type, exc_value: BaseException,
                traceback: Any) -> None:
    """RQ on_failure callback: once no retry is left, the training ends `failed` with the
    error (a timeout included), never `running`."""
    if job.retries_left:
        return
    end(mongo_db(), connection, ObjectId(job.args[0]), {"status": FAILED,
                                                         "error": error_of(exc_value)})
