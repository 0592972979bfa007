"""GET /api/v1/models/{id}/quality and /drift (admins): a version's live quality and
drift over a window (1h, 24h, 7d or all), from its hour buckets (core/quality.py), so a
read costs the same whatever the number of predictions stored.

Quality equals sklearn.metrics on the window's labelled rows: accuracy, log_loss (the
probabilities as given, clipped as sklearn clips them), brier (brier_score_loss: for two
classes the mean over both, for more the sum over the classes), precision, recall and f1
per class (0 where sklearn's zero_division gives 0), the confusion matrix (rows actual,
columns predicted); mae, rmse, r2 for a regressor. A figure with no rows is null."""
import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from flask import Blueprint, Flask, abort, jsonify, request
from flask.typing import ResponseReturnValue

from core import profiles, quality
from core.documents import now
from core.types import ModelDocument, Slicer

from .. import context
from ..auth import account_for, token_from_request
from ..errors import api_prefix, error_body

blueprint = Blueprint("quality", __name__)

WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7),
           "all": None}
DEFAULT_WINDOW = "24h"
DEFAULT_DRIFT_THRESHOLD = 0.2
Totals = Mapping[str, float]  # the summed counts of hour buckets (core/quality.py: totals)


def ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def classification(model: ModelDocument, totals: Totals) -> dict[str, Any]:
    classes, labelled = model["classes"], totals.get("labelled", 0)
    matrix = [[int(totals.get(f"c_{i}_{j}", 0)) for j in range(len(classes))]
              for i in range(len(classes))]
    figures: dict[str, Any] = {
        "accuracy": None, "log_loss": None, "brier": None, "per_class": None,
        "confusion": {"labels": classes, "matrix": matrix},
        "estimated_accuracy": ratio(totals.get("top", 0), totals.get("n", 0))}
    if not labelled:
        return figures
    per_class: dict[str, dict[str, float]] = {}
    for i, name in enumerate(classes):
        true_positive = matrix[i][i]
        predicted = sum(row[i] for row in matrix)
        support = sum(matrix[i])
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / support if support else 0.0
        f1 = 2 * true_positive / (predicted + support) if predicted + support else 0.0
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1,
                           "support": support}
    halves = 2 if len(classes) == 2 else 1  # sklearn's brier_score_loss(scale_by_half="auto")
    return {**figures, "accuracy": sum(matrix[i][i] for i in range(len(classes))) / labelled,
            "log_loss": totals.get("ll", 0) / labelled,
            "brier": totals.get("br", 0) / labelled / halves, "per_class": per_class}


def regression(totals: Totals) -> dict[str, float | None]:
    labelled = totals.get("labelled", 0)
    if not labelled:
        return {"mae": None, "rmse": None, "r2": None}
    squared = totals.get("se", 0)
    spread = totals.get("yy", 0) - totals.get("y", 0) ** 2 / labelled
    if spread > 0:
        r2 = 1 - squared / spread
    else:  # constant targets: sklearn's r2_score with force_finite
        r2 = 1.0 if squared == 0 else 0.0
    return {"mae": totals.get("ae", 0) / labelled, "rmse": math.sqrt(squared / labelled),
            "r2": r2}


def totals_since(documents: list[dict[str, Any]], since: datetime) -> dict[str, float]:
    """The counts of the buckets (core/quality.py) of the hours from `since`'s."""
    first = quality.hour_of(since)
    return quality.totals([d for d in documents if d["hour"].replace(tzinfo=None)
                           >= first.replace(tzinfo=None)])


def window_totals(model: ModelDocument, window: str) -> dict[str, float]:
    span = WINDOWS[window]
    return quality.totals(quality.buckets(context.db(), model["_id"],
                                          now() - span if span else None))


def quality_of(model: ModelDocument, totals: Totals) -> dict[str, Any]:
    figures = classification(model, totals) if model["task"] == "classification" \
        else regression(totals)
    return {"predictions": int(totals.get("n", 0)), "labelled": int(totals.get("labelled", 0)),
            **figures, "held_out": model.get("metrics")}


def drift_of(model: ModelDocument, totals: Totals) -> dict[str, Any]:
    """Each feature's (and the prediction's) reference and live shares and PSI."""
    profile = model.get("reference")
    binned = totals.get("binned", 0)
    threshold = model.get("drift_threshold") or DEFAULT_DRIFT_THRESHOLD
    answer: dict[str, Any] = {"predictions": int(binned), "drift_threshold": threshold,
                              "reference": None, "features": {}, "prediction": None,
                              "drifted": []}
    if not profile:
        return answer

    def compare(slicer: Slicer, prefix: str) -> dict[str, Any]:
        live_counts = [totals.get(f"{prefix}{b}", 0) for b in range(profiles.slot_count(slicer))]
        live = [count / binned for count in live_counts] if binned else None
        psi = profiles.psi(slicer["reference"], live) if live else None
        return {**profiles.labels_of(slicer), "reference": slicer["reference"], "live": live,
                "psi": psi, "drifted": psi is not None and psi >= threshold}
    answer["reference"] = {"source": profile["source"], "rows": profile["rows"]}
    answer["features"] = {feature["name"]: compare(feature, f"f_{index}_")
                          for index, feature in enumerate(profile["features"])}
    answer["prediction"] = compare(profile["prediction"], "p_")
    answer["drifted"] = [name for name, figures in answer["features"].items()
                         if figures["drifted"]]
    return answer


def admin_model(model_id: str) -> tuple[tuple[ModelDocument, str] | None, ResponseReturnValue | None]:
    """The version, for an admin; else the refusal to answer with."""
    account = account_for(token_from_request())
    if account is None:
        return None, error_body(401, "a valid bearer token is required")
    if account["role"] != "admin":
        return None, error_body(403, "admins only")
    try:
        model = context.db().models.find_one({"_id": ObjectId(model_id)})
    except (InvalidId, TypeError):
        model = None
    if model is None:
        abort(404)
    window = request.args.get("window", DEFAULT_WINDOW)
    if window not in WINDOWS:
        abort(400, description=f"window is one of {', '.join(WINDOWS)}")
    return (model, window), None


FIGURES = {"quality": quality_of, "drift": drift_of}


@blueprint.get("/models/<model_id>/<any(quality, drift):what>")
def figures_route(model_id: str, what: str) -> ResponseReturnValue:
    """GET /models/{id}/quality and /models/{id}/drift."""
    found, refusal = admin_model(model_id)
    if refusal is not None:
        return refusal
    assert found is not None  # admin_model gives one or the other
    model, window = found
    return jsonify({"model": model["name"], "version": model["version"], "window": window,
                    **FIGURES[what](model, window_totals(model, window))})


def attach(app: Flask) -> None:
    app.register_blueprint(blueprint, url_prefix=api_prefix(app.config))
