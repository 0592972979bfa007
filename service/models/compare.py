"""GET /api/v1/models/{id}/compare?with=<other id>&window=... (admins, analysts): two
versions of one model on the same labelled rows, those that both answered (one as the
shadow of the other) in the window, from the hour buckets of both (core/compare.py):
O(1) in the rows stored, like `quality`."""
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from flask import Blueprint, abort, jsonify, request
from werkzeug.wrappers import Response

from core import compare
from core.types import ModelDocument

from .. import context
from ..errors import api_prefix, error_body
from ..roles import ADMIN, ANALYST, required
from .quality import DEFAULT_WINDOW, WINDOWS, window_totals

blueprint = Blueprint("compare", __name__)


def version(model_id: str | None) -> ModelDocument | None:
    try:
        found: ModelDocument | None = context.db().models.find_one({"_id": ObjectId(model_id)})
    except (InvalidId, TypeError):
        return None
    return found


@blueprint.get("/models/<model_id>/compare")
@required(ADMIN, ANALYST)
def compare_route(model_id: str) -> Response | tuple[Any, int]:
    this = version(model_id)
    if this is None:
        abort(404)
    window = request.args.get("window", DEFAULT_WINDOW)
    if window not in WINDOWS:
        abort(400, description=f"window is one of {', '.join(WINDOWS)}")
    if "with" not in request.args:
        abort(400, description="`with` names the other version's id")
    other = version(request.args["with"])
    if other is None or other["name"] != this["name"] or other["_id"] == this["_id"]:
        return error_body(422, "`with` is the id of another version of the same model")
    counts = compare.combined(this, other, window_totals(this, window),
                              window_totals(other, window))
    return jsonify({"model": this["name"], "version": this["version"],
                    "with": {"_id": str(other["_id"]), "version": other["version"]},
                    "window": window, **compare.figures(this["task"], counts)})


def attach(app: Any) -> None:
    app.register_blueprint(blueprint, url_prefix=api_prefix(app.config))
