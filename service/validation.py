"""Model-aware validation of inputs: Cerberus rules that Eve runs on every POSTed item,
so a bad item gets a 422 naming its field and nothing of the request is stored."""
import re
import time
from functools import cached_property

from eve.io.mongo import Validator as MongoValidator
from flask import current_app, g

from core.inference import feature_types

from . import cerberus_seams, feedback
from .models.catalog import find_model

GENERATION_KEY = "models:generation"
REMEMBER_SECONDS = 60  # a change made behind the API's back (mongo shell) is seen after this


def models_changed(redis):
    """Every API process forgets the model versions it remembers (lookup_model): called
    by whatever registers, aliases, retires or deletes a version."""
    redis.incr(GENERATION_KEY)


def lookup_model(name, version=None, alias=None):
    """The version an input resolves to (service/models/catalog.py: find_model). The API
    process remembers it until any model changes (one Redis GET per request instead of
    database reads per item); an unknown name is not remembered."""
    this_request = g.setdefault("models_by_key", {})
    if (name, version, alias) in this_request:
        return this_request[name, version, alias]
    if "models_generation" not in g:
        generation = current_app.redis.get(GENERATION_KEY)
        g.models_generation = (generation, int(time.time() // REMEMBER_SECONDS))
    remembered = current_app.extensions.setdefault("models_by_key", {})
    model = remembered.get((g.models_generation, name, version, alias))
    if model is None:
        model = find_model(current_app.data.driver.db, name, version, alias)
        if model is None:
            return None
        if len(remembered) >= 1000:
            remembered.clear()  # entries of past generations
        remembered[g.models_generation, name, version, alias] = model
    this_request[name, version, alias] = model
    return model


# The largest magnitude a feature takes: a power of two, so a float and an integer of
# that size are the same number (Python compares int and float exactly); the OpenAPI
# document publishes the same bound.
FEATURE_BOUND = 2**1000


def is_finite_number(value):
    """A number, not NaN or ±Infinity, of magnitude at most FEATURE_BOUND."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return abs(value) <= FEATURE_BOUND  # False for NaN, and for ±inf


MAX_STRING_FEATURE = 256


def value_error(kind, value):
    """Why `value` cannot be a feature of that kind, or None."""
    if kind == "string":
        if not isinstance(value, str):
            return "not a string"
        return None if len(value) <= MAX_STRING_FEATURE else \
            f"longer than {MAX_STRING_FEATURE} characters"
    if kind == "boolean":
        return None if isinstance(value, bool) else "not true or false"
    return None if is_finite_number(value) else "not a finite number"


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
    bad = {}
    for (name, value), kind in zip(values, feature_types(model)):
        error = value_error(kind, value)
        if error:
            bad.setdefault(error, []).append(name)
    return [f"{error}: {', '.join(fields)}" for error, fields in bad.items()]


def model_of(document):
    """The model version an input document names, or None (its fields report why)."""
    name, version, alias = (document.get(k) for k in ("model", "version", "alias"))
    if not isinstance(name, str):
        return None  # `model` reports it
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)
                                or not 1 <= version < 2**31):
        return None  # `version` reports it
    if alias is not None and (not isinstance(alias, str) or version is not None):
        return None  # `alias` reports it
    return lookup_model(name, version, alias)


def callback_url_pattern(allowed_hosts):
    """The callback URLs the service takes, as a regex that the OpenAPI document
    publishes too: http or https, a host of CALLBACK_ALLOWED_HOSTS (one without a port
    takes any port), then nothing or a path of printable characters. None: none."""
    hosts = [entry.replace(".", r"\.") + ("" if ":" in entry else "(?::[0-9]{1,5})?")
             for entry in allowed_hosts if re.fullmatch(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?", entry)]
    if not hosts:
        return None
    return f"^https?://(?:{'|'.join(hosts)})(?:[/?#][!-~]*)?$"


def callback_refusal(url, allowed_hosts, secret):
    """Why the service will not call `url` back, or None."""
    if not secret:
        return "callbacks are off here (no CALLBACK_SECRET)"
    pattern = callback_url_pattern(allowed_hosts)
    if pattern is None or not re.fullmatch(pattern, url):
        return "not an http or https URL on a host of CALLBACK_ALLOWED_HOSTS"
    return None


def named_retired(model, version, alias):
    """A retired version is refused when an input names it (by number or alias); an
    input naming only the model gets another version (find_model)."""
    return bool(model.get("retired")) and (version is not None or alias is not None)


# The rules of the inputs schema (settings.py) that plain_input_accepted checks itself.
PLAIN_INPUT_RULES = {
    "model": {"type": "string", "required": True, "registered_model": True},
    "features": {"type": ["list", "dict"], "required": True, "model_features": True},
    "version": {"type": "integer", "min": 1, "max": 2**31 - 1},
    "ref": {"type": "string", "maxlength": 128},
}


class Validator(MongoValidator):
    schema = cerberus_seams.schema_checked_once(MongoValidator)

    def validate(self, document, schema=None, update=False, normalize=True):
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
    def validates_inputs(self):
        """Whether this validator (one per request) holds the inputs schema with the
        rules plain_input_accepted checks (PLAIN_INPUT_RULES)."""
        return (self.resource == "inputs" and not self.require_all
                and all(self.schema.get(field) == rules
                        for field, rules in PLAIN_INPUT_RULES.items()))

    def plain_input_accepted(self, document):
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

    def document_model(self):
        return model_of(self.document)

    def _validate_registered_model(self, enabled, field, value):
        """{'type': 'boolean'}"""
        if not enabled or not isinstance(value, str):
            return
        version, alias = self.document.get("version"), self.document.get("alias")
        if version is not None and alias is not None:
            self._error("alias", "give a version or an alias, not both")
            return
        model = self.document_model()
        which = f"model {value!r}" + ("" if version is None else f" version {version!r}") + \
            ("" if alias is None else f" alias {alias!r}")
        if model is None:
            self._error(field, f"unknown {which}")
        elif named_retired(model, version, alias):
            self._error(field, f"{which} is retired")

    def _validate_allowed_callback(self, enabled, field, value):
        """{'type': 'boolean'}"""
        if enabled and isinstance(value, str):
            refusal = callback_refusal(value, current_app.config["CALLBACK_ALLOWED_HOSTS"],
                                       current_app.config["CALLBACK_SECRET"])
            if refusal:
                self._error(field, refusal)

    def _validate_feedback_prediction(self, enabled, field, value):
        """{'type': 'boolean'}"""
        if enabled:
            refusal = feedback.prediction_error(value)
            if refusal:
                self._error(field, refusal)

    def _validate_feedback_actual(self, enabled, field, value):
        """{'type': 'boolean'}"""
        found = feedback.target_of(self.document.get("prediction"))
        if enabled and found is not None:  # `prediction` reports an unknown one
            refusal = feedback.actual_error(found[1], value)
            if refusal:
                self._error(field, refusal)

    def _validate_model_features(self, enabled, field, value):
        """{'type': 'boolean'}"""
        if (not enabled or not isinstance(self.document.get("model"), str)
                or not isinstance(value, (list, tuple, dict))):
            return  # `type` reports a value of another type, `null` included
        model = self.document_model()
        if model is None:
            return  # `model` reports it
        for message in feature_errors(model, value):
            self._error(field, message)


def ordered_features(model, features):
    """The feature values in the model's order: numbers as floats, strings and booleans
    as they are."""
    if isinstance(features, dict):
        features = [features[name] for name in model["features"]]
    return [float(v) if kind == "number" else v
            for v, kind in zip(features, feature_types(model))]
