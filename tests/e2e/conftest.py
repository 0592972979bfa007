"""The real stack, started as `make run` starts it: FerretDB (or a mongod on PATH),
redis-server, gunicorn with the API and RQ worker processes. Nothing here is skipped:
a missing server binary is an error."""
import itertools
import time
from contextlib import contextmanager

import pymongo
import pytest
import requests

from devstack import services
from devstack.stack import Stack
from service.tokens import create_token

_names = itertools.count()


class E2eStack(Stack):
    """The stack as `make run` starts it; its tokens are made in this process, by what
    `python -m service create-token` runs (service.tokens.create_token, against the
    stack's database), without a second or more of that command's own start each time.
    The command itself is tested in test_cli.py, test_make_run.py and test_scale_out.py."""

    def create_token(self, role, name):
        client = pymongo.MongoClient(self.mongo_uri, serverSelectionTimeoutMS=10000)
        try:
            return create_token(client.get_default_database(), role, name)
        finally:
            client.close()


@contextmanager
def running_stack(tmp_path_factory, workers, extra_env=None):
    stack = E2eStack(tmp_path_factory.mktemp("stack"), port=services.free_port(),
                     workers=workers, extra_env=extra_env)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory, workers=2) as stack:
        yield stack


class Api:
    """A requests session for one token against the stack's /api/v1."""

    def __init__(self, base, token=None):
        self.base = f"{base}/api/v1"
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def __getattr__(self, method):
        if method not in ("get", "post", "put", "patch", "delete"):
            raise AttributeError(method)

        def call(path, **kwargs):
            kwargs.setdefault("timeout", 30)
            return self.session.request(method.upper(), self.base + path, **kwargs)
        return call

    def pending(self):
        where = '{"status": {"$in": ["queued", "running"]}}'
        response = self.get("/predictions", params={"where": where, "max_results": 1})
        response.raise_for_status()
        return response.json()["_meta"]["total"]

    def wait_until_settled(self, timeout=180):
        deadline = time.monotonic() + timeout
        while self.pending():
            assert time.monotonic() < deadline, "predictions still pending at the deadline"
            time.sleep(0.2)

    def all_predictions(self):
        documents, page = [], 1
        while True:
            body = self.get("/predictions", params={"max_results": 1000, "page": page}).json()
            documents += body["_items"]
            if len(documents) >= body["_meta"]["total"]:
                return {d["_id"]: d for d in documents}
            page += 1


@pytest.fixture
def new_client(stack):
    """A fresh client (own token, so its own documents only) for each call."""
    return lambda: Api(stack.url, stack.create_token("client", f"client-{next(_names)}"))


@pytest.fixture(scope="session")
def admin(stack):
    return Api(stack.url, stack.create_token("admin", "e2e-admin"))
