"""API tokens: random secrets shown once, stored only as their sha256 (which is also the
document's _id, so a lookup is one primary-key read)."""
import hashlib
import hmac
import secrets
from datetime import datetime, timezone

ROLES = ("client", "admin")


def token_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(db, role, name):
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    token = secrets.token_urlsafe(32)
    db.tokens.insert_one({"_id": token_hash(token), "role": role, "name": name,
                          "created_at": datetime.now(timezone.utc)})
    return token


def find_account(db, token):
    """The token's account document, or None."""
    if not token or len(token) > 256:
        return None
    digest = token_hash(token)
    account = db.tokens.find_one({"_id": digest})
    if account is None or not hmac.compare_digest(account["_id"], digest):
        return None
    return account
