"""Per-token rate limits: RATE_LIMIT_REQUESTS per RATE_LIMIT_WINDOW_SECONDS (a fixed
window counted in Redis, shared by every API process), 429 with Retry-After past it.

Eve's own RATE_LIMIT_* keys its counter on request.authorization.username, which is
None for every Bearer token, so all clients would share one budget: the limit is kept
here instead, per token."""
import time

from flask import abort, current_app, make_response

from . import context
from .errors import error_body


def enforce_rate_limit(token_id: str) -> None:
    limit = current_app.config["RATE_LIMIT_REQUESTS"]
    window = current_app.config["RATE_LIMIT_WINDOW_SECONDS"]
    now = time.time()
    window_start = int(now // window) * window
    key = f"ratelimit:{token_id}:{window_start}"
    with context.redis().pipeline(transaction=False) as pipe:  # one round trip, no MULTI
        pipe.incr(key)
        pipe.expire(key, window + 1)
        count, _ = pipe.execute()
    if count > limit:
        retry_after = max(1, int(window_start + window - now))
        response = make_response(*error_body(
            429, f"rate limit of {limit} requests per {window} s exceeded"))
        response.headers["Retry-After"] = str(retry_after)
        abort(response)
