"""GET /api/v1/models/{id}/quality and /drift (admins, analysts): a version's live quality
and drift over a window (1h, 24h, 7d or all), from its hour buckets (core/quality.py),
so a read costs the same whatever the number of predictions stored. The figures, and
what each equals in sklearn.metrics or scipy.stats, are core/figures.py's."""
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from flask import Blueprint, Flask, abort, jsonify, request
from flask.typing import ResponseReturnValue

from core import figures, quality
from core.documents import now
from core.types import ModelDocument

from .. import context
from ..errors import api_prefix
from ..roles import ADMIN, ANALYST, required

blueprint = Blueprint("quality", __name__)

WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7),
           "all": None}
DEFAULT_WINDOW = "24h"
DEFAULT_DRIFT_THRESHOLD = figures.DEFAULT_DRIFT_THRESHOLD
Totals = Mapping[str, float]
quality_of, drift_of, ratio = figures.quality_of, figures.drift_of, figures.ratio


def totals_since(documents: list[dict[str, Any]], since: datetime) -> dict[str, float]:
    """The counts of the buckets (core/quality.py) of the hours from `since`'s."""
    first = quality.hour_of(since)
    return quality.totals([d for d in documents if d["hour"].replace(tzinfo=None)
                           >= first.replace(tzinfo=None)])


def window_totals(model: ModelDocument, window: str) -> dict[str, float]:
    span = WINDOWS[window]
    return quality.totals(quality.buckets(context.db(), model["_id"],
                                          now() - span if span else None))


def model_and_window(model_id: str) -> tuple[ModelDocument, str]:
    """The version (404 when there is none) and the request's window (400 unless known)."""
    try:
        model: ModelDocument | None = context.db().models.find_one({"_id": ObjectId(model_id)})
    except (InvalidId, TypeError):
        model = None
    if model is None:
        abort(404)
    window = request.args.get("window", DEFAULT_WINDOW)
    if window not in WINDOWS:
        abort(400, description=f"window is one of {', '.join(WINDOWS)}")
    return model, window


FIGURES: dict[str, Callable[[ModelDocument, Totals], dict[str, Any]]] = {
    "quality": quality_of, "drift": drift_of}


@blueprint.get("/models/<model_id>/<any(quality, drift):what>")
@required(ADMIN, ANALYST)
def figures_route(model_id: str, what: str) -> ResponseReturnValue:
    """GET /models/{id}/quality and /models/{id}/drift."""
    model, window = model_and_window(model_id)
    return jsonify({"model": model["name"], "version": model["version"], "window": window,
                    **FIGURES[what](model, window_totals(model, window))})


def attach(app: Flask) -> None:
    app.register_blueprint(blueprint, url_prefix=api_prefix(app.config))
