"""What a worker does before its first job: each registered version loaded and called
once, so that the first rows it serves wait for neither; beside a new database, it waits
for the API's first registration of the shipped versions; what it loaded is then left
out of later garbage collections (and what an API process built, likewise)."""
import logging
import threading
import time
from pathlib import Path

import pytest

from core import profiles
from jobs import models
from jobs import worker as workers


@pytest.fixture
def starting_worker(db, monkeypatch):
    """The worker's database is the test's; its cache starts empty. Yields the model
    calls made: [(version's name, rows), ...]."""
    monkeypatch.setattr(workers, "mongo_db", lambda: db)
    monkeypatch.setattr(models, "cache", models.ModelCache(32, 2**30))
    calls = []
    compute = models.compute

    def counted(entry, estimator, rows):
        calls.append((entry["name"], rows))
        return compute(entry, estimator, rows)
    monkeypatch.setattr(models, "compute", counted)
    return calls


def registered(db):
    return {(m["name"], m["version"]) for m in db.models.find({"retired": {"$ne": True}})}


def test_each_registered_version_is_loaded_and_called_once_before_the_first_job(
        db, starting_worker, caplog):
    caplog.set_level(logging.INFO, logger=models.__name__)
    workers.preload_models(wait_seconds=0)
    assert len(registered(db)) == 3 and set(models.cache.loaded) == registered(db)
    assert sorted(name for name, _ in starting_worker) == sorted(n for n, _ in registered(db))
    for name, rows in starting_worker:
        entry, _ = models.cache.loaded[name, 1]
        assert len(rows) == 1 and len(rows[0]) == len(entry["features"])
    assert "not warmed up" not in caplog.text  # each call answered


def test_a_worker_started_before_the_first_registration_waits_for_it(db, starting_worker):
    shipped = list(db.models.find())
    db.models.delete_many({})
    threading.Timer(0.5, db.models.insert_many, args=(shipped,)).start()
    workers.preload_models(wait_seconds=10)
    assert set(models.cache.loaded) == {(m["name"], m["version"]) for m in shipped}
    assert len(starting_worker) == len(shipped)


def test_with_nothing_registered_the_worker_starts_after_its_wait(db, starting_worker):
    db.models.delete_many({})
    started = time.monotonic()
    workers.preload_models(wait_seconds=0.5)
    assert 0.5 <= time.monotonic() - started < 5
    assert not models.cache.loaded and not starting_worker


def test_a_version_that_refuses_the_example_row_is_left_to_its_first_job(
        db, starting_worker, monkeypatch, caplog):
    def refuses(entry, estimator, rows):
        raise ValueError("not a row this model takes")
    monkeypatch.setattr(models, "compute", refuses)
    caplog.set_level(logging.INFO, logger=models.__name__)
    workers.preload_models(wait_seconds=0)
    assert set(models.cache.loaded) == registered(db)  # loaded all the same
    assert caplog.text.count("not warmed up") == 3


def test_an_example_row_takes_the_reference_s_median_or_first_category_else_a_placeholder():
    features = {"features": ["rooms", "city", "garden"],
                "feature_types": ["number", "string", "boolean"]}
    reference = {"features": [{"bins": [1, 2, 3, 4, 5, 6, 7, 8, 9]},
                              {"categories": ["b", "a"]}, {"categories": [True, False]}]}
    assert profiles.example_row({**features, "reference": reference}) == [5, "b", True]
    assert profiles.example_row({**features, "reference": None}) == [0.0, "", False]
    assert profiles.example_row({"features": ["x", "y"]}) == [0.0, 0.0]


def test_a_worker_leaves_what_it_loaded_before_its_first_job_out_of_collections(monkeypatch):
    """gc.freeze() once the models are loaded: a full collection walks only what jobs
    made since, not the imports and models (docs/operations.md, "Garbage collection")."""
    import gc
    frozen_at_work = []

    class Started:
        def __init__(self, queues, **options):
            pass

        def work(self, **options):
            frozen_at_work.append(gc.get_freeze_count())
    monkeypatch.setattr(workers.logs, "configure", lambda kind: None)
    monkeypatch.setattr(workers, "preload_models", lambda: None)
    monkeypatch.setattr(workers, "PredictionWorker", Started)
    gc.unfreeze()
    try:
        workers.main(["interactive"])
    finally:
        gc.unfreeze()
    assert frozen_at_work and frozen_at_work[0] > 10_000  # scikit-learn's, at least


def test_an_api_process_leaves_the_app_out_of_collections():
    """gunicorn's post_worker_init, once the app is built, freezes what it holds."""
    import subprocess
    import sys
    frozen = subprocess.run(
        [sys.executable, "-c", "import gc, sklearn\n"
         "from service import gunicorn_conf\n"
         "gunicorn_conf.post_worker_init(None)\n"
         "print(gc.get_freeze_count())"],
        capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2])
    assert int(frozen.stdout.split()[-1]) > 10_000
