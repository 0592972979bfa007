"""Eve's Mongo data layer, with one fix for pymongo 4.

When the database refuses a query's count (an unknown operator in `where`, say), Eve
falls back to Collection.count(), which pymongo 4 removed: the client's bad query then
surfaces as a TypeError and a 500. Here that case is a 400, as the refusal means."""
import pymongo.errors
from eve.io.mongo import Mongo as EveMongo
from flask import abort


class Mongo(EveMongo):
    def find(self, resource, req, sub_resource_lookup, perform_count=True):
        try:
            return super().find(resource, req, sub_resource_lookup, perform_count)
        except TypeError as exc:
            if isinstance(exc.__context__, pymongo.errors.OperationFailure):
                abort(400, description="the database refused this query")
            raise
