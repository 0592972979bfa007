"""The library seams: every use of an RQ, Eve or Cerberus internal is in one adapter module
per library (core/rq_seams.py, service/eve_seams.py, service/cerberus_seams.py), and each
behaviour the service relies on there is pinned by one test here, so that an upgrade of
the library fails a named test."""
import ast
import pathlib
import sys
import zlib

import pytest
from cerberus import Validator as CerberusValidator
from eve.io.mongo import Mongo as EveMongo
from rq import Queue, Retry, SimpleWorker
from rq.job import Job, JobStatus

from core import rq_seams
from core.job import ZLIB_LEVEL, PredictionJob
from service import cerberus_seams

ROOT = pathlib.Path(__file__).resolve().parents[2]
ADAPTERS = {"core/rq_seams.py", "service/eve_seams.py", "service/cerberus_seams.py"}
# Cerberus' documented way to write a rule: `_validate_<rule>` methods calling self._error
CERBERUS_RULE_API = ("_error",)
CERBERUS_RULE_PREFIX = "_validate_"


def underscore_names(tree):
    """(line, name) of every attribute read and method defined with a name of one
    leading underscore (not a dunder)."""
    for node in ast.walk(tree):
        name = node.attr if isinstance(node, ast.Attribute) else \
            node.name if isinstance(node, ast.FunctionDef) else None
        if name and name.startswith("_") and not name.startswith("__") \
                and name not in CERBERUS_RULE_API and not name.startswith(CERBERUS_RULE_PREFIX):
            yield node.lineno, name


def test_no_library_internal_is_used_outside_the_adapters():
    found = []
    for package in ("core", "service", "jobs", "cli"):
        for path in (ROOT / package).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            if relative in ADAPTERS:
                continue
            found += [f"{relative}:{line} {name}"
                      for line, name in underscore_names(ast.parse(path.read_text()))]
    assert found == []


def test_the_ast_walk_finds_an_internal():
    tree = ast.parse("class W(X):\n    def _finalize_failure(self):\n        self._errors = 1\n")
    assert sorted(name for _, name in underscore_names(tree)) == ["_errors", "_finalize_failure"]


# RQ (core/rq_seams.py)

def job_in(queue, rows=3, meta=None, **kwargs):
    return queue.enqueue_call("builtins.len", args=(list(range(rows)),),
                              meta=meta or {"model": "m", "rows": rows}, **kwargs)


def test_rq_metas_of_reads_each_queued_jobs_meta(redis):
    queue = Queue("seams", connection=redis, job_class=PredictionJob)
    jobs = [job_in(queue, meta={"model": "m", "rows": n}) for n in (1, 2)]
    ids = queue.get_job_ids()
    assert [j.id for j in jobs] == ids
    assert rq_seams.metas_of(queue, ids + ["gone"]) == [{"model": "m", "rows": 1},
                                                        {"model": "m", "rows": 2}, {}]


def test_rq_jobs_taken_off_the_queue_once_and_started_as_rq_starts_them(redis):
    queue = Queue("seams", connection=redis, job_class=PredictionJob)
    jobs = [job_in(queue) for _ in range(3)]
    taken = rq_seams.take_off_queue(queue, [jobs[0].id, jobs[2].id])
    assert [j.id for j in taken] == [jobs[0].id, jobs[2].id]
    assert rq_seams.take_off_queue(queue, [jobs[0].id]) == []  # another worker won it
    assert queue.get_job_ids() == [jobs[1].id]
    worker = SimpleWorker([queue], connection=redis)
    started = rq_seams.start_taken(worker, taken)
    for job, execution in started:
        assert job.get_status(refresh=True) == JobStatus.STARTED
        assert job.worker_name == worker.name
        assert execution.id in worker.executions
        assert job.id in queue.started_job_registry.get_job_ids()


def test_rq_a_joined_job_finishes_with_its_result_or_fails_with_retries(redis):
    queue = Queue("seams", connection=redis, job_class=PredictionJob)
    worker = SimpleWorker([queue], connection=redis)
    ok, bad = job_in(queue), job_in(queue, retry=Retry(max=1))
    started = rq_seams.start_taken(worker, rq_seams.take_off_queue(queue, [ok.id, bad.id]))
    (ok, ok_execution), (bad, bad_execution) = started
    rq_seams.finish_joined(worker, queue, ok, ok_execution, result={"done": 3})
    assert ok.get_status(refresh=True) == JobStatus.FINISHED
    assert Job.fetch(ok.id, connection=redis).return_value() == {"done": 3}
    try:
        raise RuntimeError("the batch failed")
    except RuntimeError:
        exc_info = sys.exc_info()
    rq_seams.finish_joined(worker, queue, bad, bad_execution, exc_info=exc_info)
    assert bad.get_status(refresh=True) == JobStatus.QUEUED  # its one retry
    assert queue.get_job_ids() == [bad.id]


def test_rq_records_failure_keeps_the_failure_of_the_job_rq_ran(redis):
    class Worker(rq_seams.RecordsFailure, SimpleWorker):
        pass
    queue = Queue("seams", connection=redis)
    queue.enqueue_call("builtins.int", args=("not a number",))
    worker = Worker([queue], connection=redis)
    worker.work(burst=True)
    assert worker.failure is not None and worker.failure[0] is ValueError


def test_rq_job_data_saved_at_zlibs_fastest_level_and_read_by_rqs_job(redis):
    queue = Queue("seams", connection=redis, job_class=PredictionJob)
    job = job_in(queue, rows=500)
    stored = redis.hget(job.key, "data")
    assert stored[:2] == b"\x78\x01" and ZLIB_LEVEL == 1  # zlib's header of level 1
    assert zlib.decompress(stored) == job.data
    assert Job.fetch(job.id, connection=redis).args == (list(range(500)),)


# Eve (service/eve_seams.py)

def test_eve_sort_conversion_is_the_method_overridden():
    assert callable(getattr(EveMongo, "_convert_sort_request_to_dict", None))


def test_eve_sort_of_python_keywords_is_split_by_the_seam(as_user):
    response = as_user("admin").get("/api/v1/predictions?sort=if,-not")
    assert response.status_code == 200, response.json


def test_eve_count_failure_raises_the_databases_error_not_a_typeerror(as_user, monkeypatch):
    """Eve's fallback to Collection.count() (gone in pymongo 4) would mask it as a 500."""
    import mongomock
    import pymongo.errors

    assert as_user("alice").get("/api/v1/inputs", query_string={
        "where": '{"$gt": 9223372036854775808}'}).status_code == 400

    def unreachable(*args, **kwargs):
        raise pymongo.errors.ServerSelectionTimeoutError("no server")

    monkeypatch.setattr(mongomock.collection.Collection, "count_documents", unreachable)
    response = as_user("alice").get("/api/v1/inputs")
    assert response.status_code == 503 and response.json["_status"] == "ERR"


# Cerberus (service/cerberus_seams.py)

SCHEMA = {"name": {"type": "string"}, "n": {"type": "integer"}}


def test_cerberus_accept_as_is_leaves_what_cerberus_leaves_for_a_valid_document():
    document = {"name": "x", "n": 1}
    by_cerberus = CerberusValidator(SCHEMA)
    assert by_cerberus.validate(document)
    as_is = CerberusValidator(SCHEMA)
    cerberus_seams.accept_as_is(as_is, document)
    assert as_is.errors == by_cerberus.errors == {}
    assert as_is.document == by_cerberus.document == document
    assert as_is.document is not document
    assert list(as_is.document_error_tree) == list(by_cerberus.document_error_tree) == []
    assert not as_is.recent_error and not by_cerberus.recent_error


def test_cerberus_a_schema_of_the_same_rules_is_checked_once(monkeypatch):
    checks = []
    original = cerberus_seams.DefinitionSchema.validate
    monkeypatch.setattr(cerberus_seams.DefinitionSchema, "validate",
                        lambda self, schema=None: (checks.append(1), original(self, schema))[1])

    class Validator(CerberusValidator):
        schema = cerberus_seams.schema_checked_once(CerberusValidator)
    rules = {"name": {"type": "string"}}
    for _ in range(3):
        assert Validator(rules).validate({"name": "x"})
    assert not Validator(rules).validate({"name": 1})
    assert len(checks) == 1


@pytest.mark.parametrize("schema", [{"name": {"type": "nonsense"}}])
def test_cerberus_a_bad_schema_is_still_refused(schema):
    class Validator(CerberusValidator):
        schema = cerberus_seams.schema_checked_once(CerberusValidator)
    with pytest.raises(Exception, match="nonsense"):
        Validator(schema)
