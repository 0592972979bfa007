"""API tokens: random secrets shown once, stored only as their sha256 (which is also the
document's _id, so a lookup is one primary-key read).

Made by the CLI (`create_token`) or by an admin's POST /api/v1/tokens (Eve's resource
`tokens` in settings.py, with the two hooks below); revoked by deleting the document."""
import hashlib
import hmac
import json
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Request, Response, current_app, g
from pymongo.database import Database

from . import context

ROLES = ("admin", "client", "reviewer", "analyst")  # settings.ROLES, what each may do
LAST_USED_RESOLUTION = timedelta(minutes=1)  # at most one write per token per minute


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_secret() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def create_token(db: Database[Any], role: str, name: str) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    token, digest = new_secret()
    now = datetime.now(timezone.utc)
    db.tokens.insert_one({"_id": digest, "role": role, "name": name,
                          "_created": now, "_updated": now})
    return token


def find_account(db: Database[Any], token: str | None) -> dict[str, Any] | None:
    """The token's account document, or None; notes when the token was last used."""
    if not token or len(token) > 256:
        return None
    return find_account_by_digest(db, token_hash(token))


def find_account_by_digest(db: Database[Any], digest: str) -> dict[str, Any] | None:
    """find_account by the token's sha256 (what a /ui/ session keeps, not the token)."""
    account = db.tokens.find_one({"_id": digest})
    if account is None or not hmac.compare_digest(account["_id"], digest):
        return None
    now = datetime.now(timezone.utc)
    last_used = account.get("last_used")
    if last_used is None or now - last_used.replace(tzinfo=timezone.utc) > LAST_USED_RESOLUTION:
        db.tokens.update_one({"_id": digest}, {"$set": {"last_used": now}})
    return account


def on_insert_tokens(items: list[dict[str, Any]]) -> None:
    """POST /tokens: each new document gets a secret; only its hash is stored."""
    g.new_tokens = []
    for item in items:
        token, item["_id"] = new_secret()
        g.new_tokens.append(token)


def on_post_post_tokens(request: Request, payload: Response) -> None:
    """Add each secret to the 201's body: the one time it is shown."""
    if payload.status_code != 201 or not g.get("new_tokens"):
        return
    body = json.loads(payload.get_data())
    items = body.get("_items", [body])
    for item, token in zip(items, g.new_tokens):
        item["token"] = token
    payload.set_data(json.dumps(body))


def account_key(digest: str) -> str:
    """Where the API remembers a token's account (service/auth.py: account_for)."""
    return f"account:{digest}"


def on_deleted_item_tokens(item: dict[str, Any]) -> None:
    """A revoked token stops working: the API forgets its account, at once in Redis and
    in this process, within PROCESS_ACCOUNT_SECONDS in the others (service/auth.py)."""
    context.redis().delete(account_key(item["_id"]))
    current_app.extensions["recent_accounts"].forget(item["_id"])


def attach(app: Any) -> None:
    app.on_insert_tokens += on_insert_tokens
    app.on_deleted_item_tokens += on_deleted_item_tokens
    app.on_post_POST_tokens += on_post_post_tokens
