"""GET /metrics for Prometheus (admin token, like every admin route).

Counters and histograms live in prometheus-client's multiprocess mode when
PROMETHEUS_MULTIPROC_DIR is set (gunicorn runs several processes; `make run` points
the RQ workers of this host at the same directory). Queue depth, live workers,
predictions by model, version and status, and batches by status (with the rows their
unfinished ones have left) are read from Redis and MongoDB at scrape time: they are then
right for the whole deployment, however many hosts run workers, with no pushgateway."""
import os
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from pymongo.database import Database

from core import quality
from core.documents import UNFINISHED, now
from core.liveness import live_workers

from . import context
from .auth import refuse_unless_admin
from .models import quality as model_quality
from .queues import queues

REQUESTS = Counter("http_requests_total", "HTTP requests by endpoint, method and status",
                   ["endpoint", "method", "status"])
FEEDBACK = Counter("feedback", "labels given (POST /feedback, a batch's feedback file)")
CACHE_HITS = Counter("cache_hits", "rows answered from the result cache (service/answers.py)",
                     ["model", "version"])
CACHE_MISSES = Counter("cache_misses", "rows of a version with cache_seconds not in the cache",
                       ["model", "version"])
REQUEST_SECONDS = Histogram("http_request_duration_seconds", "HTTP request latency",
                            ["endpoint", "method"])


class StoreCollector:
    """Gauges read from the stores when Prometheus scrapes."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.app.app_context():
            depth = GaugeMetricFamily("prediction_queue_depth", "jobs waiting in the queue")
            service_queues = queues()
            depth.add_metric([], sum(queue.count for queue in service_queues.both()))
            workers = GaugeMetricFamily("rq_workers", "live RQ workers by queue",
                                        labels=["queue"])
            for queue in (service_queues.predictions(), service_queues.callbacks()):
                workers.add_metric([queue.name], live_workers([queue]))
            by_status = GaugeMetricFamily("predictions", "predictions by model, version, status",
                                          labels=["model", "version", "status"])
            groups = context.db().predictions.aggregate([{"$group": {
                "_id": {"model": "$model", "version": "$version", "status": "$status"},
                "count": {"$sum": 1}}}])
            for group in groups:
                key = group["_id"]
                by_status.add_metric([str(key.get("model")), str(key.get("version")),
                                      str(key.get("status"))], group["count"])
            batches = GaugeMetricFamily("batches", "batches (files of rows) by status",
                                        labels=["status"])
            rows_left = GaugeMetricFamily("batch_rows_unfinished",
                                          "rows of unfinished batches not finished yet")
            left = 0
            for batch in context.db().batches.find(
                    {"status": {"$in": list(UNFINISHED)}},
                    {"total": 1, "done": 1, "failed": 1, "cancelled": 1}):
                left += batch["total"] - batch["done"] - batch["failed"] - batch["cancelled"]
            for group in context.db().batches.aggregate([
                    {"$group": {"_id": "$status", "count": {"$sum": 1}}}]):
                batches.add_metric([str(group["_id"])], group["count"])
            rows_left.add_metric([], left)
        yield from (depth, workers, by_status, batches, rows_left)
        with self.app.app_context():
            yield from model_quality_gauges(context.db())


def model_quality_gauges(db: Database[Any]) -> Iterator[GaugeMetricFamily]:
    """Live and estimated accuracy per version and window, and each feature's PSI over
    24 h, from the hour buckets (service/models/quality.py)."""
    live = GaugeMetricFamily("model_live_accuracy", "accuracy on the labelled rows",
                             labels=["model", "version", "window"])
    estimated = GaugeMetricFamily("model_estimated_accuracy", "mean top probability",
                                  labels=["model", "version", "window"])
    psi = GaugeMetricFamily("model_feature_psi", "PSI of each feature over 24 h",
                            labels=["model", "version", "feature"])
    for model in db.models.find({"retired": {"$ne": True}}):
        labels = [model["name"], str(model["version"])]
        recent = quality.buckets(db, model["_id"], window_start("7d"))
        for window in ("1h", "24h", "7d"):
            totals = model_quality.totals_since(recent, window_start(window))
            figures = model_quality.quality_of(model, totals)
            if figures.get("accuracy") is not None:
                live.add_metric([*labels, window], figures["accuracy"])
            if figures.get("estimated_accuracy") is not None:
                estimated.add_metric([*labels, window], figures["estimated_accuracy"])
        drift = model_quality.drift_of(
            model, model_quality.totals_since(recent, window_start("24h")))
        for feature, figures in drift["features"].items():
            if figures["psi"] is not None:
                psi.add_metric([*labels, feature], figures["psi"])
    yield from (live, estimated, psi)


def window_start(window: str) -> datetime:
    """When a bounded window of service/models/quality.py (1h, 24h, 7d) began."""
    span = model_quality.WINDOWS[window]
    assert span is not None  # only `all` is unbounded
    return now() - span


def start_timer() -> None:
    g.request_started = time.perf_counter()


def count_request(response: Response) -> Response:
    endpoint = request.url_rule.rule if request.url_rule else "unmatched"
    REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
    started = g.get("request_started")
    if started is not None:
        REQUEST_SECONDS.labels(endpoint, request.method).observe(time.perf_counter() - started)
    return response


def registry_for(app: Flask) -> CollectorRegistry:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # every process of this host
    else:
        registry.register(REQUESTS)
        registry.register(REQUEST_SECONDS)
        registry.register(FEEDBACK)
        registry.register(CACHE_HITS)
        registry.register(CACHE_MISSES)
    registry.register(StoreCollector(app))
    return registry


def attach(app: Flask) -> None:
    registry = registry_for(app)
    app.before_request(start_timer)
    app.after_request(count_request)

    @app.get("/metrics")
    def metrics() -> Response:
        return refuse_unless_admin("metrics") or Response(generate_latest(registry),
                                                          mimetype=CONTENT_TYPE_LATEST)
