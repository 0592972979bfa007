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


ROWS = "_rows"


def without_nested_arrays(value: Any) -> Any:
    """`value` with each list of lists (a confusion matrix) held as {"_rows": [{"_rows":
    row}, ...]}: FerretDB v1 refuses a document with an array directly inside an array
    (MongoDB takes it). with_nested_arrays gives the value back."""
    if isinstance(value, dict):
        return {key: without_nested_arrays(item) for key, item in value.items()}
    if isinstance(value, list):
        items = [without_nested_arrays(item) for item in value]
        if any(isinstance(item, list) for item in value):
            return {ROWS: [{ROWS: item} if isinstance(item, list) else item for item in items]}
        return items
    return value


def with_nested_arrays(value: Any) -> Any:
    """The value without_nested_arrays was given."""
    if isinstance(value, dict):
        if set(value) == {ROWS}:
            return [with_nested_arrays(item[ROWS] if isinstance(item, dict) and set(item) == {ROWS}
                                       else item) for item in value[ROWS]]
        return {key: with_nested_arrays(item) for key, item in value.items()}
    if isinstance(value, list):
        return [with_nested_arrays(item) for item in value]
    return value
