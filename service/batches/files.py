"""Reading and validating a batch's CSV file, row by row, without holding it in memory.

`validate(lines, model, ref_column)` reads the header and every row; each row's values
are converted as the model's features say (number: a finite number; string: at most 256
characters; boolean: true or false, or 1 or 0) and written, 1,000 rows at a time, to a temporary
file. Nothing is stored until the whole file is known good: the caller then reads the
rows back from that file (`chunks`), so the API's memory holds one chunk, whatever the
file's size."""
import csv
import pickle
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from core.inference import feature_types
from core.types import Features, ModelDocument

from ..validation import MAX_STRING_FEATURE, value_error
from .common import Issue

MAX_ROWS = 1_000_000
MAX_ISSUES = 100
MAX_REF = 128
CHUNK_ROWS = 1000
Row = tuple[Features, str | None]  # (the row's values in the model's order, its ref)


class FileRefused(Exception):
    """The file is not a batch for this model: `issues` says why, row by row."""

    def __init__(self, issues: list[Issue], status: int = 422) -> None:
        super().__init__(f"{len(issues)} issue(s)")
        self.issues = issues
        self.status = status


class NotCsv(Exception):
    """The body cannot be read as CSV text (400)."""


def issue(row: int, field: str, message: str) -> Issue:
    return {"row": row, "field": field, "message": message}


def header_issues(header: list[str], model: ModelDocument, ref_column: str) -> list[Issue]:
    names = model["features"]
    issues = [issue(0, name, "column named twice")
              for i, name in enumerate(header) if name in header[:i]]
    issues += [issue(0, name, "not a feature of the model, nor the ref column")
               for name in header if name not in names and name != ref_column]
    issues += [issue(0, name, "missing feature column") for name in names if name not in header]
    return issues


def converter(kind: str) -> Callable[[str], Any]:
    """A function from a cell's text to the feature's value, raising ValueError with
    the message the issue shows."""
    if kind == "number":
        def number(text: str) -> float:
            try:
                value = float(text)
            except ValueError:
                raise ValueError("not a finite number") from None
            if value_error("number", value):
                raise ValueError("not a finite number")
            return value
        return number
    if kind == "boolean":
        def boolean(text: str) -> bool:
            lowered = text.strip().lower()
            if lowered not in ("true", "false", "1", "0"):
                raise ValueError("not true or false (or 1 or 0)")
            return lowered in ("true", "1")
        return boolean

    def string(text: str) -> str:
        if len(text) > MAX_STRING_FEATURE:
            raise ValueError(f"longer than {MAX_STRING_FEATURE} characters")
        return text
    return string


def records(lines: Iterable[str]) -> Iterator[list[str]]:
    """The CSV records of the text lines; a malformed file raises NotCsv."""
    reader = csv.reader(lines, strict=True)
    try:
        for record in reader:
            yield record
    except (csv.Error, UnicodeDecodeError) as exc:
        raise NotCsv(f"not a CSV file: {exc}") from None


def validate(lines: Iterable[str], model: ModelDocument,
             ref_column: str = "ref") -> tuple[int, IO[bytes]]:
    """Validate the file; returns (total rows, the temporary file of validated rows,
    whose chunks `chunks` reads). Raises FileRefused or NotCsv."""
    rows = records(lines)
    header = next(rows, None)
    if header is None or header == []:
        raise FileRefused([issue(0, "file", "empty: no header row")])
    header = [name.strip() for name in header]
    problems = header_issues(header, model, ref_column)
    if problems:
        raise FileRefused(problems[:MAX_ISSUES])
    columns = [(name, header.index(name), converter(kind))
               for name, kind in zip(model["features"], feature_types(model))]
    ref_at = header.index(ref_column) if ref_column in header else None
    out = tempfile.TemporaryFile()
    chunk: list[Row] = []
    problems, total = [], 0
    for record in rows:
        if not record:
            continue  # a blank line
        total += 1
        if total > MAX_ROWS:
            out.close()
            raise FileRefused([issue(total, "file", f"more than {MAX_ROWS:,} rows")])
        if len(record) != len(header):
            problems.append(issue(total, "row", f"{len(record)} values for "
                                               f"{len(header)} columns"))
        else:
            values: Features = []
            for name, at, convert in columns:
                try:
                    values.append(convert(record[at]))
                except ValueError as exc:
                    problems.append(issue(total, name, str(exc)))
            ref = record[ref_at] if ref_at is not None else None
            if ref is not None and len(ref) > MAX_REF:
                problems.append(issue(total, ref_column, f"longer than {MAX_REF} characters"))
            chunk.append((values, ref or None))
        if len(problems) >= MAX_ISSUES:
            break
        if len(chunk) == CHUNK_ROWS:
            if not problems:
                pickle.dump(chunk, out, protocol=pickle.HIGHEST_PROTOCOL)
            chunk = []
    if problems:
        out.close()
        raise FileRefused(problems[:MAX_ISSUES])
    if total == 0:
        out.close()
        raise FileRefused([issue(0, "file", "a header and no rows")])
    if chunk:
        pickle.dump(chunk, out, protocol=pickle.HIGHEST_PROTOCOL)
    out.seek(0)
    return total, out


def label_records(lines: Iterable[str], model: ModelDocument) -> list[tuple[str | None, Any]]:
    """[(ref, actual), ...] of a labels file: a header `ref,actual` (either order), then
    rows; a regressor's actual is read as a number, a classifier's kept as text. Raises
    FileRefused or NotCsv."""
    rows = records(lines)
    header = [name.strip() for name in next(rows, None) or []]
    if sorted(header) != ["actual", "ref"]:
        raise FileRefused([issue(0, "file", "the header is ref,actual")])
    ref_at, actual_at = header.index("ref"), header.index("actual")
    out: list[tuple[str | None, Any]] = []
    problems: list[Issue] = []
    number = converter("number")
    for record in rows:
        if not record:
            continue
        if len(record) != 2:
            problems.append(issue(len(out) + 1, "row", f"{len(record)} values for 2 columns"))
            out.append((None, None))
            continue
        actual = record[actual_at]
        if model["task"] == "regression":
            try:
                actual = number(actual)
            except ValueError as exc:
                problems.append(issue(len(out) + 1, "actual", str(exc)))
        out.append((record[ref_at], actual))
        if len(out) > MAX_ROWS:
            raise FileRefused([issue(len(out), "file", f"more than {MAX_ROWS:,} rows")])
    if problems:
        raise FileRefused(problems[:MAX_ISSUES])
    if not out:
        raise FileRefused([issue(0, "file", "a header and no rows")])
    return out


def chunks(validated: IO[bytes]) -> Iterator[list[Row]]:
    """The validated rows back, [(features, ref), ...] CHUNK_ROWS at a time."""
    while True:
        try:
            yield pickle.load(validated)
        except EOFError:
            return
