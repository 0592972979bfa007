"""Who may do what. A token's role is admin, client, reviewer or analyst (settings.ROLES).

Eve's own `allowed_*_roles` (settings.py) govern its resources, and the custom routes
that live under a resource (a file's results, cancel and labels) use Eve's
`requires_auth` with that resource's roles. Every other custom route declares its roles
beside it with `required(...)`. Either way a request without a valid token gets 401, a
token of another role 403, and the OpenAPI document states each operation's roles as
`x-roles` from the same declarations (service/openapi.py: roles_of)."""
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g
from werkzeug.wrappers import Response

from .auth import account_for, token_from_request
from .errors import error_body
from .ratelimit import enforce_rate_limit

ADMIN, CLIENT, REVIEWER, ANALYST = "admin", "client", "reviewer", "analyst"
View = TypeVar("View", bound=Callable[..., Any])
Answer = Response | tuple[Any, ...]


def refusal(role: str | None, allowed: list[str]) -> tuple[Any, int] | None:
    """The 401 or 403 for a token of `role` (None: no valid token), or None."""
    if role is None:
        return error_body(401, "a valid bearer token is required")
    if role not in allowed:
        return error_body(403, f"a {role} token may not do this (allowed: "
                               f"{', '.join(allowed)})")
    return None


def required(*roles: str) -> Callable[[View], View]:
    """A custom route for these roles only; the account is then g.account."""
    def decorate(view: View) -> View:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            account = account_for(token_from_request())
            refused = refusal(account["role"] if account else None, list(roles))
            if refused is not None:
                return refused
            assert account is not None
            g.account = account
            enforce_rate_limit(account["_id"])
            return view(*args, **kwargs)
        guarded.allowed_roles = list(roles)  # type: ignore[attr-defined]
        return cast(View, guarded)
    return decorate


def declared(view: Callable[..., Any]) -> list[str] | None:
    """The roles a custom route declared with `required`, if it did."""
    roles: list[str] | None = getattr(view, "allowed_roles", None)
    return roles


READS = ("GET", "HEAD", "OPTIONS")


def eve_roles(resource: dict[str, Any], item: bool, method: str) -> list[str]:
    """The roles Eve's requires_auth lets call `method` on a resource (settings.py, as Eve
    completed it) or on one of its items: the resource's own roles, or all of them."""
    prefix = "allowed_item_" if item else "allowed_"
    kind = "read" if method in READS else "write"
    roles = [*resource.get(f"{prefix}roles", []), *resource.get(f"{prefix}{kind}_roles", [])]
    return sorted(set(roles)) if roles else sorted(EVERY_ROLE)


EVERY_ROLE = (ADMIN, CLIENT, REVIEWER, ANALYST)
