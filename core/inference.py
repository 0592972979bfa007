"""The model call: rows in, results out, as the workers write them and as a reference
profile is made of an uploaded reference file (service/models/uploads.py)."""
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .types import Features, Result


def classification_results(classes: list[str],
                           probabilities: Iterable[Sequence[float]]) -> list[Result]:
    """Label and probabilities from predict_proba alone: the label is the class of the
    highest probability, which is what predict() returns for these models, without
    running the model twice."""
    results: list[Result] = []
    for row in probabilities:
        values = [float(p) for p in row]
        results.append({"label": classes[int(np.argmax(row))],
                        "probabilities": dict(zip(classes, values))})
    return results


DTYPES = {"number": "float64", "string": "object", "boolean": "bool"}


def feature_types(entry: Mapping[str, Any]) -> list[str]:
    """Each feature's type (a key of DTYPES): numbers unless the version says otherwise."""
    return entry.get("feature_types") or ["number"] * len(entry["features"])


def model_input(entry: Mapping[str, Any], estimator: Any, rows: list[Features]) -> np.ndarray | pd.DataFrame:
    """Numbers-only models fitted on an array take a float array; a model fitted on a
    DataFrame, or with string or boolean features, takes one with the training column
    names and dtypes, as in the notebook it came from."""
    types = entry.get("feature_types") or ["number"]
    if set(types) == {"number"} and not hasattr(estimator, "feature_names_in_"):
        return np.asarray(rows, dtype=np.float64)
    frame = pd.DataFrame(rows, columns=entry["features"])
    return frame.astype(dict(zip(entry["features"], (DTYPES[t] for t in types))))


def compute(entry: Mapping[str, Any], estimator: Any, rows: list[Features]) -> list[Result]:
    X = model_input(entry, estimator, rows)
    if entry["task"] == "classification":
        return classification_results(entry["classes"], estimator.predict_proba(X))
    return [{"value": float(v)} for v in estimator.predict(X)]
