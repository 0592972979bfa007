"""What one one-row submission costs in commands, counted where they are sent (pymongo's
command monitoring, a counting Redis connection) and not assumed: its POST, its job and
write-back, and the long-poll GET that sees it done. The API and a worker run in this
process against a stack of their own (real FerretDB or mongod, real Redis, no worker
processes); a figure is the difference between a run of 11 submissions and a run of 1,
divided by 10, so that what a worker does once per start is not counted. A change that
adds a round trip to the one-row path fails here."""
import collections
import threading
import time

import pytest
import redis
from pymongo import monitoring

import settings
from core import connections
from jobs import worker as workers
from service import auth
from service.app import create_app
from service.models import lookup

from .conftest import running_stack
from .test_store_queries import Recorder

pytestmark = pytest.mark.alone  # counts the commands a submission sends

IRIS = [5.1, 3.5, 1.4, 0.2]

# Per one-row submission, today (docs/operations.md, "One row per request"). The database commands are
# exact; Redis's are bounds: RQ's own bookkeeping of a job is most of them.
API_DATABASE = {"insert": 2, "find": 2}  # the two documents; the wait's check, Eve's GET
WORKER_DATABASE = {"update": 2}  # the write-back; the live-quality counts
# the rate limit of the POST and of the GET, the models' generation, the enqueue
API_REDIS_ROUND_TRIPS = 4
# One request per row (POST with Prefer: wait=N): the two documents, and nothing read
# again (the worker announces the row's answer); the rate limit, the generation, the enqueue
WAITING_API_DATABASE = {"insert": 2}
WAITING_API_REDIS_ROUND_TRIPS = 3
WORKER_REDIS_ROUND_TRIPS = 23
WORKER_REDIS_COMMANDS = 60
HANDSHAKE = {"HELLO", "CLIENT", "AUTH", "SELECT"}  # a new connection's, not a request's


class CountingConnection(redis.Connection):
    """Counts the commands it sends and the round trips they take (a pipeline is one),
    but for a new connection's handshake."""
    commands = collections.Counter()
    round_trips = collections.Counter()
    side = None  # "api" or "worker"

    def send_command(self, *args, **kwargs):
        name = str(args[0]).upper()
        if name not in HANDSHAKE:
            CountingConnection.commands[self.side, name] += 1
            CountingConnection.round_trips[self.side] += 1
        super().send_command(*args, **kwargs)

    def pack_commands(self, commands):
        for command in commands:
            CountingConnection.commands[self.side, str(command[0]).upper()] += 1
        CountingConnection.round_trips[self.side] += 1
        return super().pack_commands(commands)


def counting_redis(url, side, socket_timeout):
    connection_class = type(f"{side}Connection", (CountingConnection,), {"side": side})
    return redis.Redis.from_url(url, connection_class=connection_class,
                                socket_timeout=socket_timeout)


@pytest.fixture(scope="module")
def quiet_stack(tmp_path_factory):
    with running_stack(tmp_path_factory, workers=0) as stack:
        yield stack


@pytest.fixture
def counted(quiet_stack, monkeypatch):
    """(submit, commands): submit(n) posts n one-row submissions, runs them on an
    in-process worker (one job each: no joining) and long-polls each to done."""
    commands = Recorder()
    monitoring.register(commands)  # for the clients made from now on
    monkeypatch.setattr(settings, "MONGO_URI", quiet_stack.mongo_uri)
    monkeypatch.setattr(settings, "COALESCE_MAX_ROWS", 1)
    # a token's account is looked up once a second, not per row: on a loaded machine a
    # run of 11 takes longer than that, so those lookups are kept out of the count
    monkeypatch.setattr(auth, "PROCESS_ACCOUNT_SECONDS", 600)
    monkeypatch.setattr(auth, "ACCOUNT_SECONDS", 600)
    monkeypatch.setattr(lookup, "REMEMBER_SECONDS", 3600)  # and the models once a minute
    # nor a worker's maintenance (the reconciler, every MAINTENANCE_SECONDS)
    monkeypatch.setattr(workers.PredictionWorker, "run_maintenance_tasks", lambda self: None)
    connections.mongo_db.cache_clear()
    app = create_app(overrides={"MONGO_URI": quiet_stack.mongo_uri,
                                "REDIS_URL": quiet_stack.redis_url,
                                "RATE_LIMIT_REQUESTS": 1_000_000},
                     redis=counting_redis(quiet_stack.redis_url, "api", 5))
    http = app.test_client()
    token = {"Authorization": f"Bearer {quiet_stack.create_token('client', 'counted')}"}
    worker_redis = counting_redis(quiet_stack.redis_url, "worker", None)

    # polled on a connection of its own, not counted
    waiting_queues = workers.queues_of("worker", redis.Redis.from_url(quiet_stack.redis_url))

    def work() -> None:
        workers.PredictionWorker(workers.queues_of("worker", worker_redis),
                                 connection=worker_redis).work(burst=True)

    def submit(n, waiting=False):
        if waiting:  # one request per row: each POST answers with its result
            answered: list = []

            def send() -> None:
                answered.append(http.post("/api/v1/inputs",
                                          headers={**token, "Prefer": "wait=30"},
                                          json={"model": "iris", "features": IRIS}))
            posts = [threading.Thread(target=send) for _ in range(n)]
            for post in posts:
                post.start()
            while sum(queue.count for queue in waiting_queues) < n:
                time.sleep(0.002)  # every job queued: one worker runs them, as above
            work()
            for post in posts:
                post.join(30)
            assert [(r.status_code, r.json["status"]) for r in answered] == [(201, "done")] * n
            return
        predictions = []
        for _ in range(n):
            posted = http.post("/api/v1/inputs", headers=token,
                               json={"model": "iris", "features": IRIS})
            assert posted.status_code == 201, posted.json
            predictions.append(posted.json["prediction"])
        work()
        for prediction in predictions:
            got = http.get(f"/api/v1/predictions/{prediction}",
                           headers={**token, "Prefer": "wait=5"})
            assert got.status_code == 200 and got.json["status"] == "done", got.json
    yield submit, commands
    connections.mongo_db.cache_clear()


def measured(submit, commands, n, waiting=False):
    commands.commands.clear()
    CountingConnection.commands.clear()
    CountingConnection.round_trips.clear()
    submit(n, waiting)
    return (collections.Counter(name for name, _ in commands.commands),
            collections.Counter(CountingConnection.commands),
            collections.Counter(CountingConnection.round_trips))


def per_submission(one, eleven):
    return {key: (eleven[key] - one[key]) / 10 for key in set(one) | set(eleven)
            if eleven[key] != one[key]}


def test_commands_of_one_one_row_submission(counted):
    submit, commands = counted
    submit(1)  # connections made, models loaded, the long-poll listener subscribed
    database_1, redis_1, trips_1 = measured(submit, commands, 1)
    database_11, redis_11, trips_11 = measured(submit, commands, 11)
    database = per_submission(database_1, database_11)
    redis_commands = per_submission(redis_1, redis_11)
    trips = per_submission(trips_1, trips_11)
    print("database", database, "redis", redis_commands, "round trips", trips)
    # the API and the worker share one pymongo listener: the names say whose they are
    assert database == {**API_DATABASE, **WORKER_DATABASE}
    assert trips["api"] == API_REDIS_ROUND_TRIPS
    assert 0 < trips["worker"] <= WORKER_REDIS_ROUND_TRIPS
    worker_commands = sum(n for (side, _), n in redis_commands.items() if side == "worker")
    assert 0 < worker_commands <= WORKER_REDIS_COMMANDS


def test_commands_of_one_row_created_and_waited_for_in_one_request(counted):
    """POST /inputs with Prefer: wait=N: one request, and the API reads nothing back (the
    answer comes with the worker's announcement); the worker's side is as above."""
    submit, commands = counted
    submit(1, waiting=True)
    database_1, redis_1, trips_1 = measured(submit, commands, 1, waiting=True)
    database_11, redis_11, trips_11 = measured(submit, commands, 11, waiting=True)
    database = per_submission(database_1, database_11)
    trips = per_submission(trips_1, trips_11)
    print("database", database, "round trips", trips)
    assert database == {**WAITING_API_DATABASE, **WORKER_DATABASE}
    assert trips["api"] == WAITING_API_REDIS_ROUND_TRIPS
    assert 0 < trips["worker"] <= WORKER_REDIS_ROUND_TRIPS
