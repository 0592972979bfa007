"""What an uploaded estimator is: its task, features, feature types and classes, read
from the fitted object itself (scikit-learn's own attributes), or why it cannot be served."""
import numbers
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

from core.types import ModelDocument

FEATURE_TYPES = ("number", "string", "boolean")


class ModelRefused(Exception):
    """The upload cannot be served; the message says why (the 422's text)."""


def describe(estimator: Any, features: Sequence[str] | None = None) -> ModelDocument:
    """{task, features, feature_types, classes?} of a fitted estimator. `features` names
    the columns of one that was fitted without names (a NumPy array)."""
    if not callable(getattr(estimator, "predict", None)):
        raise ModelRefused(f"the file holds a {type(estimator).__name__}, which has no predict()")
    names = feature_names(estimator, features)
    description: ModelDocument = {
        "task": "classification" if hasattr(estimator, "classes_") else "regression",
        "features": names, "feature_types": feature_types(estimator, names)}
    if description["task"] == "classification":
        if not callable(getattr(estimator, "predict_proba", None)):
            raise ModelRefused("a classifier needs predict_proba() to give probabilities")
        description["classes"] = [str(c) for c in estimator.classes_]
    return description


def feature_names(estimator: Any, features: Sequence[str] | None) -> list[str]:
    fitted = getattr(estimator, "feature_names_in_", None)
    count = getattr(estimator, "n_features_in_", None)
    if fitted is not None:
        fitted = [str(name) for name in fitted]
        if features is not None and list(features) != fitted:
            raise ModelRefused(f"features {list(features)} differ from the names the model "
                               f"was fitted with: {fitted}")
        return fitted
    if features is None:
        raise ModelRefused("the model has no feature_names_in_ (fitted on an array): "
                           "name its features with the `features` field")
    if count is not None and len(features) != count:
        raise ModelRefused(f"the model takes {count} features, `features` names {len(features)}")
    return list(features)


def feature_types(estimator: Any, names: list[str]) -> list[str]:
    """`string` or `boolean` for the columns an encoder fitted on such values, else
    `number` (what a scaler or a model itself takes)."""
    types = dict.fromkeys(names, "number")
    for transformer in column_transformers(estimator):
        for _, step, columns in transformer.transformers_:
            encoder = encoder_in(step)
            if encoder is None or not hasattr(encoder, "categories_"):
                continue
            for column, categories in zip(column_names(columns, names), encoder.categories_):
                if column in types:
                    types[column] = kind_of(categories)
    return [types[name] for name in names]


def column_transformers(estimator: Any) -> Iterator[ColumnTransformer]:
    if isinstance(estimator, ColumnTransformer):
        yield estimator
    elif isinstance(estimator, Pipeline):
        for _, step in estimator.steps:
            yield from column_transformers(step)


def encoder_in(step: Any) -> OneHotEncoder | OrdinalEncoder | None:
    if isinstance(step, (OneHotEncoder, OrdinalEncoder)):
        return step
    if isinstance(step, Pipeline):
        return next((s for _, s in step.steps if isinstance(s, (OneHotEncoder, OrdinalEncoder))),
                    None)
    return None


def column_names(columns: Any, names: list[str]) -> list[str]:
    if isinstance(columns, str):
        columns = [columns]
    try:
        return [names[c] if isinstance(c, numbers.Integral) and not isinstance(c, bool)
                else str(c) for c in columns]
    except (TypeError, IndexError):
        return []  # a slice, a mask or a callable: left as numbers


def kind_of(categories: Iterable[Any]) -> str:
    values = [v for v in categories if v is not None and v == v]  # no None or NaN
    if values and all(isinstance(v, (bool, np.bool_)) for v in values):
        return "boolean"
    if values and all(isinstance(v, numbers.Number) for v in values):
        return "number"
    return "string"
