"""POST /api/v1/models: an admin uploads a model file (multipart/form-data) and gets the
registered model document back; PATCH of a model moves its aliases (Eve's own PATCH,
with the hook below).

Form fields: `name` (required), `artifact` (required, the file), `features` (a JSON list
of names, for an estimator fitted without them), `alias` (optional), `reference` (rows
for drift), `training` (a CSV of the feature columns and `target`, kept with the version
for retraining: core/training.py). A refused upload is a 422 naming the field and why,
and stores nothing."""
import io
import json
import re
from typing import Any

from eve import Eve
from eve.auth import requires_auth
from eve.render import send_response
from flask import Blueprint, current_app, request
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.wrappers import Response

from core.registry import models_changed
from core.training import TrainingRefused
from core.types import Features, ModelDocument

from .. import context
from ..batches import files
from ..errors import api_prefix, error_document
from . import catalog

blueprint = Blueprint("uploads", __name__)
MAX_REFERENCE_ROWS = 100_000


def refused(issues: dict[str, str]) -> Response:
    body = error_document(422, "Insertion failure: 1 document(s) contain(s) error(s)", issues)
    return send_response("models", (body, None, None, 422))


def form_issues(form: MultiDict[str, str], files: MultiDict[str, FileStorage]) -> dict[str, str]:
    """{field: message} for what is missing or malformed in the form."""
    issues: dict[str, str] = {}
    name, name_pattern = form.get("name"), current_app.config["MODEL_NAME_PATTERN"]
    if not name:
        issues["name"] = "required field"
    elif not re.fullmatch(name_pattern, name):
        issues["name"] = f"value does not match regex '{name_pattern}'"
    if "artifact" not in files or not files["artifact"].filename:
        issues["artifact"] = "required field: the model file"
    alias, alias_pattern = form.get("alias"), current_app.config["ALIAS"]["regex"]
    if alias is not None and not re.fullmatch(alias_pattern, alias):
        issues["alias"] = f"value does not match regex '{alias_pattern}'"
    if form.get("features") is not None and features_of(form) is None:
        issues["features"] = "must be a JSON list of feature names (strings)"
    unknown = sorted((set(form) | set(files)) - {"name", "artifact", "features", "alias",
                                                 "reference", "training"})
    for field in unknown:
        issues[field] = "unknown field"
    return issues


def reference_rows(upload: FileStorage) -> catalog.Reference:
    """reference(fields) for catalog.register_upload: the rows of a CSV file with the
    model's feature columns (any order), read as a file of rows is (service/batches/)."""
    def read(fields: ModelDocument) -> list[Features]:
        lines = io.TextIOWrapper(upload.stream, encoding="utf-8-sig", newline="")
        try:
            total, validated = files.validate(lines, fields, ref_column="ref")
        except files.FileRefused as exc:
            raise catalog.ReferenceRefused("; ".join(
                f"row {i['row']}, {i['field']}: {i['message']}" for i in exc.issues[:5])) from None
        except (files.NotCsv, UnicodeDecodeError) as exc:
            raise catalog.ReferenceRefused(str(exc)) from None
        with validated:
            if total > MAX_REFERENCE_ROWS:
                raise catalog.ReferenceRefused(f"more than {MAX_REFERENCE_ROWS:,} rows")
            return [values for chunk in files.chunks(validated) for values, _ in chunk]
    return read


def features_of(form: MultiDict[str, str]) -> list[str] | None:
    try:
        features = json.loads(form["features"])
    except ValueError:
        return None
    if (isinstance(features, list) and features and all(isinstance(f, str) and f for f in features)
            and len(set(features)) == len(features)):
        return features
    return None


def upload() -> Response:
    """The form is read before the token is checked: a server that answers (401) and
    closes the connection with the upload unread resets it, and the client never sees
    the answer."""
    request.max_content_length = current_app.config["MODEL_UPLOAD_MAX_MB"] * 2**20
    request.files  # noqa: B018 - parsing the form reads the whole body, now
    return register(resource="models")


@requires_auth("resource")
def register(resource: str) -> Response:
    form, files = request.form, request.files
    issues = form_issues(form, files)
    if issues:
        return refused(issues)
    features = features_of(form) if form.get("features") is not None else None
    reference = reference_rows(files["reference"]) if "reference" in files else None
    training = files["training"].read() if "training" in files else None
    try:
        document = catalog.register_upload(
            context.db(), form["name"], files["artifact"].read(),
            files["artifact"].filename, features, form.get("alias"), reference, training)
    except catalog.ModelRefused as exc:
        return refused({"artifact": str(exc)})
    except catalog.ReferenceRefused as exc:
        return refused({"reference": str(exc)})
    except TrainingRefused as exc:
        return refused({"training": str(exc)})
    models_changed(context.redis())
    return send_response("models", ({**document, "_status": "OK"}, None, document["_etag"], 201))


blueprint.add_url_rule("/models", view_func=upload, methods=["POST"])


def on_updated_models(updates: dict[str, Any], original: ModelDocument) -> None:
    """A PATCH that gives aliases takes each from the versions of the name that had it."""
    for alias in updates.get("aliases") or []:
        catalog.take_alias(context.db(), original["name"], alias, original["_id"])
    models_changed(context.redis())


def on_deleted_item_models(item: ModelDocument) -> None:
    models_changed(context.redis())


def attach(app: Eve) -> None:
    app.register_blueprint(blueprint, url_prefix=api_prefix(app.config))
    app.on_updated_models += on_updated_models
    app.on_deleted_item_models += on_deleted_item_models
