"""Shared fixtures. Unit tests: Eve on mongomock plus a real redis-server started here.
End-to-end tests (tests/e2e): the whole stack as `make run` starts it."""
import tempfile

import mongomock
import mongomock.gridfs
import pytest
from redis import Redis

from devstack import services
from service.app import create_app
from service.data import Mongo
from service.tokens import create_token


def _accept_newer_pymongo_bulk_arguments():
    """mongomock 4.3.0 predates pymongo 4.11's `sort` argument to UpdateOne, which
    pymongo now always passes to the bulk builder; the test double ignores it."""
    from mongomock.collection import BulkOperationBuilder

    add_update = BulkOperationBuilder.add_update

    def add_update_ignoring_sort(self, *args, sort=None, **kwargs):
        assert sort is None, "the service never sorts an UpdateOne"
        return add_update(self, *args, **kwargs)

    BulkOperationBuilder.add_update = add_update_ignoring_sort


_accept_newer_pymongo_bulk_arguments()
mongomock.gridfs.enable_gridfs_integration()  # model artifacts live in GridFS


@pytest.fixture(scope="session")
def redis_url():
    """A real redis-server on a free port for the whole session."""
    with tempfile.TemporaryDirectory() as data_dir:
        port = services.free_port()
        server = services.redis_server(port, data_dir, data_dir).start()
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            server.stop()


class MongomockDriver:
    """What Eve's data layer expects of its driver: `.cx` and `.db`."""

    def __init__(self, client):
        self.cx = client
        self.db = client["test"]


class MongomockData(Mongo):
    """Eve's Mongo data layer whose pymongo() answers from one mongomock client."""

    client = None

    def pymongo(self, resource=None, prefix=None):
        return MongomockDriver(MongomockData.client)


@pytest.fixture
def redis(redis_url):
    connection = Redis.from_url(redis_url)
    connection.flushdb()
    return connection


@pytest.fixture
def app(redis, redis_url):
    MongomockData.client = mongomock.MongoClient()
    application = create_app(
        overrides={"MONGO_URI": "mongodb://127.0.0.1:1/test", "REDIS_URL": redis_url,
                   "TESTING": True},
        data=MongomockData, redis=redis)
    return application


@pytest.fixture
def db(app):
    return MongomockData.client["test"]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def tokens(db):
    return {"alice": create_token(db, "client", "alice"),
            "bob": create_token(db, "client", "bob"),
            "admin": create_token(db, "admin", "admin")}


@pytest.fixture
def as_user(client, tokens):
    """as_user("alice").post(url, json=...) sends alice's bearer token."""

    class Session:
        def __init__(self, token):
            self.headers = {"Authorization": f"Bearer {token}"}

        def __getattr__(self, method):
            def call(url, **kwargs):
                headers = {**self.headers, **kwargs.pop("headers", {})}
                return getattr(client, method)(url, headers=headers, **kwargs)
            return call

    return lambda name: Session(tokens[name])


def pytest_sessionfinish(session):
    """On a pytest-xdist worker: its fuzz counts, for the summary the controller prints."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        from .fuzzing import REQUESTS
        workeroutput["fuzzing"] = dict(REQUESTS)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    from .fuzzing import REQUESTS
    REQUESTS.update(getattr(node, "workeroutput", {}).get("fuzzing", {}))


def pytest_terminal_summary(terminalreporter):
    from .fuzzing import REQUESTS
    if REQUESTS:
        kinds = sorted(k for k in REQUESTS if not k.endswith("xx"))
        lines = [f"{kind}: {REQUESTS[kind]} requests, " + ", ".join(
            f"{k[len(kind) + 1:]}: {v}" for k, v in sorted(REQUESTS.items())
            if k.startswith(kind + " ") and k.endswith("xx")) for kind in kinds]
        terminalreporter.write_sep("-", "fuzzing")
        for line in lines:
            terminalreporter.write_line(line)
