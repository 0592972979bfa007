"""The query shapes that only the development database needs, in one place.

FerretDB (with tools/ferretdb/patches/) narrows a filter on a date in SQL only when a
range holds the field to dates on both sides (there such a range holds it to dates that
sort as their stored texts do: 13-digit integer milliseconds). Every stored date is in
DATES, so adding its bounds changes no answer, on FerretDB or on MongoDB; on MongoDB the
queries are otherwise the service's own."""
from datetime import datetime
from typing import Any

# the dates stored as 13-digit integer milliseconds: 10**12 ms to 10**13 - 1 ms
EARLIEST = datetime(2001, 9, 9, 1, 46, 40)
LATEST = datetime(2286, 11, 20, 17, 46, 39)
CREATED_RANGE: dict[str, Any] = {"_created": {"$gte": EARLIEST, "$lt": LATEST}}


def before(field: str, stamp: datetime) -> dict[str, Any]:
    """`field` earlier than `stamp`, as a range bounded on both sides."""
    return {field: {"$gte": EARLIEST, "$lt": stamp}}
