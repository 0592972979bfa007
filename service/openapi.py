"""GET /api/v1/openapi.json (OpenAPI 3.1) generated from the Eve DOMAIN and the model
registry, and GET /api/v1/docs, Swagger UI served from the openapi-ui-bundles package
(no CDN). Both are open: they describe the API, they do not use it.

eve-swagger, the usual generator, is unmaintained since 2022 and writes Swagger 2.0;
this module maps Cerberus types to JSON Schema directly."""
import copy
import re
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, send_from_directory
from openapi_ui_bundles import swagger_ui

from core.inference import feature_types
from core.types import ModelDocument

from . import context, query, roles
from .callback_policy import callback_url_pattern
from .cancel import cancel as cancel_view
from .errors import api_prefix
from .models.catalog import find_model
from .models.compare import compare_route as compare_view
from .models.quality import figures_route as figures_view
from .trainings import retrain as retrain_view
from .validation import FEATURE_BOUND, MAX_STRING_FEATURE

blueprint = Blueprint("openapi", __name__)

# A JSON Schema, or any other object of the OpenAPI document
Schema = dict[str, Any]

JSON_TYPES = {"string": "string", "integer": "integer", "float": "number",
              "number": "number", "boolean": "boolean", "dict": "object", "list": "array",
              "datetime": "string", "objectid": "string"}
# Eve's dates (RFC 1123); days up to 28 so that every string the pattern allows is a date
HTTP_DATE = {"type": "string", "pattern": (
    "^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), (0[1-9]|1[0-9]|2[0-8]) "
    "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (19[7-9][0-9]|20[0-9][0-9]) "
    "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9] GMT$")}
META = {"_created": {"type": "string"}, "_updated": {"type": "string"},
        "_etag": {"type": "string"}, "_links": {"type": "object"}}
ERROR = {"$ref": "#/components/schemas/Error"}
ERROR_CODES = {"304": "not modified", "400": "malformed request", "401": "no valid token",
               "403": "not allowed", "404": "not found (or not yours)",
               "405": "method not allowed", "409": "conflicts with a stored document",
               "412": "If-Match does not match the stored _etag",
               "413": "body too large", "415": "not JSON", "422": "validation failed",
               "429": "rate limit", "503": "a store is unavailable"}


def field_schema(rule: dict[str, Any], writing: bool = False) -> Schema:
    types = rule.get("type", "string")
    types = types if isinstance(types, list) else [types]
    if types == ["datetime"]:
        schema: Schema = {**HTTP_DATE, **({"readOnly": True} if rule.get("readonly") else {})}
        if rule.get("nullable"):
            schema["type"] = ["string", "null"]  # the pattern applies to strings only
        return schema
    schema = {"type": [JSON_TYPES[t] for t in types]}
    if len(schema["type"]) == 1:
        schema["type"] = schema["type"][0]
    for cerberus, json_schema in (("allowed", "enum"), ("min", "minimum"), ("max", "maximum"),
                                  ("minlength", "minLength"), ("maxlength", "maxLength"),
                                  ("regex", "pattern")):
        if cerberus in rule:
            schema[json_schema] = rule[cerberus]
    if "pattern" in schema:
        schema["pattern"] = f"^(?:{schema['pattern'].strip('^$')})$"
    if rule.get("readonly"):
        schema["readOnly"] = True
    if rule.get("nullable"):
        schema["type"] = [*(schema["type"] if isinstance(schema["type"], list)
                            else [schema["type"]]), "null"]
    if "schema" in rule and "array" in schema["type"]:
        schema["items"] = field_schema(rule["schema"], writing)
    if "schema" in rule and "object" in schema["type"]:
        schema.update(object_schema(rule["schema"], writing))
    if "keysrules" in rule:
        schema["propertyNames"] = field_schema(rule["keysrules"])
    if "valuesrules" in rule:
        schema["additionalProperties"] = field_schema(rule["valuesrules"])
    return schema


def object_schema(fields: dict[str, dict[str, Any]], writing: bool, partial: bool = False) -> Schema:
    """JSON Schema of a Cerberus schema: in a request body (`writing`) only the fields a
    client may send, and nothing else."""
    if writing:
        fields = {n: r for n, r in fields.items() if not r.get("readonly") and n != "_id"}
    schema: Schema = {"type": "object",
                      "properties": {name: field_schema(rule, writing) for name, rule in fields.items()}}
    required = [name for name, rule in fields.items() if rule.get("required")]
    if required and not partial:
        schema["required"] = required
    if writing:
        schema["additionalProperties"] = False
    return schema


def id_schema(settings: dict[str, Any]) -> Schema:
    """The `{id}` of an item URL, from the resource's own `item_url` regex."""
    match = re.fullmatch(r'regex\("(.*)"\)', settings["item_url"])
    assert match is not None  # every resource's item_url is such a regex (settings.py)
    pattern = match.group(1)
    return {"type": "string", "pattern": f"^{pattern}$"}


FEATURE_VALUES = {"number": {"type": "number", "minimum": -FEATURE_BOUND, "maximum": FEATURE_BOUND},
                  "string": {"type": "string", "maxLength": MAX_STRING_FEATURE},
                  "boolean": {"type": "boolean"}}
# A stored input's features, of any model: its values in the model's order. Typed as a
# client generator needs it (a `type` list with no `items` is dropped by some).
STORED_FEATURES = {"description": "the values in the model's order",
                   "oneOf": [{"type": "array", "title": "feature_list",
                              "items": {"oneOf": list(FEATURE_VALUES.values())}},
                             {"type": "object", "title": "features_by_name",
                              "additionalProperties": {"oneOf": list(FEATURE_VALUES.values())}}]}


def resource_schema(resource: str) -> Schema:
    settings = current_app.config["DOMAIN"][resource]
    schema = object_schema(settings["schema"], writing=False)
    schema["properties"] = {**schema["properties"], "_id": id_schema(settings), **META}
    if resource == "inputs":
        schema["properties"]["features"] = STORED_FEATURES
    schema.pop("required", None)
    return schema


def registered_models() -> list[ModelDocument]:
    """The models inputs may name, from the registry (uploads included)."""
    return list(context.db().models.find(
        {}, {"name": 1, "version": 1, "task": 1, "features": 1, "feature_types": 1,
             "aliases": 1, "retired": 1}).sort([("name", 1), ("version", 1)]))


def input_schema(models: list[ModelDocument]) -> Schema:
    """What POST /inputs takes: one branch per way of naming a model version (no version,
    a version, an alias), each with that version's features (a list in the model's
    order, or an object by name). Retired versions are left out."""
    generic = object_schema(current_app.config["DOMAIN"]["inputs"]["schema"], writing=True)
    pattern = callback_url_pattern(current_app.config["CALLBACK_ALLOWED_HOSTS"])
    if pattern and current_app.config["CALLBACK_SECRET"]:
        generic["properties"]["callback_url"]["pattern"] = pattern
    else:  # callbacks are off: the field is refused
        generic["properties"].pop("callback_url")
    live = [m for m in models if not m.get("retired")]
    branches = []
    for name in sorted({m["name"] for m in live}):
        default = find_model(context.db(), name)
        named: list[tuple[str | None, Any, ModelDocument]] = [(None, None, default)] if default else []
        for model in (m for m in live if m["name"] == name):
            named.append(("version", model["version"], model))
            named += [("alias", alias, model) for alias in model.get("aliases", [])]
        for key, value, model in named:
            schema = copy.deepcopy(generic)
            schema["properties"]["model"] = {"const": name}
            for other in ("version", "alias"):
                schema["properties"].pop(other)
            if key:
                schema["properties"][key] = {"const": value}
                schema["required"] = schema["required"] + [key]
            prefix = f"#/components/schemas/{name}_v{model['version']}"
            schema["properties"]["features"] = {
                "description": "a list in the model's order, or an object by name",
                "oneOf": [{"$ref": f"{prefix}_feature_list"}, {"$ref": f"{prefix}_features"}]}
            branches.append(schema)
    return {"oneOf": branches}


def features_schemas(model: ModelDocument) -> dict[str, Schema]:
    prefix = f"{model['name']}_v{model['version']}"
    names = model["features"]
    kinds = feature_types(model)
    return {
        f"{prefix}_features": {
            "type": "object", "title": f"{model['name']} v{model['version']} features",
            "properties": {name: FEATURE_VALUES[kind] for name, kind in zip(names, kinds)},
            "required": names, "additionalProperties": False},
        f"{prefix}_feature_list": {
            "type": "array", "minItems": len(names), "maxItems": len(names),
            "description": ", ".join(names), **(
                {"items": FEATURE_VALUES[kinds[0]]} if len(set(kinds)) == 1 else
                {"prefixItems": [FEATURE_VALUES[kind] for kind in kinds]})},
    }


def model_upload() -> Schema:
    """POST /models: multipart/form-data (service/models/uploads.py)."""
    name = {"type": "string", "pattern": current_app.config["MODEL_NAME_PATTERN"]}
    form = {"type": "object", "required": ["name", "artifact"], "additionalProperties": False,
            "properties": {
                "name": name,
                "artifact": {"type": "string", "contentMediaType": "application/octet-stream",
                             "description": "the model file: a .skops file, or a joblib/"
                                            "pickle dump (runs code on load: admins only)"},
                "features": {"type": "string", "contentMediaType": "application/json",
                             "description": "a JSON list of feature names, for an estimator "
                                            "fitted without feature_names_in_"},
                "alias": {"type": "string", "pattern": current_app.config["ALIAS"]["regex"]},
                "reference": {"type": "string", "contentMediaType": "text/csv",
                              "description": "reference rows for drift: a CSV with the "
                                             "model's feature columns, at most 100,000 rows"},
                "training": {"type": "string", "contentMediaType": "text/csv",
                             "description": "training rows kept for retraining: a CSV with "
                                            "the feature columns and `target`, at most "
                                            "1,000,000 rows"}}}
    return {"summary": "register a new version of a model from its file (admin)",
            "requestBody": {"required": True, "content": {"multipart/form-data": {
                "schema": form, "encoding": {"artifact": {
                    "contentType": "application/octet-stream"}}}}},
            "responses": responses(201, {"$ref": "#/components/schemas/models"},
                                   "400", "403", "413", "415", "422"),
            "x-roles": roles.eve_roles(current_app.config["DOMAIN"]["models"], False, "POST")}


def batch_upload(models: list[ModelDocument]) -> Schema:
    """POST /batches: a CSV file (service/batches/upload.py)."""
    callbacks = callback_url_pattern(current_app.config["CALLBACK_ALLOWED_HOSTS"])
    parameters: list[Schema] = [
        {"name": "model", "in": "query", "required": True, "schema": {
            "type": "string", "enum": sorted({m["name"] for m in models
                                              if not m.get("retired")})}},
        {"name": "version", "in": "query", "schema": {
            "type": "integer", "minimum": 1, "maximum": 2**31 - 1},
         "description": "a version of the model (not with alias)"},
        {"name": "alias", "in": "query", "schema": {
            "type": "string", "pattern": current_app.config["ALIAS"]["regex"]}},
        {"name": "ref_column", "in": "query", "schema": {
            "type": "string", "minLength": 1, "maxLength": 128, "default": "ref"}}]
    if callbacks and current_app.config["CALLBACK_SECRET"]:
        parameters.append({"name": "callback_url", "in": "query", "schema": {
            "type": "string", "pattern": callbacks}})
    csv_text = {"type": "string", "description": "a header naming the features (any "
                                                 "order, and the ref column), then rows"}
    return {"summary": "upload a file of rows (CSV, up to 1,000,000 rows): one batch",
            "description": IDEMPOTENCY, "parameters": parameters,
            "requestBody": {"required": True, "content": {
                "text/csv": {"schema": csv_text},
                "multipart/form-data": {"schema": {
                    "type": "object", "required": ["file"],
                    "properties": {"file": {**csv_text, "contentMediaType": "text/csv"}}},
                    "encoding": {"file": {"contentType": "text/csv"}}}}},
            "responses": responses(201, {"$ref": "#/components/schemas/batches"},
                                   "400", "403", "413", "415", "422"),
            "x-roles": roles.eve_roles(current_app.config["DOMAIN"]["batches"], False, "POST")}


def batch_item_paths() -> dict[str, Schema]:
    """GET /batches/{id}/results, POST /batches/{id}/cancel and /feedback: the routes of
    a batch, with the batch's roles (Eve's requires_auth on the resource)."""
    batches = current_app.config["DOMAIN"]["batches"]
    batch_id = {"name": "id", "in": "path", "required": True, "schema": id_schema(batches)}
    results = {"text/csv": {"schema": {"type": "string"}},
               "application/jsonl": {"schema": {"type": "string"}}}
    answers = responses(200, None, "400", "403", "404", "409")
    answers["200"]["content"] = results
    return {
        "/batches/{id}/results": {"get": {
            "summary": "every row of the batch in file order, as it is now: CSV (ref, the "
                       "features, status, label and p_<class> or value, error) or JSON lines",
            "parameters": [batch_id, {"name": "format", "in": "query", "schema": {
                "type": "string", "enum": ["csv", "jsonl"], "default": "csv"}}],
            "responses": answers, "x-roles": roles.eve_roles(batches, True, "GET")}},
        "/batches/{id}/cancel": {"post": {
            "summary": "cancel the rows not started yet (a finished batch is answered as is)",
            "parameters": [batch_id],
            "responses": responses(200, {"$ref": "#/components/schemas/batches"},
                                   "403", "404"),
            "x-roles": roles.eve_roles(batches, True, "POST")}},
        "/batches/{id}/feedback": {"post": {
            "summary": "label the batch's rows: a CSV of ref,actual (each ref once)",
            "parameters": [batch_id],
            "requestBody": {"required": True, "content": {"text/csv": {"schema": {
                "type": "string", "description": "a header `ref,actual`, then one row per "
                                                 "labelled row of the batch"}}}},
            "responses": responses(200, {"type": "object", "required": ["labelled"],
                                         "properties": {"labelled": {"type": "integer"}}},
                                   "400", "403", "404", "413", "415", "422"),
            "x-roles": roles.eve_roles(batches, True, "POST")}},
    }


def prediction_cancel_path() -> dict[str, Schema]:
    """POST /predictions/{id}/cancel."""
    prediction_id = {"name": "id", "in": "path", "required": True,
                     "schema": id_schema(current_app.config["DOMAIN"]["predictions"])}
    return {"/predictions/{id}/cancel": {"post": {
        "summary": "cancel a prediction not started yet (the owner or an admin)",
        "parameters": [prediction_id],
        "responses": responses(200, {"$ref": "#/components/schemas/predictions"},
                               "403", "404", "409"),
        "x-roles": roles.declared(cancel_view)}}}


def model_item_paths() -> dict[str, Schema]:
    """GET /models/{id}/quality, /drift and /compare, POST /models/{id}/retrain."""
    model_id = {"name": "id", "in": "path", "required": True,
                "schema": id_schema(current_app.config["DOMAIN"]["models"])}
    window = {"name": "window", "in": "query", "schema": {
        "type": "string", "enum": ["1h", "24h", "7d", "all"], "default": "24h"}}
    answer = {"type": "object", "required": ["model", "version", "window", "predictions"]}
    figures_roles = roles.declared(figures_view)
    other = {"name": "with", "in": "query", "required": True, "description": "the other "
             "version's id", "schema": id_schema(current_app.config["DOMAIN"]["models"])}
    retrain = {"type": "object", "additionalProperties": False, "properties": {
        "window": {"type": "string", "enum": ["1h", "24h", "7d", "all"], "default": "all"},
        "holdout": {"type": "number", "minimum": 0.05, "maximum": 0.5, "default": 0.2}}}
    return {
        "/models/{id}/quality": {"get": {
            "summary": "live quality of the version over a window, beside its held-out "
                       "metrics",
            "parameters": [model_id, window],
            "responses": responses(200, answer, "400", "403", "404"), "x-roles": figures_roles}},
        "/models/{id}/drift": {"get": {
            "summary": "the window's inputs and predictions against the version's reference "
                       "profile: shares, PSI and p-value per feature",
            "parameters": [model_id, window],
            "responses": responses(200, answer, "400", "403", "404"), "x-roles": figures_roles}},
        "/models/{id}/compare": {"get": {
            "summary": "this version and another of the same model on the labelled rows "
                       "both answered (one as the other's shadow): paired counts, p-value",
            "parameters": [model_id, other, window],
            "responses": responses(200, {"type": "object", "required": ["rows", "p_value"]},
                                   "400", "403", "404", "422"),
            "x-roles": roles.declared(compare_view)}},
        "/models/{id}/retrain": {"post": {
            "summary": "retrain the version from its labelled predictions (and its training "
                       "file): a training, queued",
            "parameters": [model_id],
            "requestBody": {"required": False, "content": {"application/json": {
                "schema": retrain}}},
            "responses": responses(202, {"$ref": "#/components/schemas/trainings"},
                                   "400", "403", "404", "415", "422"),
            "x-roles": roles.declared(retrain_view)}},
    }


def responses(ok_code: int, ok_schema: Schema | None, *errors: str) -> dict[str, Schema]:
    ok: Schema = {"description": "OK"}
    if ok_schema:
        ok["content"] = {"application/json": {"schema": ok_schema}}
    out = {str(ok_code): ok}
    for code in ("401", "405", "429", "503", *errors):
        out[code] = {"description": ERROR_CODES[code],
                     "content": {"application/json": {"schema": ERROR}}}
    out["405"]["headers"] = {"Allow": {"required": True, "schema": {"type": "string"},
                                       "description": "the methods this URL answers"}}
    return out


def json_body(schema: Schema) -> Schema:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def bulk(schema: Schema, limit: int) -> Schema:
    return {"oneOf": [schema, {"type": "array", "items": schema, "minItems": 1,
                               "maxItems": limit}]}


IDEMPOTENCY = (
    "A client that may retry sends `Idempotency-Key` (1-255 printable characters, its own "
    "id for the request): for 24 h, per token, a repeat with the same body answers as the "
    "first did (same status and ids, plus `Idempotent-Replayed: true`) and stores nothing; "
    "the same key with another body: 422; while the first is still being processed: 409. "
    "(Described here rather than as a parameter: a key is the client's choice per request, "
    "not a value a generated request may reuse.)")


def long_poll(operation: Schema, code: str = "200") -> None:
    """`Prefer: wait=N` (service/waiting.py) on an item GET, or on POST /inputs (its 201
    held until every prediction is finished: service/answers.py)."""
    operation["summary"] += "; with `Prefer: wait=N`, held until it is finished or N s pass"
    operation.setdefault("parameters", []).append({
        "name": "Prefer", "in": "header", "required": False,
        "schema": {"type": "string", "pattern": "^wait=([1-9]|[1-5][0-9]|60)$"},
        "description": "RFC 7240: `wait=N`, 1 <= N <= 60 seconds (anything else: 400)"})
    operation["responses"][code]["headers"] = {"Preference-Applied": {
        "schema": {"type": "string"}, "description": "`wait=N` when the request waited"}}
    operation["responses"]["400"] = {"description": ERROR_CODES["400"],
                                     "content": {"application/json": {"schema": ERROR}}}


def resource_paths(resource: str, settings: dict[str, Any]) -> dict[str, Schema]:
    config = current_app.config
    ref = {"$ref": f"#/components/schemas/{resource}"}
    write = {"$ref": f"#/components/schemas/{resource}_write"}
    page = {"type": "object", "properties": {"_items": {"type": "array", "items": ref},
                                             "_meta": {"type": "object"}}}
    item_id = {"name": "id", "in": "path", "required": True, "schema": id_schema(settings)}
    if_match = {"name": "If-Match", "in": "header", "required": False,
                "schema": {"type": "string"}, "description": "the _etag, to refuse a change "
                                                             "of a document changed since"}
    collection: Schema = {}
    item: Schema = {}
    if "GET" in settings["resource_methods"]:
        collection["get"] = {"summary": f"list {resource}",
                             "parameters": query.parameters(config["PAGINATION_LIMIT"]),
                             "responses": responses(200, page, "400", "403")}
    if "POST" in settings["resource_methods"]:
        collection["post"] = {
            "summary": f"create {resource} (one object, or a list of up to "
                       f"{config['MAX_BULK_ITEMS']})",
            "requestBody": json_body(bulk(write, config["MAX_BULK_ITEMS"])),
            **({"description": IDEMPOTENCY} if resource == "inputs" else {}),
            "responses": responses(201, {"type": "object"}, "400", "403", "409", "413",
                                   "415", "422")}
        if resource == "inputs":  # create and wait: each item then shows its result
            long_poll(collection["post"], "201")
    if "DELETE" in settings["resource_methods"]:
        collection["delete"] = {"summary": f"delete all {resource} (admin)",
                                "responses": responses(204, None, "403")}
    if "GET" in settings["item_methods"]:
        item["get"] = {"summary": f"one {settings['item_title']}", "parameters": [
            item_id, {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}],
            "responses": responses(200, ref, "304", "403", "404")}
        if resource in ("predictions", "batches", "trainings"):
            long_poll(item["get"])
    if "PATCH" in settings["item_methods"]:
        item["patch"] = {"summary": f"change one {settings['item_title']} (admin)",
                         "parameters": [item_id, if_match],
                         "requestBody": json_body({"$ref": f"#/components/schemas/"
                                                           f"{resource}_patch"}),
                         "responses": responses(200, {"type": "object"}, "400", "403", "404",
                                                "409", "412", "415", "422")}
    if "DELETE" in settings["item_methods"]:
        item["delete"] = {"summary": f"delete one {settings['item_title']} (admin)",
                          "parameters": [item_id, if_match],
                          "responses": responses(204, None, "403", "404", "412")}
    for operations, is_item in ((collection, False), (item, True)):
        for method, operation in operations.items():
            operation["x-roles"] = roles.eve_roles(settings, is_item, method.upper())
    return {f"/{resource}": collection, f"/{resource}/{{id}}": item}


def open_paths() -> dict[str, Schema]:
    """The three paths that need no token."""
    def get(summary: str, codes: Schema) -> Schema:
        return {"get": {"summary": summary, "security": [], "responses": codes,
                        "x-roles": sorted(roles.EVERY_ROLE)}}
    health = {"type": "object", "properties": {
        "mongo": {"type": "string"}, "redis": {"type": "string"},
        "workers": {"type": ["integer", "null"]}, "queued": {"type": ["integer", "null"]}}}
    json_ok = {"application/json": {"schema": health}}
    allow = {"405": {"description": "method not allowed", "headers": {"Allow": {
        "required": True, "schema": {"type": "string"}}}}}
    return {
        "/health": get("liveness of MongoDB, Redis and the workers", {
            "200": {"description": "both stores answer", "content": json_ok},
            "503": {"description": "a store is down", "content": json_ok}, **allow}),
        "/openapi.json": get("this document", {
            "200": {"description": "OpenAPI 3.1", "content": {"application/json": {
                "schema": {"type": "object"}}}}, **allow}),
        "/docs": get("interactive docs page (Swagger UI)", {
            "200": {"description": "HTML", "content": {"text/html": {
                "schema": {"type": "string"}}}}, **allow}),
    }


def document() -> Schema:
    config = current_app.config
    models = registered_models()
    paths = open_paths()
    schemas: dict[str, Schema] = {"Error": {"type": "object", "properties": {
        "_status": {"type": "string"}, "_error": {"type": "object", "properties": {
            "code": {"type": "integer"}, "message": {"type": "string"}}}}},
        "Where": query.WHERE}
    for resource, settings in config["DOMAIN"].items():
        paths.update(resource_paths(resource, settings))
        schemas[resource] = resource_schema(resource)
        schemas[f"{resource}_write"] = object_schema(settings["schema"], writing=True)
        if "PATCH" in settings["item_methods"]:
            schemas[f"{resource}_patch"] = object_schema(settings["schema"], writing=True,
                                                         partial=True)
    paths["/models"]["post"] = model_upload()
    paths["/batches"]["post"] = batch_upload(models)
    paths.update(batch_item_paths())
    paths.update(model_item_paths())
    paths.update(prediction_cancel_path())
    schemas["inputs_write"] = input_schema(models)
    schemas["tokens"]["properties"]["token"] = {
        "type": "string", "description": "the secret: in the answer to POST only"}
    for model in models:
        schemas.update(features_schemas(model))
    return {
        "openapi": "3.1.0",
        "info": {"title": "Prediction service", "version": config["API_VERSION"],
                 "description": "POST inputs, poll predictions. Models: " + ", ".join(
                     f"{m['name']} v{m['version']} ({m['task']})" for m in models)},
        "servers": [{"url": api_prefix(config)}],
        "security": [{"bearer": []}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": schemas},
        "paths": {path: operations for path, operations in paths.items() if operations},
    }


@blueprint.get("/openapi.json")
def openapi_json() -> Response:
    return jsonify(document())


DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Prediction service API</title>
<link rel="stylesheet" href="docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="docs/static/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "openapi.json", dom_id: "#swagger-ui",
  persistAuthorization: true});</script>
</body></html>"""


@blueprint.get("/docs")
def docs() -> tuple[str, int, dict[str, str]]:
    return DOCS_PAGE, 200, {"Content-Type": "text/html; charset=utf-8"}


@blueprint.get("/docs/static/<path:filename>")
def docs_static(filename: str) -> Response:
    return send_from_directory(swagger_ui.static_path, filename)
