"""Eve's Mongo data layer, with the sort syntax of service/query.py and one fix for
pymongo 4.

When counting a query's matches fails (the database refuses an operator, a number is
too large for BSON, the server is unreachable), Eve falls back to Collection.count(),
which pymongo 4 removed: the real error is masked by a TypeError and becomes a 500.
Here the original error is raised again, for service/errors.py to answer (400 or 503).

Every list query also asks for `_created` in [2001-09-09, 2286-11-20): true of every
document (Eve stamps `_created` with the time of the request), and what lets the
development database (FerretDB with tools/ferretdb/patches/) sort by `_created` and
count in SQL: there a range bounded on both sides holds the field to dates that sort
as their stored texts do."""
from datetime import datetime

from eve.io.mongo import Mongo as EveMongo

from .query import sort_fields

# the dates stored as 13-digit integer milliseconds: 10**12 ms to 10**13 - 1 ms
CREATED_RANGE = {"_created": {"$gte": datetime(2001, 9, 9, 1, 46, 40),
                              "$lt": datetime(2286, 11, 20, 17, 46, 39)}}


class Mongo(EveMongo):
    def _convert_sort_request_to_dict(self, req):
        """`field,-other` is split here: Eve first tries every sort as a Python literal,
        and answers 400 for field names that are Python keywords (`if`, `not`)."""
        fields = sort_fields(req.sort) if req and req.sort else None
        return fields if fields is not None else super()._convert_sort_request_to_dict(req)

    def find(self, resource, req, sub_resource_lookup, perform_count=True):
        lookup = {**(sub_resource_lookup or {}), **CREATED_RANGE}
        try:
            return super().find(resource, req, lookup, perform_count)
        except TypeError as exc:
            if "'Collection' object is not callable" in str(exc) and exc.__context__:
                raise exc.__context__ from None
            raise
