"""What a list request (`GET /api/v1/<resource>`) may ask, in one place: the OpenAPI
document publishes these schemas, and `on_pre_GET` refuses (400) any request that does
not fit them before Eve or the database sees it. So the document and the service agree
by construction.

- `where`: a JSON object. Field names are plain (letters, digits, `_`, dotted paths);
  a value is a scalar, a list of scalars, or an object of comparison operators; `$and`,
  `$or` and `$nor` combine such objects. Nothing else: no server-side code, no regex.
- `sort`: `field,-other` or Eve's `[("field", 1), ("other", -1)]`, at most MAX_SORT_KEYS
  fields (MongoDB refuses more); empty means none.
- `projection`: a JSON object of top-level field names, all to 1 or all to 0.
- `max_results` 1..PAGINATION_LIMIT, `page` 1..MAX_PAGE; no parameter given twice;
  at most MAX_QUERY_BYTES in all (gunicorn's own line limit is off, so this is the 400
  a client sees rather than an HTML 414)."""
import json
import re
from typing import Any, NoReturn

import jsonschema
from flask import Request, abort, current_app, request
from werkzeug.datastructures import MultiDict

INT64 = 2**63 - 1
FIELD = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*"
MAX_PAGE = 1_000_000
MAX_QUERY_BYTES = 256 * 1024

SCALAR = {"anyOf": [{"type": "string", "maxLength": 256}, {"type": ["boolean", "null"]},
                    {"type": "integer", "minimum": -INT64, "maximum": INT64},
                    {"type": "number", "not": {"type": "integer"}}]}
SCALARS = {"type": "array", "items": SCALAR, "maxItems": 100}
OPERATORS = {"type": "object", "minProperties": 1, "additionalProperties": False,
             "properties": {"$eq": SCALAR, "$ne": SCALAR, "$gt": SCALAR, "$gte": SCALAR,
                            "$lt": SCALAR, "$lte": SCALAR, "$in": SCALARS, "$nin": SCALARS,
                            "$exists": {"type": "boolean"}}}
WHERE = {
    "type": "object", "maxProperties": 32,
    "propertyNames": {"pattern": f"^(?:{FIELD}|\\$and|\\$or|\\$nor)$"},
    "patternProperties": {
        f"^{FIELD}$": {"anyOf": [SCALAR, SCALARS, OPERATORS]},
        r"^\$(and|or|nor)$": {"type": "array", "minItems": 1, "maxItems": 16,
                              "items": {"$ref": "#/components/schemas/Where"}},
    },
}
NAME = "[A-Za-z_][A-Za-z0-9_]*"
PROJECTION = {"type": "object", "propertyNames": {"pattern": f"^{NAME}$"}, "anyOf": [
    {"additionalProperties": {"const": 1}}, {"additionalProperties": {"const": 0}}]}
MAX_SORT_KEYS = 32  # MongoDB's limit on a sort's fields
SORT_FIELDS = f"-?{FIELD}(?:,-?{FIELD}){{0,{MAX_SORT_KEYS - 1}}}"
SORT_PAIRS = (rf"\[ *(?:\( *(['\"]){FIELD}\1 *, *-?1 *\) *(?:, *(?=\()|(?=\]))){{0,{MAX_SORT_KEYS}}}"
              r"\]")
SORT = f"^(?:{SORT_FIELDS}|{SORT_PAIRS})?$"
SORT_RE = re.compile(SORT)
SORT_FIELDS_RE = re.compile(SORT_FIELDS)


def sort_fields(sort: str) -> list[tuple[str, int]] | None:
    """`field,-other` as [(field, 1), (other, -1)]; None for Eve's list syntax."""
    if not SORT_FIELDS_RE.fullmatch(sort):
        return None
    return [(name.lstrip("-"), -1 if name.startswith("-") else 1) for name in sort.split(",")]

WHERE_VALIDATOR = jsonschema.Draft202012Validator(  # `$and` items refer to the whole
    json.loads(json.dumps(WHERE).replace("#/components/schemas/Where", "#")))
PROJECTION_VALIDATOR = jsonschema.Draft202012Validator(PROJECTION)


def parameters(limit: int) -> list[dict[str, Any]]:
    """The OpenAPI parameters of a list request."""
    return [
        {"name": "where", "in": "query", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Where"}}},
         "description": 'filter, e.g. {"status": "done", "_created": {"$gte": '
                        '"Mon, 23 Nov 2026 10:00:00 GMT"}}'},
        {"name": "sort", "in": "query", "schema": {"type": "string", "pattern": SORT},
         "description": "e.g. -_created or status,-_created"},
        {"name": "projection", "in": "query", "content": {"application/json": {
            "schema": PROJECTION}}, "description": 'e.g. {"result": 1}'},
        {"name": "max_results", "in": "query",
         "schema": {"type": "integer", "minimum": 1, "maximum": limit}},
        {"name": "page", "in": "query",
         "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}},
    ]


def refuse(message: str) -> NoReturn:
    abort(400, description=message)


def parse_json(name: str, value: str) -> Any:
    try:
        return json.loads(value)
    except RecursionError:
        refuse(f"`{name}` is nested too deeply")
    except ValueError:
        refuse(f"`{name}` must be JSON")


def check_integer(name: str, value: str, maximum: int) -> None:
    if not re.fullmatch(r"[0-9]{1,7}", value) or not 1 <= int(value) <= maximum:
        refuse(f"`{name}` takes a whole number from 1 to {maximum}")


def check_list_request(args: MultiDict[str, str], limit: int) -> None:
    if len(request.query_string) > MAX_QUERY_BYTES:
        refuse(f"the query string is longer than {MAX_QUERY_BYTES} bytes")
    for name in args:
        if len(args.getlist(name)) > 1:
            refuse(f"`{name}` is given more than once")
    if "where" in args:
        where = parse_json("where", args["where"])
        if not isinstance(where, dict) or not WHERE_VALIDATOR.is_valid(where):
            refuse("`where` takes a JSON object of fields, values and comparison operators "
                   "($eq $ne $gt $gte $lt $lte $in $nin $exists, $and $or $nor)")
    if "projection" in args:
        projection = parse_json("projection", args["projection"])
        if not PROJECTION_VALIDATOR.is_valid(projection):
            refuse("`projection` takes a JSON object of field names, all to 1 or all to 0")
    if "sort" in args and not SORT_RE.match(args["sort"]):
        refuse('`sort` takes field,-other or [("field", 1), ("other", -1)], at most '
               f"{MAX_SORT_KEYS} fields")
    if "max_results" in args:
        check_integer("max_results", args["max_results"], limit)
    if "page" in args:
        check_integer("page", args["page"], MAX_PAGE)


def on_pre_get(resource: str, request_: Request, lookup: dict[str, Any] | None = None) -> None:
    check_list_request(request.args, current_app.config["PAGINATION_LIMIT"])


def attach(app: Any) -> None:
    app.on_pre_GET += on_pre_get
