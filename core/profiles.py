"""Reference profiles and drift.

A model version's reference profile says, for each feature and for the prediction, into
which bins its values fall and what share of the reference rows each bin holds:
numbers by the reference's deciles (9 edges: a value `v` falls in the first bin whose
edge is >= v, or in the last), strings and booleans by the reference's values (then one
bin for any other value). The workers count the rows they serve into the same bins
(core/quality.py); the drift of a window is the population stability index of its
shares against the reference's, each share floored at FLOOR."""
import math
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.stats import chisquare

from .inference import feature_types
from .types import Features, Profile, Result, Slicer

FLOOR = 0.0001
REFERENCE_MAX_ROWS = 100_000  # the rows a reference profile is made of, at most
DECILES = [10, 20, 30, 40, 50, 60, 70, 80, 90]
MAX_CATEGORIES = 50
OTHER = "other"


def numeric_slicer(values: Sequence[Any]) -> Slicer:
    return {"bins": [float(edge) for edge in np.percentile(np.asarray(values, dtype=float),
                                                           DECILES)]}


def category_slicer(values: Sequence[Any]) -> Slicer:
    seen = sorted({value for value in values}, key=lambda v: (type(v).__name__, v))
    return {"categories": seen[:MAX_CATEGORIES]}


def slot(slicer: Slicer, value: Any) -> int:
    """The bin of `value` under a feature's (or the prediction's) slicer."""
    if "bins" in slicer:
        return bisect_left(slicer["bins"], value)
    try:
        return slicer["categories"].index(value)
    except ValueError:
        return len(slicer["categories"])  # other


def slot_count(slicer: Slicer) -> int:
    return len(slicer["bins"]) + 1 if "bins" in slicer else len(slicer["categories"]) + 1


def labels_of(slicer: Slicer) -> dict[str, list[Any]]:
    """How the answer names a slicer's bins."""
    if "bins" in slicer:
        return {"bins": slicer["bins"]}
    return {"categories": [*slicer["categories"], OTHER]}


def shares(slicer: Slicer, values: Sequence[Any]) -> list[float]:
    counts: list[float] = [0] * slot_count(slicer)
    for value in values:
        counts[slot(slicer, value)] += 1
    return [count / len(values) for count in counts] if values else counts


def predicted_value(entry: Mapping[str, Any], result: Result) -> str | float:
    """What the prediction's drift looks at: the label, or the value."""
    return result["label"] if entry["task"] == "classification" else result["value"]


def build(entry: Mapping[str, Any], rows: list[Features], results: Sequence[Result],
          source: str) -> Profile:
    """The reference profile of `rows` (feature values in the model's order) and their
    `results` (what the model answered for each)."""
    kinds = feature_types(entry)
    features: list[Slicer] = []
    for index, (name, kind) in enumerate(zip(entry["features"], kinds)):
        values = [row[index] for row in rows]
        slicer = numeric_slicer(values) if kind == "number" else category_slicer(values)
        features.append({"name": name, **slicer, "reference": shares(slicer, values)})
    predicted = [predicted_value(entry, result) for result in results]
    slicer = {"categories": list(entry["classes"])} if entry["task"] == "classification" \
        else numeric_slicer(predicted)
    return {"source": source, "rows": len(rows), "features": features,
            "prediction": {**slicer, "reference": shares(slicer, predicted)}}


PLACEHOLDERS = {"number": 0.0, "string": "", "boolean": False}


def example_row(entry: Mapping[str, Any]) -> Features:
    """A row of the version's features: each one's reference median, or first reference
    category, where it has a reference profile; else 0, "" or False by its type."""
    kinds = feature_types(entry)
    profiled = (entry.get("reference") or {}).get("features") or [{}] * len(kinds)
    row: Features = []
    for kind, slicer in zip(kinds, profiled):
        if slicer.get("bins"):
            row.append(slicer["bins"][len(slicer["bins"]) // 2])
        elif slicer.get("categories"):
            row.append(slicer["categories"][0])
        else:
            row.append(PLACEHOLDERS.get(kind, 0.0))
    return row


def psi(reference: list[float], live: list[float]) -> float:
    """Σ (live − ref) · ln(live / ref) over the bins, each share floored at FLOOR."""
    total = 0.0
    for ref, now in zip(reference, live):
        ref, now = max(ref, FLOOR), max(now, FLOOR)
        total += (now - ref) * math.log(now / ref)
    return total


def p_value(reference: list[float], counts: list[float]) -> float:
    """The chi-square goodness-of-fit test (scipy.stats.chisquare) of a window's rows per
    bin against the reference's shares times those rows, the shares floored at FLOOR
    (as for PSI) and renormalised to add up to one."""
    floored = [max(share, FLOOR) for share in reference]
    rows, whole = sum(counts), sum(floored)
    expected = [share / whole * rows for share in floored]
    return float(chisquare(counts, expected).pvalue)
