"""The store behind Eve: its Mongo data layer (service/eve_seams.py), and the one query
shape that only the development database needs.

FerretDB (with tools/ferretdb/patches/) sorts by `_created` and counts in SQL only when
the field is held to dates by a range bounded on both sides: there such a range holds
the field to dates that sort as their stored texts do. So on FerretDB, and only there,
every list query also asks for `_created` in [2001-09-09, 2286-11-20) (core/store.py):
true of every document (Eve stamps `_created` with the time of the request). On MongoDB
the queries are Eve's own.

Eve's data layer also "serializes" each field of a JSON body by its type before the
schema validates it, with int() for an integer and json.loads for a number: a body's
1.5 became 1 and "60" 60, both then valid. A JSON body's numbers and booleans are typed
already, so here they are left as sent, for the schema's type rule to judge."""
from typing import Any

from eve.utils import ParsedRequest
from flask import current_app
from pymongo.cursor import Cursor
from pymongo.database import Database
from pymongo.errors import OperationFailure

from core.store import CREATED_RANGE

from .eve_seams import SeamsMongo


def is_ferretdb(db: Database[Any]) -> bool:
    """Whether the server is FerretDB (its buildInfo names its own version)."""
    try:
        return "ferretdbVersion" in db.command("buildInfo")
    except (OperationFailure, NotImplementedError):  # no buildInfo there (mongomock)
        return False


def as_sent(value: Any) -> Any:
    return value


class Mongo(SeamsMongo):
    serializers = {**SeamsMongo.serializers, "integer": as_sent, "number": as_sent,
                   "float": as_sent, "boolean": as_sent}

    def list_bounds(self, resource: str) -> dict[str, Any]:
        """What the store adds to every list query of `resource`: CREATED_RANGE on
        FerretDB, nothing elsewhere. Asked of the server once per process."""
        extensions = current_app.extensions
        if "store_is_ferretdb" not in extensions:
            extensions["store_is_ferretdb"] = is_ferretdb(self.pymongo(resource).db)
        return CREATED_RANGE if extensions["store_is_ferretdb"] else {}

    def find(self, resource: str, req: ParsedRequest, sub_resource_lookup: dict[str, Any] | None,
             perform_count: bool = True) -> tuple[Cursor[Any], int | None]:
        lookup = {**(sub_resource_lookup or {}), **self.list_bounds(resource)}
        return super().find(resource, req, lookup, perform_count)
