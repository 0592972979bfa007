"""Bearer-token auth on Eve's TokenAuth and per-client isolation; each authenticated
request then passes the token's rate limit (service/ratelimit.py).

A client's token name is written into each document's `owner` (Eve's auth_field), and
Eve adds it to every query of that client, so a client sees only its own documents; an
admin sets no auth value and sees all."""
import json

from eve.auth import TokenAuth
from flask import Flask, Response, abort, current_app, g, make_response, request

from core.types import Account

from . import context
from .errors import error_body
from .ratelimit import enforce_rate_limit
from .recent import Recent
from .tokens import account_key, find_account_by_digest, token_hash

ACCOUNT_SECONDS = 30  # a token deleted behind the API's back works at most this long
# ...and a revoked one, in the other API processes, at most this long (this one forgets
# it at once): each process remembers the accounts it looked up for a second
PROCESS_ACCOUNT_SECONDS = 1.0


def account_for(token: str | None) -> Account | None:
    """find_account, remembered by this process for PROCESS_ACCOUNT_SECONDS, and in
    Redis for ACCOUNT_SECONDS: mostly no lookup at all, else one Redis GET instead of a
    database read. DELETE /tokens/{id} forgets it at once in Redis and in this process."""
    if not token or len(token) > 256:
        return None
    return account_by_digest(token_hash(token))


def account_by_digest(digest: str) -> Account | None:
    """account_for by the token's sha256."""
    recent: Recent[Account] = current_app.extensions["recent_accounts"]
    account = recent.get(digest, PROCESS_ACCOUNT_SECONDS)
    if account is None:
        account = remembered_account(digest)
        if account is not None:
            recent.put(digest, account)
    return account


def remembered_account(digest: str) -> Account | None:
    key = account_key(digest)
    remembered = context.redis().get(key)
    if remembered is not None:
        return json.loads(remembered)
    found = find_account_by_digest(context.db(), digest)
    if found is None:
        return None
    account: Account = {"_id": found["_id"], "name": found["name"], "role": found["role"]}
    context.redis().set(key, json.dumps(account), ex=ACCOUNT_SECONDS)
    return account


class BearerAuth(TokenAuth):
    def check_auth(self, token: str, allowed_roles: list[str], resource: str, method: str) -> bool:
        """Eve's check of a resource's roles (settings.py). A valid token of another role
        gets 403 here, not Eve's 401: the token is known, the operation not allowed."""
        account = account_for(token)
        if account is None:
            return False
        if allowed_roles and account["role"] not in allowed_roles:
            abort(make_response(*error_body(
                403, f"a {account['role']} token may not do this (allowed: "
                     f"{', '.join(allowed_roles)})")))
        g.account = account
        if account["role"] == "client":  # the others read every client's documents
            self.set_request_auth_value(account["name"])
        enforce_rate_limit(account["_id"])
        return True


def attach(app: Flask) -> None:
    app.extensions["recent_accounts"] = Recent()


def token_from_request() -> str | None:
    """The token of a route outside Eve's resources: a Bearer token, or the password of
    HTTP Basic auth (any user name), so that a browser can log in."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    if request.authorization and request.authorization.type == "basic":
        return request.authorization.password
    return None


def refuse_unless_admin(realm: str) -> Response | None:
    """None for an admin token, else a 401 that makes a browser ask for one."""
    account = account_for(token_from_request())
    if account is None or account["role"] != "admin":
        return Response("admin token required\n", 401,
                        {"WWW-Authenticate": f'Basic realm="{realm}"'})
    return None
