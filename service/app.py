"""The application factory: the Eve app with its hooks, auth, validator and extra routes."""
import logging
import warnings
from pathlib import Path
from typing import Any

with warnings.catch_warnings():  # Eve 2.3 imports a Cerberus API that warns on import
    warnings.simplefilter("ignore", DeprecationWarning)
    from eve import Eve


from flask import Flask
from redis import Redis

import settings
from core import quality
from core.connections import redis_from_url
from core.registry import models_changed

from . import (
    answers,
    auth,
    batches,
    cancel,
    dashboard,
    errors,
    feedback,
    hooks,
    idempotency,
    limits,
    logs,
    metrics,
    preconditions,
    query,
    tokens,
    trainings,
    ui,
    waiting,
)
from .auth import BearerAuth
from .data import Mongo
from .health import blueprint as health_blueprint
from .models import compare as model_compare
from .models import quality as model_quality
from .models import uploads
from .models.catalog import sync_manifest
from .openapi import blueprint as openapi_blueprint
from .validation import Validator

SETTINGS_FILE = str(Path(settings.__file__).resolve())
log = logging.getLogger(__name__)


def create_app(overrides: dict[str, Any] | None = None, data: type[Mongo] = Mongo,
               redis: Redis | None = None) -> Eve:
    """Build the API. `overrides` replace settings (tests pass MONGO_URI and the like);
    `data` is Eve's data layer class; `redis` a ready Redis client."""
    config = {key: getattr(settings, key) for key in dir(settings) if key.isupper()}
    config.update(overrides or {})
    redis = redis or redis_from_url(config["REDIS_URL"])
    app = Eve(settings=config, auth=BearerAuth, validator=Validator, data=data, redis=redis)
    logs.attach(app)
    auth.attach(app)
    limits.attach(app)
    idempotency.attach(app)
    hooks.attach(app)
    feedback.attach(app)
    query.attach(app)
    preconditions.attach(app)
    tokens.attach(app)
    uploads.attach(app)
    model_quality.attach(app)
    batches.attach(app)
    cancel.attach(app)
    waiting.attach(app)
    answers.attach(app)
    trainings.attach(app)
    model_compare.attach(app)
    errors.attach(app)
    prefix = errors.api_prefix(config)
    app.register_blueprint(health_blueprint, url_prefix=prefix)
    app.register_blueprint(openapi_blueprint, url_prefix=prefix)
    metrics.attach(app)
    dashboard.attach(app, config["REDIS_URL"])
    ui.attach(app)
    register_models(app)
    drop_method_override_routes(app)
    return app


def drop_method_override_routes(app: Flask) -> None:
    """Eve also routes POST on an item URL, for clients that cannot send PATCH
    (X-HTTP-Method-Override). Every client of this API can, and a POST there would
    otherwise show in Allow headers: the map is rebuilt without those routes."""
    old = app.url_map
    rules = [rule.empty() for rule in old.iter_rules()
             if not rule.endpoint.endswith("|item_post_override")]
    app.url_map = app.url_map_class(rules, converters=old.converters,
                                    strict_slashes=old.strict_slashes,
                                    merge_slashes=old.merge_slashes)


def register_models(app: Eve) -> None:
    """Sync the artifact manifest into `models`; a database that is down now is not
    fatal: the API answers 503 until it is back, and the next start syncs again."""
    try:
        with app.app_context():
            sync_manifest(app.data.driver.db, app.config["ARTIFACTS_DIR"])
            quality.create_index(app.data.driver.db)
        models_changed(app.redis)
    except errors.UNAVAILABLE as exc:
        log.warning("models not synced at start-up, a store is unavailable: %s", exc)

