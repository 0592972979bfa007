"""Who is looking at the /ui/ pages: an admin, a reviewer or an analyst who typed their
token into the login form; each page says which roles may see it (page_for).

The session is Flask's signed cookie (settings.py: SESSION_COOKIE_*), opened only on
/ui/ (the API's own requests carry no cookie and cost nothing here). It keeps the
token's sha256, never the token, and every page looks the account up again
(service/auth.py: account_by_digest), so a token revoked by DELETE /tokens/{id} ends
its sessions at the next click. The signing key is SECRET_KEY, or else one made once
and kept in Redis, so that every API process (and host) reads the same cookie."""
import secrets
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import Flask, Request, abort, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from redis import Redis
from werkzeug.wrappers import Response

from core.types import Account

from ..auth import account_by_digest, account_for

SECRET_KEY_KEY = "ui:secret-key"
UI_PREFIX = "/ui"
P = ParamSpec("P")
R = TypeVar("R")


def shared_secret(redis: Redis) -> str:
    """The key every API process signs /ui/ sessions with, made by the first to ask."""
    redis.set(SECRET_KEY_KEY, secrets.token_urlsafe(48), nx=True)
    secret = redis.get(SECRET_KEY_KEY)
    assert isinstance(secret, bytes)  # set just above; the connection does not decode
    return secret.decode()


class SessionInterface(SecureCookieSessionInterface):
    """Sessions on /ui/ only; `Secure` when the page was served over HTTPS."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.path.startswith(UI_PREFIX + "/"):
            return None  # Flask's null session: nothing read, nothing written
        if not app.secret_key:
            app.secret_key = shared_secret(app.redis)  # type: ignore[attr-defined]
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure


class Refusal(Exception):
    """Why a token cannot open the pages (said on the login form)."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.reason, self.status = reason, status


PAGE_ROLES = ("admin", "reviewer", "analyst")  # who may log in; each page says who may see it


def log_in(token: str) -> Account:
    """Start a session for an admin, reviewer or analyst token, or raise Refusal."""
    account = account_for(token.strip())
    if account is None:
        raise Refusal("unknown token: it was mistyped or has been revoked", 401)
    if account["role"] not in PAGE_ROLES:
        raise Refusal(f"{account['name']!r} is a {account['role']} token: the pages are for "
                      "admins, reviewers and analysts", 403)
    session.clear()
    session.permanent = True
    session["token"] = account["_id"]
    return account


def log_out() -> None:
    session.clear()


def signed_in() -> Account | None:
    """The signed-in account, or None (no session, or its token revoked, or no longer of
    a role the pages are for)."""
    digest = session.get("token")
    account = account_by_digest(digest) if digest else None
    return account if account and account["role"] in PAGE_ROLES else None


def home_of(account: Account) -> str:
    """The page a role starts on: a reviewer's is the review queue."""
    return url_for("ui.review_queue") if account["role"] == "reviewer" else url_for("ui.models")


def page_for(*roles: str) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
    """A page for these roles: no session is sent to the login form (and back after
    it); a signed-in account of another role gets 403."""
    def decorate(view: Callable[P, R]) -> Callable[P, R | Response]:
        @wraps(view)
        def page(*args: P.args, **kwargs: P.kwargs) -> R | Response:
            account = signed_in()
            if account is None:
                return redirect(url_for("ui.login", next=request.full_path.rstrip("?")))
            g.account = account
            if account["role"] not in roles:
                abort(403, description=f"this page is for: {', '.join(roles)}; signed in "
                                       f"as {account['name']} ({account['role']})")
            return view(*args, **kwargs)
        return page
    return decorate


def may(*roles: str) -> bool:
    """Whether the signed-in account (g.account) is of one of these roles: what a page
    shows of the forms that write."""
    account = g.get("account")
    return bool(account) and account["role"] in roles


def safe_next(target: str | None) -> str:
    """Where to go after the login: a page of /ui/, never another site."""
    if target and target.startswith(UI_PREFIX + "/") and not target.startswith("//"):
        return target
    account = signed_in()
    return home_of(account) if account else url_for("ui.models")


def attach(app: Flask) -> None:
    app.session_interface = SessionInterface()
