"""Which model version an input (or a file of rows) names, and the API process's memory
of it: one Redis GET per request instead of database reads per item.

Every API process forgets what it remembers when any model changes (models_changed:
registered, aliased, retired, deleted), or after REMEMBER_SECONDS for a change made
behind the API's back (the mongo shell). The messages of a refused naming are here
once, for the inputs' validator and the files' parameters alike."""
import time
from typing import Any

from flask import current_app, g

from core.registry import GENERATION_KEY
from core.types import ModelDocument

from .. import context
from .catalog import find_model

REMEMBER_SECONDS = 60
REMEMBERED_MAX = 1000
BOTH_NAMED = "give a version or an alias, not both"


def lookup_model(name: str, version: int | None = None,
                 alias: str | None = None) -> ModelDocument | None:
    """The version an input resolves to (catalog.find_model), remembered by this process
    until any model changes; an unknown name is not remembered."""
    this_request: dict[tuple[Any, ...], ModelDocument] = g.setdefault("models_by_key", {})
    if (name, version, alias) in this_request:
        return this_request[name, version, alias]
    if "models_generation" not in g:
        generation = context.redis().get(GENERATION_KEY)
        g.models_generation = (generation, int(time.time() // REMEMBER_SECONDS))
    remembered: dict[tuple[Any, ...], ModelDocument] = \
        current_app.extensions.setdefault("models_by_key", {})
    model = remembered.get((g.models_generation, name, version, alias))
    if model is None:
        model = find_model(context.db(), name, version, alias)
        if model is None:
            return None
        if len(remembered) >= REMEMBERED_MAX:
            remembered.clear()  # entries of past generations
        remembered[g.models_generation, name, version, alias] = model
    this_request[name, version, alias] = model
    return model


def model_of(document: dict[str, Any]) -> ModelDocument | None:
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


def named_retired(model: ModelDocument, version: int | None, alias: str | None) -> bool:
    """A retired version is refused when an input names it (by number or alias); an
    input naming only the model gets another version (find_model)."""
    return bool(model.get("retired")) and (version is not None or alias is not None)


def naming(name: str, version: int | None, alias: str | None) -> str:
    """How a refusal names what was asked for: model 'iris' version 3 alias 'canary'."""
    return (f"model {name!r}" + ("" if version is None else f" version {version!r}")
            + ("" if alias is None else f" alias {alias!r}"))


def naming_refusal(name: str, version: int | None, alias: str | None,
                   model: ModelDocument | None) -> str | None:
    """Why an input (or a file) cannot use what it names, or None."""
    if model is None:
        return f"unknown {naming(name, version, alias)}"
    if named_retired(model, version, alias):
        return f"{naming(name, version, alias)} is retired"
    return None
