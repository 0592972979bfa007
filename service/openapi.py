"""GET /api/v1/openapi.json (OpenAPI 3.1) generated from the Eve DOMAIN and the model
registry, and GET /api/v1/docs, Swagger UI served from the openapi-ui-bundles package
(no CDN). Both are open: they describe the API, they do not use it.

eve-swagger, the usual generator, is unmaintained since 2022 and writes Swagger 2.0;
this module maps Cerberus types to JSON Schema directly."""
from flask import Blueprint, current_app, jsonify, send_from_directory
from openapi_ui_bundles import swagger_ui

from .registry import read_manifest

blueprint = Blueprint("openapi", __name__)

JSON_TYPES = {"string": "string", "integer": "integer", "float": "number",
              "number": "number", "boolean": "boolean", "dict": "object", "list": "array",
              "datetime": "string", "objectid": "string"}
META = {"_id": {"type": "string", "pattern": "^[0-9a-f]{24}$"},
        "_created": {"type": "string"}, "_updated": {"type": "string"},
        "_etag": {"type": "string"}}
ERROR = {"$ref": "#/components/schemas/Error"}


def field_schema(rule):
    types = rule.get("type", "string")
    types = types if isinstance(types, list) else [types]
    schema = {"type": [JSON_TYPES[t] for t in types]}
    if len(schema["type"]) == 1:
        schema["type"] = schema["type"][0]
    for cerberus, json_schema in (("allowed", "enum"), ("min", "minimum"),
                                  ("maxlength", "maxLength"), ("regex", "pattern")):
        if cerberus in rule:
            schema[json_schema] = rule[cerberus]
    if rule.get("readonly"):
        schema["readOnly"] = True
    if "schema" in rule and "array" in schema["type"]:
        schema["items"] = field_schema(rule["schema"])
    return schema


def resource_schema(resource):
    schema = current_app.config["DOMAIN"][resource]["schema"]
    properties = {name: field_schema(rule) for name, rule in schema.items()}
    required = [name for name, rule in schema.items() if rule.get("required")]
    return {"type": "object", "properties": {**properties, **META}, "required": required}


def input_schema(models):
    """What POST /inputs takes, with each registered model's feature names."""
    schema = resource_schema("inputs")
    schema["properties"]["model"]["enum"] = sorted({m["name"] for m in models})
    schema["properties"]["features"] = {
        "description": "the model's features, as a list in its order or an object by name",
        "oneOf": [{"type": "array", "items": {"type": "number"}},
                  *[{"$ref": f"#/components/schemas/{m['name']}_features"} for m in models]]}
    for field in ("_id", "_created", "_updated", "_etag", "prediction", "status"):
        schema["properties"].pop(field, None)
    schema["additionalProperties"] = False
    return schema


def features_schema(model):
    return {"type": "object", "title": f"{model['name']} v{model['version']} features",
            "properties": {name: {"type": "number"} for name in model["features"]},
            "required": model["features"], "additionalProperties": False}


LIST_PARAMETERS = [
    {"name": "where", "in": "query", "schema": {"type": "string"},
     "description": 'MongoDB-style filter, e.g. {"status": "done"}'},
    {"name": "sort", "in": "query", "schema": {"type": "string"},
     "description": 'e.g. [("_created", -1)]'},
    {"name": "max_results", "in": "query", "schema": {"type": "integer", "maximum": 1000}},
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
]
ID_PARAMETER = {"name": "id", "in": "path", "required": True, "schema": META["_id"]}


def responses(ok_code, ok_schema, *errors):
    out = {str(ok_code): {"description": "OK", "content": {"application/json": {
        "schema": ok_schema}}} if ok_schema else {"description": "OK"}}
    for code in ("401", "429", "503", *errors):
        out[code] = {"description": "error", "content": {"application/json": {"schema": ERROR}}}
    return out


def resource_paths(resource, settings):
    ref = {"$ref": f"#/components/schemas/{resource}"}
    page = {"type": "object", "properties": {"_items": {"type": "array", "items": ref},
                                             "_meta": {"type": "object"}}}
    collection, item = {}, {}
    if "GET" in settings["resource_methods"]:
        collection["get"] = {"summary": f"list {resource}", "parameters": LIST_PARAMETERS,
                             "responses": responses(200, page, "400")}
    if "POST" in settings["resource_methods"]:
        body = {"$ref": f"#/components/schemas/{resource}_input"} if resource == "inputs" else ref
        collection["post"] = {
            "summary": f"create {resource} (one object, or a list of up to 1000)",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "oneOf": [body, {"type": "array", "items": body, "maxItems": 1000}]}}}},
            "responses": responses(201, {"type": "object"}, "400", "413", "422")}
    if "DELETE" in settings["resource_methods"]:
        collection["delete"] = {"summary": f"delete all {resource} (admin)",
                                "responses": responses(204, None, "403")}
    if "GET" in settings["item_methods"]:
        item["get"] = {"summary": f"one {settings['item_title']}", "parameters": [
            ID_PARAMETER, {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}],
            "responses": {**responses(200, ref, "404"), "304": {"description": "not modified"}}}
    if "PATCH" in settings["item_methods"]:
        item["patch"] = {"summary": f"change one {settings['item_title']} (admin)",
                         "parameters": [ID_PARAMETER,
                                        {"name": "If-Match", "in": "header", "required": True,
                                         "schema": {"type": "string"}}],
                         "requestBody": {"required": True, "content": {"application/json": {
                             "schema": {"type": "object"}}}},
                         "responses": responses(200, {"type": "object"}, "404", "422", "428")}
    if "DELETE" in settings["item_methods"]:
        item["delete"] = {"summary": f"delete one {settings['item_title']} (admin)",
                          "parameters": [ID_PARAMETER,
                                         {"name": "If-Match", "in": "header", "required": True,
                                          "schema": {"type": "string"}}],
                          "responses": responses(204, None, "404", "428")}
    return {f"/{resource}": collection, f"/{resource}/{{id}}": item}


def document():
    config = current_app.config
    models = read_manifest()
    paths = {"/health": {"get": {"summary": "liveness of MongoDB, Redis and the workers",
                                 "security": [], "responses": {
                                     "200": {"description": "both stores answer"},
                                     "503": {"description": "a store is down"}}}}}
    schemas = {"Error": {"type": "object", "properties": {
        "_status": {"type": "string"}, "_error": {"type": "object", "properties": {
            "code": {"type": "integer"}, "message": {"type": "string"}}}}}}
    for resource, settings in config["DOMAIN"].items():
        paths.update(resource_paths(resource, settings))
        schemas[resource] = resource_schema(resource)
    schemas["inputs_input"] = input_schema(models)
    for model in models:
        schemas[f"{model['name']}_features"] = features_schema(model)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Prediction service", "version": config["API_VERSION"],
                 "description": "POST inputs, poll predictions. Models: " + ", ".join(
                     f"{m['name']} v{m['version']} ({m['task']})" for m in models)},
        "servers": [{"url": f"/{config['URL_PREFIX']}/{config['API_VERSION']}"}],
        "security": [{"bearer": []}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": schemas},
        "paths": paths,
    }


@blueprint.get("/openapi.json")
def openapi_json():
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
def docs():
    return DOCS_PAGE, 200, {"Content-Type": "text/html; charset=utf-8"}


@blueprint.get("/docs/static/<path:filename>")
def docs_static(filename):
    return send_from_directory(swagger_ui.static_path, filename)
