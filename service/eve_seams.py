"""Where the service relies on more of Eve than its public API: every such use is here,
and tests/unit/test_library_seams.py pins each one, so that an upgrade of Eve fails one
named test instead of a request path.

- SeamsMongo._convert_sort_request_to_dict: `?sort=field,-other` is split by
  service/query.py. Eve first tries every sort as a Python literal, and answers 400 for
  field names that are Python keywords (`if`, `not`).
- SeamsMongo.find: when counting a query's matches fails (the database refuses an
  operator, a number is too large for BSON, the server is unreachable), Eve falls back
  to Collection.count(), which pymongo 4 removed: the real error is masked by a
  TypeError and becomes a 500. Here the original error is raised again, for
  service/errors.py to answer (400 or 503)."""
from typing import Any

from eve.io.mongo import Mongo as EveMongo
from eve.utils import ParsedRequest
from pymongo.cursor import Cursor

from .query import sort_fields

PYMONGO4_COUNT_FALLBACK = "'Collection' object is not callable"


class SeamsMongo(EveMongo):
    def _convert_sort_request_to_dict(
            self, req: ParsedRequest | None) -> list[tuple[str, int]] | dict[str, int]:
        fields = sort_fields(req.sort) if req and req.sort else None
        return fields if fields is not None else super()._convert_sort_request_to_dict(req)

    def find(self, resource: str, req: ParsedRequest, sub_resource_lookup: dict[str, Any] | None,
             perform_count: bool = True) -> tuple[Cursor[Any], int | None]:
        try:
            return super().find(resource, req, sub_resource_lookup, perform_count)
        except TypeError as exc:
            if PYMONGO4_COUNT_FALLBACK in str(exc) and exc.__context__:
                raise exc.__context__ from None
            raise
