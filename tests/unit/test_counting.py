"""Each write counted once into its hour bucket (core/counting.py): by its writer, or by
the rerun of its job after the writer died or lost its count; never twice."""
import threading
from datetime import datetime, timedelta, timezone

import mongomock
import pytest

from core import counting

BUCKET, WORKER = "model:2026120702", "host-a:101"
START = datetime(2026, 12, 7, 2, 0, 0, tzinfo=timezone.utc)
ON_INSERT = {"model": "iris", "version": 1}


@pytest.fixture
def db():
    return mongomock.MongoClient()["counting"]


def at(seconds):
    return START + timedelta(seconds=seconds)


def rows_of(db):
    return (db.quality.find_one({"_id": BUCKET}) or {}).get("n", 0)


def no_writes_between(hw, stamp):
    return []


def rows_say(hw, stamp):
    """The worker's writes after hw and before stamp, as its rows show them: at(1)'s."""
    return [s for s in (counting.stamp_of(at(1)),) if (hw or 0) < s < stamp]


def test_a_writer_counts_each_of_its_writes_once(db):
    writer = counting.Writer()
    for second in (1, 2, 3):
        assert writer.count(db, "quality", BUCKET, WORKER, at(second), {"n": 10}, ON_INSERT,
                            no_writes_between)
    assert rows_of(db) == 30
    assert db.quality.find_one({"_id": BUCKET})["model"] == "iris"


def test_a_rerun_after_the_writer_died_before_its_count_counts_it_once(db):
    writer = counting.Writer()
    writer.count(db, "quality", BUCKET, WORKER, at(1), {"n": 10}, ON_INSERT, no_writes_between)
    # the writer wrote a second chunk at(2) and died: its rerun claims that write, twice
    for _ in range(2):
        counting.claim(db, "quality", BUCKET, WORKER, at(2), {"n": 5}, ON_INSERT,
                       no_writes_between)
    assert rows_of(db) == 15
    # the first write is not counted again either
    assert not counting.claim(db, "quality", BUCKET, WORKER, at(1), {"n": 10}, ON_INSERT,
                              no_writes_between)
    assert rows_of(db) == 15


def test_a_writer_that_comes_back_after_a_rerun_counted_its_write_counts_nothing(db):
    writer = counting.Writer()
    assert counting.claim(db, "quality", BUCKET, WORKER, at(4), {"n": 7}, ON_INSERT,
                          no_writes_between)
    assert not writer.count(db, "quality", BUCKET, WORKER, at(4), {"n": 7}, ON_INSERT,
                            no_writes_between)
    assert writer.count(db, "quality", BUCKET, WORKER, at(5), {"n": 1}, ON_INSERT,
                        no_writes_between)
    assert rows_of(db) == 8


def test_writes_left_uncounted_before_a_later_one_are_still_counted_once(db):
    """The writer died with two writes uncounted; the rerun of the later one comes
    first: the earlier one is listed as missed, and its own rerun counts it."""
    def writes_between(hw, stamp):
        assert hw is None and stamp == counting.stamp_of(at(9))
        return [counting.stamp_of(at(8))]
    assert counting.claim(db, "quality", BUCKET, WORKER, at(9), {"n": 3}, ON_INSERT,
                          writes_between)
    assert counting.claim(db, "quality", BUCKET, WORKER, at(8), {"n": 2}, ON_INSERT,
                          no_writes_between)
    assert not counting.claim(db, "quality", BUCKET, WORKER, at(8), {"n": 2}, ON_INSERT,
                              no_writes_between)
    assert rows_of(db) == 5


def second_count_raising(db, monkeypatch, update):
    """A writer whose first count (n 1, at 0) went in and whose second (n 4, at 1) raised
    ConnectionError from `update`, standing for the conditional update; the real one
    back in place."""
    writer = counting.Writer()
    writer.count(db, "quality", BUCKET, WORKER, at(0), {"n": 1}, ON_INSERT, no_writes_between)
    original = counting.conditional_update
    monkeypatch.setattr(counting, "conditional_update", update)
    with pytest.raises(ConnectionError):
        writer.count(db, "quality", BUCKET, WORKER, at(1), {"n": 4}, ON_INSERT,
                     no_writes_between)
    monkeypatch.setattr(counting, "conditional_update", original)
    return writer


def test_a_count_that_failed_is_listed_as_missed_by_the_next_and_its_rerun_counts_it(
        db, monkeypatch):
    """The next count reads the bucket again: the failed write (still among the worker's
    rows) is listed as missed, and the rerun of its job counts it, once."""
    def down(*args, **kwargs):
        raise ConnectionError("database down")
    writer = second_count_raising(db, monkeypatch, down)
    writer.count(db, "quality", BUCKET, WORKER, at(2), {"n": 6}, ON_INSERT, rows_say)
    assert rows_of(db) == 7
    assert counting.claim(db, "quality", BUCKET, WORKER, at(1), {"n": 4}, ON_INSERT,
                          no_writes_between)
    assert not counting.claim(db, "quality", BUCKET, WORKER, at(1), {"n": 4}, ON_INSERT,
                              no_writes_between)
    assert rows_of(db) == 11


def test_a_count_that_landed_though_it_raised_is_not_listed_as_missed(db, monkeypatch):
    """An update the database applied but whose answer was lost: the next count finds
    hw past it, lists nothing, and a rerun of that job counts nothing."""
    original = counting.conditional_update

    def lost_answer(*args, **kwargs):
        original(*args, **kwargs)
        raise ConnectionError("the answer was lost")
    writer = second_count_raising(db, monkeypatch, lost_answer)
    writer.count(db, "quality", BUCKET, WORKER, at(2), {"n": 6}, ON_INSERT, rows_say)
    assert not counting.claim(db, "quality", BUCKET, WORKER, at(1), {"n": 4}, ON_INSERT,
                              no_writes_between)
    assert rows_of(db) == 11


def test_writers_do_not_share_their_state(db):
    one, other = counting.Writer(), counting.Writer()
    one.count(db, "quality", BUCKET, "host-a:1", at(1), {"n": 1}, ON_INSERT, no_writes_between)
    other.count(db, "quality", BUCKET, "host-b:1", at(1), {"n": 1}, ON_INSERT, no_writes_between)
    assert rows_of(db) == 2


def test_reruns_racing_for_one_write_count_it_once(db):
    """mongomock serialises each update, as MongoDB does a single document's."""
    counted = []
    barrier = threading.Barrier(8)

    def rerun():
        barrier.wait()
        counted.append(counting.claim(db, "quality", BUCKET, WORKER, at(3), {"n": 9},
                                      ON_INSERT, no_writes_between))
    threads = [threading.Thread(target=rerun) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counted.count(True) == 1 and rows_of(db) == 9
