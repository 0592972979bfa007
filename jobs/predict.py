"""The prediction job: one model call for a chunk of rows, then one write-back."""
import logging
import time
from datetime import datetime
from types import TracebackType
from typing import Any, NamedTuple

import redis
from pymongo.database import Database
from rq import get_current_job
from rq.job import Job

import settings
from core import finished
from core.artifacts import ArtifactError
from core.cache import ResultCache
from core.connections import mongo_db
from core.documents import DONE, FAILED, now
from core.inference import compute
from core.logs import audit
from core.queue import worker_queues
from core.types import Features, ModelDocument, Outcome, Result

from . import batch_rows, metrics, models, monitoring, writeback

log = logging.getLogger(__name__)
_answer_cache: list[ResultCache] = []


def answer_cache() -> ResultCache:
    """This worker's connection to the result cache (CACHE_URL; none: no cache)."""
    if not _answer_cache:
        _answer_cache.append(ResultCache(settings.CACHE_URL))
    return _answer_cache[0]


def error_of(exc: BaseException) -> dict[str, Any]:
    return {"type": type(exc).__name__, "message": str(exc)[:500]}


def compute_each(entry: ModelDocument, estimator: Any, rows: list[Features]) -> list[Outcome]:
    """Row by row, after a whole-chunk call raised: the rows that work still succeed,
    and each failing row gets its own error."""
    outcomes: list[Outcome] = []
    for row in rows:
        try:
            outcomes.append((DONE, compute(entry, estimator, [row])[0]))
        except Exception as exc:  # a poison row: recorded on its prediction, not raised
            outcomes.append((FAILED, error_of(exc)))
    return outcomes


def log_outcomes(meta: dict[str, Any], model: str, version: int, sha256: str | None,
                 prediction_ids: list[str], outcomes: list[Outcome], duration_ms: float,
                 finished_ids: set[str]) -> None:
    """One audit line per row this worker finished (`worker`: its host:pid)."""
    inputs = meta.get("inputs") or [None] * len(prediction_ids)
    worker = writeback.worker_id()
    for input_id, prediction_id, (status, _) in zip(inputs, prediction_ids, outcomes):
        if prediction_id in finished_ids:
            audit(log, "prediction_written", request_id=meta.get("request_id"),
                  client=meta.get("client"), input=input_id, prediction=prediction_id,
                  model=model, version=version, artifact_sha256=sha256, status=status,
                  duration_ms=duration_ms, worker=worker)


def outcomes_of(db: Database[Any], model: str, version: int,
                rows: list[Features]) -> tuple[ModelDocument | None, list[Outcome]]:
    """(model document or None, [(status, result or error), ...]) for the rows."""
    try:
        entry, estimator = models.load(db, model, version)
    except ArtifactError as exc:  # bytes altered or gone: retrying cannot help
        log.error("model %s v%s not loaded: %s", model, version, exc)
        return None, [(FAILED, error_of(exc))] * len(rows)
    try:
        return entry, [(DONE, result) for result in compute(entry, estimator, rows)]
    except Exception:
        log.exception("chunk of %s v%s failed as a whole; retrying row by row", model, version)
        return entry, compute_each(entry, estimator, rows)


class Written(NamedTuple):
    """What predict_rows wrote: the model document (None when it did not load), each
    row's outcome, the ids of the rows this write finished (all but those finished
    before it: cancelled with their batch, or written by another worker), when, and the
    shadow version with its answer to each row, if the version has a shadow."""
    entry: ModelDocument | None
    outcomes: list[Outcome]
    finished: set[str]
    finished_at: datetime | None
    shadow: tuple[ModelDocument, list[Result | None]] | None = None

    @property
    def sha256(self) -> str | None:
        return self.entry["artifact"]["sha256"] if self.entry else None


def shadow_answers(db: Database[Any], entry: ModelDocument, rows: list[Features],
                   outcomes: list[Outcome]) -> tuple[ModelDocument, list[Result | None]] | None:
    """The version's shadow (PATCH /models/{id} {"shadow": n}), if it has one, and its
    answer to each row the version answered (None for the others). The shadow never
    holds up or fails the rows: a shadow that does not load or answer is left out."""
    version = models.settings_of(db, entry).get("shadow")
    if not version or version == entry["version"]:
        return None
    answered = [i for i, (status, _) in enumerate(outcomes) if status == DONE]
    try:
        shadow_entry, estimator = models.load(db, entry["name"], version)
        results = compute(shadow_entry, estimator, [rows[i] for i in answered]) \
            if answered else []
    except Exception:
        log.exception("shadow %s v%s of v%s did not answer", entry["name"], version,
                      entry["version"])
        return None
    answers: list[Result | None] = [None] * len(rows)
    for index, result in zip(answered, results):
        answers[index] = result
    return shadow_entry, answers


def predict_rows(db: Database[Any], model: str, version: int, prediction_ids: list[str],
                 rows: list[Features]) -> Written:
    """Predict the rows in one model call (and in one call of the version's shadow, if
    it has one) and write each outcome; the rows show `running` meanwhile if that takes
    long (writeback.running_if_slow)."""
    if not rows:
        return Written(None, [], set(), None)
    started_at = now()
    with writeback.running_if_slow(db, prediction_ids) as marked_running:
        entry, outcomes = outcomes_of(db, model, version, rows)
        shadow = shadow_answers(db, entry, rows, outcomes) if entry else None
    finished_at = writeback.write_stamp()
    review = models.settings_of(db, entry).get("review_threshold") if entry else None
    shadows = None if shadow is None else [
        None if answer is None else {"version": shadow[0]["version"], "result": answer}
        for answer in shadow[1]]
    finished = writeback.write_outcomes(db, prediction_ids, outcomes, stamp=finished_at,
                                        started_at=None if marked_running() else started_at,
                                        review_threshold=review, shadows=shadows)
    return Written(entry, outcomes, finished, finished_at, shadow)


def summary(outcomes: list[Outcome]) -> dict[str, int]:
    done = sum(1 for status, _ in outcomes if status == DONE)
    return {"done": done, "failed": len(outcomes) - done}


class Chunk(NamedTuple):
    """One RQ job's share of a model call: the job (None outside a worker), its
    predictions' ids and its rows."""
    job: Job | None
    prediction_ids: list[str]
    rows: list[Features]


def chunks_of(job: Job | None, prediction_ids: list[str], rows: list[Features]) -> list[Chunk]:
    """This job's chunk, then those of the jobs the worker joined to it."""
    return [Chunk(job, prediction_ids, rows)] + [
        Chunk(other, other.args[2], other.args[3]) for other in getattr(job, "joined", ())]


def per_chunk(chunks: list[Chunk], outcomes: list[Outcome]) -> list[tuple[Chunk, list[Outcome]]]:
    """[(chunk, its outcomes), ...]: the outcomes cut back into each chunk's share."""
    shares: list[tuple[Chunk, list[Outcome]]] = []
    start = 0
    for chunk in chunks:
        shares.append((chunk, outcomes[start:start + len(chunk.prediction_ids)]))
        start += len(chunk.prediction_ids)
    return shares


def announce(connection: redis.Redis, chunks: list[Chunk], finished_ids: set[str],
             outcomes: list[Outcome] | None = None) -> None:
    """Tell the long-polling requests (and, for a submission that waits for its answers,
    service/waiting.py, what each row got), then the callback receivers of the rows this
    worker finished."""
    ids = [pid for chunk in chunks for pid in chunk.prediction_ids]
    answers = None
    if outcomes is not None and any(chunk.job is not None and chunk.job.meta.get("answer")
                                    for chunk in chunks):
        answers = {pid: finished.answer_of(status, value)
                   for pid, (status, value) in zip(ids, outcomes) if pid in finished_ids}
    finished.announce(connection, ids, answers)
    callbacks: dict[str, str] = {}
    for chunk in chunks:
        assert chunk.job is not None  # in a worker, each chunk is a job's
        callbacks.update({pid: url for pid, url in chunk.job.meta.get("callbacks", {}).items()
                          if pid in finished_ids})
    worker_queues(connection).enqueue_deliveries(callbacks)


def keep_answers(db: Database[Any], written: Written,
                 rows: list[Features]) -> None:
    """A version with cache_seconds keeps the answers it just wrote (core/cache.py)."""
    entry = written.entry
    if entry is None:
        return
    seconds = models.settings_of(db, entry).get("cache_seconds") or 0
    if seconds <= 0:
        return
    done = [i for i, (status, _) in enumerate(written.outcomes) if status == DONE]
    answer_cache().put_many(entry["_id"], [rows[i] for i in done],
                            [written.outcomes[i][1] for i in done], seconds)


def record(model: str, version: int, sha256: str | None, shares: list[tuple[Chunk, list[Outcome]]],
           duration_ms: float, finished_ids: set[str]) -> list[dict[str, int]]:
    """Metrics and audit lines of the rows each chunk finished; returns each chunk's
    summary."""
    summaries: list[dict[str, int]] = []
    for chunk, outcomes in shares:
        metrics.observe_chunk(model, version, [
            outcome for pid, outcome in zip(chunk.prediction_ids, outcomes)
            if pid in finished_ids], chunk.job.enqueued_at if chunk.job else None)
        log_outcomes(chunk.job.meta if chunk.job else {}, model, version, sha256,
                     chunk.prediction_ids, outcomes, duration_ms, finished_ids)
        summaries.append(summary(outcomes))
    return summaries


def predict_chunk(model: str, version: int, prediction_ids: list[str],
                  rows: list[Features]) -> dict[str, int]:
    """RQ job: predict `rows` with (model, version) and write each result into its
    prediction document. The worker may have joined jobs queued for the same model
    version to this one (jobs/coalescing.py): their rows go into the same model call and
    write-back, and each one's summary is left in job.joined_results.
    predict -> write back -> announce -> count (live quality, the file's batch:
    jobs/batch_rows.py) -> record: the rows' waiters hear of them right after the write,
    before the counts' own writes (a version's live counts may show them a moment after
    a long poll answered); then, once a version without a reference has served enough
    rows, its reference is made (jobs/monitoring.py).
    Infrastructure errors propagate, so RQ retries the job and each joined one."""
    job = get_current_job()
    db = mongo_db()
    chunks = chunks_of(job, prediction_ids, rows)
    if job is not None:
        chunks = batch_rows.skip_cancelled(db, job.connection, chunks)
    started = time.perf_counter()
    ids, all_rows = ([pid for chunk in chunks for pid in chunk.prediction_ids],
                     [row for chunk in chunks for row in chunk.rows])
    written = predict_rows(db, model, version, ids, all_rows)
    duration_ms = round((time.perf_counter() - started) * 1000, 2)
    if job is not None:
        announce(job.connection, chunks, written.finished, written.outcomes)
    shares = per_chunk(chunks, written.outcomes)
    enqueued = [chunk.job.enqueued_at if chunk.job else None
                for chunk in chunks for _ in chunk.prediction_ids]
    lost = None
    try:
        monitoring.count(db, written.entry, ids, all_rows, written.outcomes, written.finished,
                         written.finished_at, writeback.worker_id(), enqueued, written.shadow)
        monitoring.count_others_writes(db, written.entry, ids, written.finished)
    except monitoring.CountLost as exc:
        lost = exc  # the other counts and records first; then RQ runs the job again
    if job is not None:
        batch_rows.count(db, job.connection, shares, written.finished)
        keep_answers(db, written, all_rows)
    summaries = record(model, version, written.sha256, shares, duration_ms, written.finished)
    if job is not None:
        job.joined_results = summaries[1:]  # type: ignore[attr-defined]  # read by jobs/worker.py
    monitoring.make_reference_if_due(db, written.entry)
    if lost is not None:
        raise lost
    return summaries[0]


def mark_chunk_failed(job: Job, connection: redis.Redis, exc_type: type[BaseException],
                      exc_value: BaseException, traceback: TracebackType | None) -> None:
    """RQ on_failure callback: once the job has no retries left, its predictions are
    marked failed with the error instead of staying `queued` or `running`."""
    if job.retries_left:
        return
    _, _, prediction_ids, _ = job.args
    db = mongo_db()
    finished_ids = writeback.mark_failed(db, prediction_ids, {"type": exc_type.__name__,
                                                              "message": str(exc_value)[:500]})
    batch_rows.count_failed(db, connection, job, len(finished_ids))
    announce(connection, [Chunk(job, prediction_ids, [])], finished_ids)
