"""What the /ui/ pages show, read from the hour buckets (core/quality.py) and the model
documents, never from the predictions: a page costs the same whatever is stored.
The figures are those of GET /models/{id}/quality and /drift (service/models/quality.py)."""
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from core import compare, quality
from core.documents import now
from core.types import ModelDocument

from ..models.quality import WINDOWS, drift_of, quality_of, ratio

OVERVIEW_WINDOW = timedelta(hours=24)
MAX_HOURS = 24 * 90  # the longest series a chart draws (window=all)


def headline(model: ModelDocument,
             figures: Mapping[str, Any]) -> tuple[str, float | None, float | None]:
    """(live, held-out) of the version's main figure: accuracy, or MAE for a regressor."""
    key = "accuracy" if model["task"] == "classification" else "mae"
    return key, figures.get(key), (model.get("metrics") or {}).get(key)


def overview(db: Database[Any]) -> dict[str, list[dict[str, Any]]]:
    """Every model name with its versions, each with its last 24 h: predictions, live
    and held-out quality, estimated accuracy, drifted features."""
    models = list(db.models.find({}, {"artifact": 0}).sort([("name", 1), ("version", -1)]))
    since = quality.hour_of(now() - OVERVIEW_WINDOW)
    by_model: dict[ObjectId, list[dict[str, Any]]] = {}
    for bucket in db[quality.COLLECTION].find(
            {"model_id": {"$in": [m["_id"] for m in models]}, "hour": {"$gte": since}},
            quality.NOT_COUNTS):
        by_model.setdefault(bucket["model_id"], []).append(bucket)
    names: dict[str, list[dict[str, Any]]] = {}
    for model in models:
        totals = quality.totals(by_model.get(model["_id"], []))
        figures = quality_of(model, totals)
        key, live, held_out = headline(model, figures)
        names.setdefault(model["name"], []).append({
            "model": model, "predictions": figures["predictions"],
            "labelled": figures["labelled"], "key": key, "live": live, "held_out": held_out,
            "estimated": figures.get("estimated_accuracy"),
            "drifted": drift_of(model, totals)["drifted"]})
    return names


def hours_between(first: datetime, last: datetime) -> list[datetime]:
    hours: list[datetime] = []
    hour = first
    while hour <= last:
        hours.append(hour)
        hour += timedelta(hours=1)
    return hours


def series(model: ModelDocument, buckets: list[dict[str, Any]], window: str) -> dict[str, list[Any]]:
    """Per hour of the window (or since the first bucket, for `all`): predictions, mean
    submit-to-done seconds, live and estimated accuracy (MAE for a regressor)."""
    last = quality.hour_of(now()).replace(tzinfo=None)
    span = WINDOWS[window]
    by_hour = {b["hour"].replace(tzinfo=None): b for b in buckets}
    first = last - span + timedelta(hours=1) if span else min(by_hour, default=last)
    first = max(first, last - timedelta(hours=MAX_HOURS - 1))
    hours = hours_between(first, last)
    classifier = model["task"] == "classification"
    points: dict[str, list[Any]] = {
        "hours": [f"{hour:%m-%d %H:00}" for hour in hours], "predictions": [],
        "latency_ms": [], "live": [], "estimated": []}
    for hour in hours:
        bucket = by_hour.get(hour, {})
        labelled = bucket.get("labelled", 0)
        points["predictions"].append(int(bucket.get("n", 0)))
        wait = ratio(bucket.get("wait", 0), bucket.get("waited", 0))
        points["latency_ms"].append(None if wait is None else round(wait * 1000, 1))
        if classifier:
            right = sum(bucket.get(f"c_{i}_{i}", 0) for i in range(len(model["classes"])))
            points["live"].append(ratio(right, labelled))
            points["estimated"].append(ratio(bucket.get("top", 0), bucket.get("n", 0)))
        else:
            points["live"].append(ratio(bucket.get("ae", 0), labelled))
    return points


def version_page(db: Database[Any], model: ModelDocument, window: str) -> dict[str, Any]:
    """Everything the version's page draws: the series, the window's quality and its
    drift (features drifted first, then by PSI)."""
    span = WINDOWS[window]
    buckets = quality.buckets(db, model["_id"], now() - span if span else None)
    totals = quality.totals(buckets)
    figures = quality_of(model, totals)
    drift = drift_of(model, totals)
    features = sorted(drift["features"].items(),
                      key=lambda item: (not item[1]["drifted"], -(item[1]["psi"] or 0)))
    key, live, held_out = headline(model, figures)
    points = series(model, buckets, window)
    charts: dict[str, Any] = {"series": points, "key": key, "held_out": held_out,
                              "drift": [chart_of(name, figures) for name, figures in features]}
    if drift["prediction"]:
        charts["drift"].append(chart_of("prediction", drift["prediction"]))
    shadowing = comparison(db, model, window, buckets)
    if shadowing is not None:
        charts["comparison"] = shadowing["series"]
    return {"quality": figures, "drift": drift, "features": features, "key": key,
            "live": live, "held_out": held_out, "charts": charts,
            "served": sum(points["predictions"]), "comparison": shadowing,
            "cache": cache_rate(model, totals)}


def cache_rate(model: ModelDocument, totals: Mapping[str, float]) -> dict[str, Any] | None:
    """The result cache's hits and misses in the window, for a version that caches."""
    hits, misses = int(totals.get("ch", 0)), int(totals.get("cm", 0))
    if not (model.get("cache_seconds") or hits or misses):
        return None
    return {"hits": hits, "misses": misses, "rate": ratio(hits, hits + misses)}


def comparison(db: Database[Any], model: ModelDocument, window: str,
               buckets: list[dict[str, Any]]) -> dict[str, Any] | None:
    """With a shadow: the paired figures of this version and its shadow on the labelled
    rows both answered (core/compare.py), and per hour each one's accuracy (MAE for a
    regressor) on those rows."""
    version = model.get("shadow")
    shadow = db.models.find_one({"name": model["name"], "version": version}) if version else None
    if shadow is None:
        return None
    span = WINDOWS[window]
    other = quality.buckets(db, shadow["_id"], now() - span if span else None)
    counts = compare.combined(model, shadow, quality.totals(buckets), quality.totals(other))
    hours = series(model, buckets, window)["hours"]
    by_hour = {f"{b['hour']:%m-%d %H:00}": compare.oriented(b, compare.prefix(shadow["version"]),
                                                            True) for b in buckets}
    this, that = [], []
    for hour in hours:
        pairs = by_hour.get(hour, {})
        if model["task"] == "classification":
            rows = sum(pairs.get(k, 0) for k in ("rr", "rw", "wr", "ww"))
            this.append(ratio(pairs.get("rr", 0) + pairs.get("rw", 0), rows))
            that.append(ratio(pairs.get("rr", 0) + pairs.get("wr", 0), rows))
        else:
            this.append(ratio(pairs.get("ae", 0), pairs.get("n", 0)))
            that.append(ratio(pairs.get("sae", 0), pairs.get("n", 0)))
    return {"shadow": shadow, "figures": compare.figures(model["task"], counts),
            "series": {"hours": hours, "this": this, "other": that,
                       "key": "accuracy" if model["task"] == "classification" else "MAE",
                       "this_version": model["version"], "other_version": shadow["version"]}}


def trainings(db: Database[Any], limit: int = 20) -> list[dict[str, Any]]:
    """The latest trainings, newest first, with each side's main holdout figure."""
    found = list(db.trainings.find({}, {"name": 1, "source_version": 1, "status": 1,
                                        "version": 1, "metrics": 1, "error": 1, "rows": 1,
                                        "_created": 1, "finished_at": 1})
                 .sort([("_created", -1)]).limit(limit))
    for training in found:
        metrics = training.get("metrics") or {}
        challenger, champion = metrics.get("challenger") or {}, metrics.get("champion") or {}
        key = "accuracy" if "accuracy" in challenger else "mae"
        training["key"] = key
        training["challenger"], training["champion"] = challenger.get(key), champion.get(key)
    return found


def bin_labels(figures: Mapping[str, Any]) -> list[str]:
    """A feature's bins as the chart names them: "≤ edge" for each edge, then "> last"."""
    if "categories" in figures:
        return [str(category) for category in figures["categories"]]
    edges = [f"{edge:.3g}" for edge in figures["bins"]]
    return [f"≤ {edge}" for edge in edges] + [f"> {edges[-1]}"]


def chart_of(name: str, figures: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": name, "labels": bin_labels(figures), "reference": figures["reference"],
            "live": figures["live"], "psi": figures["psi"], "p_value": figures["p_value"],
            "drifted": figures["drifted"]}
