"""What a worker measures: predictions finished by model, version and status, and the
time from enqueue (the POST) to the write-back. Exported through the API's /metrics when
PROMETHEUS_MULTIPROC_DIR is shared with it (same host, as `make run` does)."""
from datetime import datetime, timezone

from prometheus_client import Counter, Histogram

from core.documents import DONE, FAILED
from core.types import Outcome

FINISHED = Counter("predictions_finished_total", "predictions written back",
                   ["model", "version", "status"])
SUBMIT_TO_DONE = Histogram("prediction_submit_to_done_seconds",
                           "from the job's enqueue to its write-back", ["model", "version"],
                           buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
                                    300))


def observe_chunk(model: str, version: int, outcomes: list[Outcome],
                  enqueued_at: datetime | None) -> None:
    for status in (DONE, FAILED):
        count = sum(1 for s, _ in outcomes if s == status)
        if count:
            FINISHED.labels(model, str(version), status).inc(count)
    if enqueued_at is not None:
        if enqueued_at.tzinfo is None:
            enqueued_at = enqueued_at.replace(tzinfo=timezone.utc)
        seconds = (datetime.now(timezone.utc) - enqueued_at).total_seconds()
        SUBMIT_TO_DONE.labels(model, str(version)).observe(seconds)
