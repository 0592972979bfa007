"""Model-aware validation of inputs: Cerberus rules that Eve runs on every POSTed item,
so a bad item gets a 422 naming its field and nothing of the request is stored."""

from cerberus.schema import DefinitionSchema
from eve.io.mongo import Validator as MongoValidator
from flask import current_app, g

from .registry import find_model


def lookup_model(name, version):
    """Model documents are looked up once per request, however many items it carries."""
    cache = g.setdefault("models_by_key", {})
    if (name, version) not in cache:
        cache[(name, version)] = find_model(current_app.data.driver.db, name, version)
    return cache[(name, version)]


# The largest magnitude a feature takes: a power of two, so a float and an integer of
# that size are the same number (Python compares int and float exactly); the OpenAPI
# document publishes the same bound.
FEATURE_BOUND = 2**1000


def is_finite_number(value):
    """A number, not NaN or ±Infinity, of magnitude at most FEATURE_BOUND."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return abs(value) <= FEATURE_BOUND  # False for NaN, and for ±inf


def feature_errors(model, features):
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
    bad = [n for n, v in values if not is_finite_number(v)]
    if bad:
        return [f"not a finite number: {', '.join(bad)}"]
    return []


class CheckedOnce(DefinitionSchema):
    """A resource schema that Cerberus checks once per process, not once per document.

    Normalising a document copies the validator's schema and sets each field's rules
    again, and Cerberus checks the schema anew each time: it hashes the whole schema
    and its table of types to find it in its cache, about 0.6 ms a document, most of a
    bulk POST's time. The rules are the settings' own dicts, never changed at request
    time, so a schema made of the same rules objects as one already checked is trusted;
    the objects are kept here, so their ids stay theirs."""
    checked = {}

    def validate(self, schema=None):
        schema = self.schema if schema is None else schema
        key = tuple((field, id(rules)) for field, rules in schema.items())
        if key not in self.checked:
            super().validate(schema)
            self.checked[key] = list(schema.values())


def _set_schema(validator, schema):
    if schema is not None and not validator.is_child and not isinstance(schema, DefinitionSchema):
        schema = CheckedOnce(validator, schema)
    MongoValidator.schema.fset(validator, schema)


class Validator(MongoValidator):
    schema = property(MongoValidator.schema.fget, _set_schema, doc=MongoValidator.schema.__doc__)

    def _document_model(self):
        version = self.document.get("version")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)
                                    or not 1 <= version < 2**31):
            return None  # `version` reports it
        return lookup_model(self.document.get("model"), version)

    def _validate_registered_model(self, enabled, field, value):
        """{'type': 'boolean'}"""
        if enabled and isinstance(value, str) and self._document_model() is None:
            version = self.document.get("version")
            which = f"model {value!r}" + ("" if version is None else f" version {version!r}")
            self._error(field, f"unknown {which}")

    def _validate_model_features(self, enabled, field, value):
        """{'type': 'boolean'}"""
        if not enabled or not isinstance(self.document.get("model"), str):
            return
        model = self._document_model()
        if model is None:
            return  # `model` reports it
        for message in feature_errors(model, value):
            self._error(field, message)


def ordered_features(model, features):
    """The feature values as floats in the model's order."""
    if isinstance(features, dict):
        return [float(features[name]) for name in model["features"]]
    return [float(v) for v in features]
