"""The RQ dashboard at /rq, admin only: the admin token as a Bearer token, or as the
password of HTTP Basic auth (any user name) so that a browser can log in."""
import rq_dashboard
import rq_dashboard.web
from flask import Response, request

from .auth import account_for_token

URL_PREFIX = "/rq"


def token_from_request():
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    if request.authorization and request.authorization.type == "basic":
        return request.authorization.password
    return None


def require_admin():
    if request.blueprint != "rq_dashboard":
        return None
    account = account_for_token(token_from_request())
    if account is None or account["role"] != "admin":
        return Response("admin token required", 401,
                        {"WWW-Authenticate": 'Basic realm="rq-dashboard"'})
    return None


def attach(app, redis_url):
    app.config.from_object(rq_dashboard.default_settings)
    app.config["RQ_DASHBOARD_REDIS_URL"] = redis_url
    rq_dashboard.web.setup_rq_connection(app)
    app.before_request(require_admin)
    app.register_blueprint(rq_dashboard.blueprint, url_prefix=URL_PREFIX)
