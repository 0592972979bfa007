"""Model-aware validation of inputs: Cerberus rules that Eve runs on every POSTed item,
so a bad item gets a 422 naming its field and nothing of the request is stored. Which
version an input names is service/models/lookup.py's; which callback URLs are taken,
service/callback_policy.py's."""
from functools import cached_property
from typing import Any

from eve.io.mongo import Validator as MongoValidator
from flask import current_app

from core.inference import feature_types
from core.types import Features, ModelDocument

from . import cerberus_seams, context, feedback
from .callback_policy import callback_refusal
from .models.lookup import BOTH_NAMED, model_of, named_retired, naming_refusal

# The largest magnitude a feature takes: a power of two, so a float and an integer of
# that size are the same number (Python compares int and float exactly); the OpenAPI
# document publishes the same bound.
FEATURE_BOUND = 2**1000


def is_finite_number(value: Any) -> bool:
    """A number, not NaN or ±Infinity, of magnitude at most FEATURE_BOUND."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return abs(value) <= FEATURE_BOUND  # False for NaN, and for ±inf


MAX_STRING_FEATURE = 256


def value_error(kind: str, value: Any) -> str | None:
    """Why `value` cannot be a feature of that kind, or None."""
    if kind == "string":
        if not isinstance(value, str):
            return "not a string"
        return None if len(value) <= MAX_STRING_FEATURE else \
            f"longer than {MAX_STRING_FEATURE} characters"
    if kind == "boolean":
        return None if isinstance(value, bool) else "not true or false"
    return None if is_finite_number(value) else "not a finite number"


def feature_errors(model: ModelDocument, features: Any) -> list[str]:
    """What is wrong with `features` for `model`, as a list of messages."""
    names = model["features"]
    if isinstance(features, dict):
        missing = [n for n in names if n not in features]
        unknown = sorted(set(features) - set(names))
        problems = []
        if missing:
            problems.append(f"missing features: {', '.join(missing)}")
        if unknown:
            problems.append(f"unknown features: {', '.join(unknown)}")
        if problems:
            return problems
        values = [(n, features[n]) for n in names]
    else:
        if len(features) != len(names):
            return [f"expected {len(names)} features ({', '.join(names)}), got {len(features)}"]
        values = list(zip(names, features))
    bad: dict[str, list[str]] = {}
    for (name, value), kind in zip(values, feature_types(model)):
        error = value_error(kind, value)
        if error:
            bad.setdefault(error, []).append(name)
    return [f"{error}: {', '.join(fields)}" for error, fields in bad.items()]


# The rules of the inputs schema (settings.py) that plain_input_accepted checks itself.
PLAIN_INPUT_RULES: dict[str, dict[str, Any]] = {
    "model": {"type": "string", "required": True, "registered_model": True},
    "features": {"type": ["list", "dict"], "required": True, "model_features": True},
    "version": {"type": "integer", "min": 1, "max": 2**31 - 1},
    "ref": {"type": "string", "maxlength": 128},
}


class Validator(MongoValidator):
    schema = cerberus_seams.schema_checked_once(MongoValidator)

    def validate(self, document: Any, schema: Any = None, update: bool = False,
                 normalize: bool = True) -> bool:
        """Cerberus' validation, except for a plain input that it would accept as it is
        (plain_input_accepted): that one is accepted without Cerberus' work per document
        (normalising a copy, a handler per rule per field, about 0.2 ms an input). Any
        other document, and every one that fails, goes through Cerberus, so the `_issues`
        of a 422 are Cerberus' own."""
        if (schema is None and not update and normalize and not self.is_child
                and self.plain_input_accepted(document)):
            cerberus_seams.accept_as_is(self, document, update)
            return True
        return super().validate(document, schema=schema, update=update, normalize=normalize)

    @cached_property
    def validates_inputs(self) -> bool:
        """Whether this validator (one per request) holds the inputs schema with the
        rules plain_input_accepted checks (PLAIN_INPUT_RULES)."""
        return (self.resource == "inputs" and not self.require_all
                and all(self.schema.get(field) == rules
                        for field, rules in PLAIN_INPUT_RULES.items()))

    def plain_input_accepted(self, document: Any) -> bool:
        """True for an input of model and features, and perhaps version and ref, whose
        values pass the inputs schema's rules (PLAIN_INPUT_RULES, checked to be the
        schema's own) and the model rules. Exact types only: a bool `version`, a `null`
        anywhere or any other field leaves the document to Cerberus."""
        if (type(document) is not dict or not {"model", "features"} <= document.keys()
                or not document.keys() <= PLAIN_INPUT_RULES.keys()
                or not self.validates_inputs):
            return False
        version, ref = document.get("version", 1), document.get("ref", "")
        versions, refs = PLAIN_INPUT_RULES["version"], PLAIN_INPUT_RULES["ref"]
        if (type(document["model"]) is not str or type(document["features"]) not in (list, dict)
                or type(version) is not int or not versions["min"] <= version <= versions["max"]
                or type(ref) is not str or len(ref) > refs["maxlength"]):
            return False
        model = model_of(document)
        return (model is not None and not named_retired(model, document.get("version"), None)
                and not feature_errors(model, document["features"]))

    def document_model(self) -> ModelDocument | None:
        return model_of(self.document)

    def _validate_registered_model(self, enabled: bool, field: str, value: Any) -> None:
        """{'type': 'boolean'}"""
        if not enabled or not isinstance(value, str):
            return
        version, alias = self.document.get("version"), self.document.get("alias")
        if version is not None and alias is not None:
            self._error("alias", BOTH_NAMED)
            return
        refusal = naming_refusal(value, version, alias, self.document_model())
        if refusal:
            self._error(field, refusal)

    def _validate_allowed_callback(self, enabled: bool, field: str, value: Any) -> None:
        """{'type': 'boolean'}"""
        if enabled and isinstance(value, str):
            refusal = callback_refusal(value, current_app.config["CALLBACK_ALLOWED_HOSTS"],
                                       current_app.config["CALLBACK_SECRET"])
            if refusal:
                self._error(field, refusal)

    def _validate_feedback_prediction(self, enabled: bool, field: str, value: Any) -> None:
        """{'type': 'boolean'}"""
        if enabled:
            refusal = feedback.prediction_error(value)
            if refusal:
                self._error(field, refusal)

    def _validate_feedback_actual(self, enabled: bool, field: str, value: Any) -> None:
        """{'type': 'boolean'}"""
        found = feedback.target_of(self.document.get("prediction"))
        if enabled and found is not None:  # `prediction` reports an unknown one
            refusal = feedback.actual_error(found[1], value)
            if refusal:
                self._error(field, refusal)

    def _validate_shadow_version(self, enabled: bool, field: str, value: Any) -> None:
        """{'type': 'boolean'}"""
        version = getattr(self, "persisted_document", None) or {}
        if not enabled or value is None or not version.get("name") \
                or isinstance(value, bool) or not isinstance(value, int):
            return  # `type` reports a value of another type; null takes the shadow off
        if value == version.get("version"):
            self._error(field, "a version cannot be its own shadow")
        elif context.db().models.find_one({"name": version["name"], "version": value},
                                          {"_id": 1}) is None:
            self._error(field, f"model {version['name']!r} has no version {value}: a shadow "
                               "is another version of the same model")

    def _validate_model_features(self, enabled: bool, field: str, value: Any) -> None:
        """{'type': 'boolean'}"""
        if (not enabled or not isinstance(self.document.get("model"), str)
                or not isinstance(value, (list, tuple, dict))):
            return  # `type` reports a value of another type, `null` included
        model = self.document_model()
        if model is None:
            return  # `model` reports it
        for message in feature_errors(model, value):
            self._error(field, message)


def ordered_features(model: ModelDocument, features: Any) -> Features:
    """The feature values in the model's order: numbers as floats, strings and booleans
    as they are."""
    if isinstance(features, dict):
        features = [features[name] for name in model["features"]]
    return [float(v) if kind == "number" else v
            for v, kind in zip(features, feature_types(model))]
