"""The RQ dashboard at /rq, admin only: the admin token as a Bearer token, or as the
password of HTTP Basic auth (any user name) so that a browser can log in."""
import rq_dashboard
import rq_dashboard.web
from flask import Flask, Response, request

from .auth import refuse_unless_admin

URL_PREFIX = "/rq"


def require_admin() -> Response | None:
    if request.blueprint != "rq_dashboard":
        return None
    return refuse_unless_admin("rq-dashboard")


def attach(app: Flask, redis_url: str) -> None:
    app.config.from_object(rq_dashboard.default_settings)
    app.config["RQ_DASHBOARD_REDIS_URL"] = redis_url
    rq_dashboard.web.setup_rq_connection(app)
    app.before_request(require_admin)
    app.register_blueprint(rq_dashboard.blueprint, url_prefix=URL_PREFIX)
