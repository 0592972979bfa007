"""`Idempotency-Key` on POST /inputs and POST /batches (IETF draft "The Idempotency-Key
HTTP Header Field", as Stripe keeps them): per token, for 24 h, a repeat with the same
key and the same body answers as the first did (same status, same ids, plus
`Idempotent-Replayed: true`) and stores nothing; the same key with another body: 422;
while the first is still being processed: 409.

The key is claimed in Redis (SET NX) before anything is read or stored, so two API
processes racing the same key cannot both store. The body is hashed as the request
reads it (the WSGI input is wrapped), so a file of rows is read once. A first request
that ends in a 5xx gives its key back: nothing was stored, and the retry may try again."""
import hashlib
import json
from typing import IO, TypedDict

from flask import Flask, Response, current_app, g, request

from core.types import Account

from . import context
from .auth import account_for, token_from_request
from .errors import api_prefix, error_body

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
KEPT_SECONDS = 24 * 3600
PROCESSING_SECONDS = 3600  # a claim whose request died is given back after this
KEYED = ("/inputs", "/batches")


class Kept(TypedDict, total=False):
    """What Redis keeps under a key: `processing` while the first request runs, then
    `done` with its answer."""
    state: str
    digest: str
    status: int
    body: str
    content_type: str | None
    headers: dict[str, str]


class HashingInput:
    """The WSGI input, hashed as it is read."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.digest = hashlib.sha256()

    def read(self, *args: int) -> bytes:
        data = self.stream.read(*args)
        self.digest.update(data)
        return data

    def readline(self, *args: int) -> bytes:
        data = self.stream.readline(*args)
        self.digest.update(data)
        return data

    def drained_digest(self) -> str:
        """The digest of the whole body: what was not read yet is read now."""
        while self.read(1 << 20):
            pass
        return self.digest.hexdigest()


def valid_key(value: str) -> bool:
    return 1 <= len(value) <= 255 and all(" " <= c <= "~" for c in value)


def redis_key(account: Account, value: str) -> str:
    return f"idempotency:{account['_id']}:{hashlib.sha256(value.encode()).hexdigest()}"


def replay(stored: Kept) -> Response:
    response = Response(stored["body"], status=stored["status"],
                        content_type=stored["content_type"])
    for name, header in stored["headers"].items():
        response.headers[name] = header
    response.headers[REPLAYED] = "true"
    return response


def claim() -> Response | tuple[Response, int] | None:
    """before_request: claim the request's key, or answer for it (replay, 409, 422)."""
    value = request.headers.get(HEADER)
    prefix = api_prefix(current_app.config)
    if value is None or request.method != "POST" or \
            request.path not in {prefix + path for path in KEYED}:
        return None
    if not valid_key(value):
        return error_body(400, f"{HEADER} is 1 to 255 printable characters")
    account = account_for(token_from_request())
    if account is None:
        return None  # Eve answers 401
    body = HashingInput(request.environ["wsgi.input"])
    request.environ["wsgi.input"] = body
    key = redis_key(account, value)
    redis = context.redis()
    if redis.set(key, json.dumps({"state": "processing"}), nx=True, ex=PROCESSING_SECONDS):
        g.idempotency = (key, body)
        return None
    stored: Kept = json.loads(redis.get(key) or '{"state": "processing"}')
    if stored["state"] == "processing":
        return error_body(409, f"a request with this {HEADER} is still being processed")
    if stored["digest"] != body.drained_digest():
        return error_body(422, f"this {HEADER} was used with another body")
    return replay(stored)


def keep(response: Response) -> Response:
    """after_request: keep the answer for replays (a 5xx gives the key back)."""
    claimed = g.pop("idempotency", None)
    if claimed is None:
        return response
    key, body = claimed
    if response.status_code >= 500 or response.status_code == 413:
        context.redis().delete(key)  # nothing stored (a body too large is not read)
        return response
    response.direct_passthrough = False
    stored: Kept = {"state": "done", "digest": body.drained_digest(),
              "status": response.status_code, "body": response.get_data(as_text=True),
              "content_type": response.content_type,
              "headers": {name: response.headers[name] for name in ("Location", "ETag")
                          if name in response.headers}}
    context.redis().set(key, json.dumps(stored), ex=KEPT_SECONDS)
    return response


def attach(app: Flask) -> None:
    app.before_request(claim)
    app.after_request(keep)
