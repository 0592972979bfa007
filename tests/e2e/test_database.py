"""The development database with tools/ferretdb/patches/ applied: the commands the
write-back and Eve's item GET send give MongoDB's answers, and a long update command
completes (unpatched, a command of 100+ statements hangs); every filter shape the patch
narrows in SQL answers as mongomock does for the same documents, arrays and escaped
strings included, and is served by an index; sorts and counts done in SQL (a field held
to dates or ObjectIDs by a range, no arrays in it) give mongomock's order and number,
with the values that look alike in SQL (numbers beside dates, regexes and strings,
string _ids beside ObjectIDs, dates of other lengths) among the documents."""
import json
import re
import signal
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from datetime import datetime, timedelta

import mongomock
import pymongo
import pytest
from bson import ObjectId
from pymongo import ReturnDocument, UpdateOne


@pytest.fixture
def scratch(stack):
    client = pymongo.MongoClient(stack.mongo_uri, socketTimeoutMS=30000)
    collection = client.get_default_database()["scratch_patch"]
    collection.drop()
    ids = [ObjectId() for _ in range(300)]
    collection.insert_many([{"_id": i, "owner": "a" if n % 2 else "b", "n": n}
                            for n, i in enumerate(ids)])
    yield collection, ids
    collection.drop()
    client.close()


# Patch 0001 (tools/ferretdb/patches/0001-updates-atomic-per-document.patch): a write to one
# document is atomic, as in MongoDB. Each test runs the writers at once on the server, and
# one after the other on mongomock (MongoDB's answer: no write lost), and compares.


def _race(threads, work):
    """Runs work(n) in `threads` threads at once; returns their results in order."""
    start = threading.Barrier(threads)

    def run(n):
        start.wait()
        return work(n)
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(run, range(threads)))


def _in_turn(threads, work):
    return [work(n) for n in range(threads)]


def _on_server_and_mongomock(collection, test):
    """test(target, run) on the server's collection with the writers at once, and on a
    mongomock collection with them in turn."""
    return [test(collection, _race), test(mongomock.MongoClient().db.scratch, _in_turn)]


def test_patch_0001_concurrent_incs_of_one_document_all_count(scratch):
    """Upstream v1.24.2 ends at ~650 of 2,000: each $inc read the document and wrote it
    back, and a write made meanwhile was lost."""
    collection, _ = scratch

    def test(target, run):
        target.insert_one({"_id": "counter", "n": 0})
        run(4, lambda _: [target.update_one({"_id": "counter"}, {"$inc": {"n": 1}})
                            for _ in range(500)])
        return target.find_one({"_id": "counter"})["n"]
    assert _on_server_and_mongomock(collection, test) == [2000, 2000]


def test_patch_0001_find_one_and_update_hands_out_each_value_once(scratch):
    collection, _ = scratch

    def test(target, run):
        target.insert_one({"_id": "ticket", "n": 0})
        taken = run(4, lambda _: [target.find_one_and_update(
            {"_id": "ticket"}, {"$inc": {"n": 1}}, return_document=ReturnDocument.AFTER)["n"]
            for _ in range(200)])
        return sorted(n for values in taken for n in values)
    assert _on_server_and_mongomock(collection, test) == [list(range(1, 801))] * 2


def test_patch_0001_conditional_writes_racing_a_cancel_leave_each_row_in_one_state(scratch):
    """The workers' write-back ({_id, status: {$ne: "cancelled"}}, as a bulk_write) against
    a cancel (update_many of the `queued` rows): each row is written by one of them only,
    so the two counts of modified rows add up to the number of rows."""
    collection, _ = scratch

    def test(target, run):
        ids = [ObjectId() for _ in range(400)]
        target.insert_many([{"_id": i, "status": "queued", "writes": 0} for i in ids])

        def writer(n):
            if n == 0:
                return target.update_many({"_id": {"$in": ids}, "status": "queued"},
                                          {"$set": {"status": "cancelled"},
                                           "$inc": {"writes": 1}}).modified_count
            return sum(target.bulk_write([UpdateOne({"_id": i, "status": {"$ne": "cancelled"}},
                                                    {"$set": {"status": "done"},
                                                     "$inc": {"writes": 1}})
                                          for i in ids[start:start + 20]],
                                         ordered=False).modified_count
                       for start in range(0, len(ids), 20))
        cancelled, done = run(2, writer)
        documents = list(target.find({"_id": {"$in": ids}}))
        return (cancelled + done, {d["writes"] for d in documents},
                sum(d["status"] == "cancelled" for d in documents) == cancelled)
    assert _on_server_and_mongomock(collection, test) == [(400, {1}, True)] * 2


def test_patch_0013_many_iterators_answer_as_mongodb_does(scratch):
    """Patch 0013 profiles query iterators in debug builds only: 300 lookups and an
    update command of 300 statements (an iterator each) answer as mongomock does."""
    collection, ids = scratch
    reference = mongomock.MongoClient().db.scratch
    reference.insert_many(list(collection.find()))
    for target in (collection, reference):
        target.bulk_write([UpdateOne({"_id": i}, {"$inc": {"n": 1000}}) for i in ids])
    assert [collection.find_one({"_id": i}) for i in ids] == \
        [reference.find_one({"_id": i}) for i in ids]


STORED_TYPES = [
    {"s": "plain", "u": "ünïcødé \u2028 \"quoted\" \\ back", "e": ""},
    {"i32": 7, "i64": 2**40, "neg": -2**31, "d": 0.1, "z": -0.0, "big": 1.7e308,
     "tiny": 5e-324, "whole": 3.0},
    {"t": True, "f": False, "none": None},
    {"when": datetime(2026, 12, 3, 10, 0, 0, 123000), "old": datetime(1970, 1, 1)},
    {"oid": ObjectId("6b113f792533fc8a2c9cb3a8")},
    {"doc": {"a": {"b": [1, "two", {"c": None}]}, "empty": {}}, "arr": [], "mixed": [1, 2.5, "x"]},
]


def test_patch_0014_every_stored_type_reads_back_as_mongodb_does(scratch):
    """Patch 0014 decodes stored documents without copying their bytes (and keeps the
    decoded schemas of the last 1,024 shapes): every type, read back, and read again
    after an update, as mongomock gives them."""
    collection, _ = scratch
    reference = mongomock.MongoClient().db.scratch
    documents = [{"_id": f"type-{n}", **fields} for n, fields in enumerate(STORED_TYPES)]
    for target in (collection, reference):
        target.insert_many([dict(d) for d in documents])
    ids = [d["_id"] for d in documents]

    def read(target):
        return [target.find_one({"_id": i}) for i in ids]
    assert read(collection) == read(reference)
    for target in (collection, reference):
        target.update_many({"_id": {"$in": ids}}, {"$set": {"seen": 1}})
    assert read(collection) == read(reference)
    assert sorted(collection.find({"_id": {"$in": ids}}), key=lambda d: d["_id"]) == \
        sorted(reference.find({"_id": {"$in": ids}}), key=lambda d: d["_id"])


def _workload(target, generation):
    """The same commands, in the same order, many times over: each repeat of a SQL text
    on the server's connection reuses the statement kept from the last one."""
    answers = []
    for n in range(40):
        answers.append(target.find_one({"owner": "a", "n": {"$gte": n}}, {"_id": 0},
                                       sort=[("n", 1)]))
        answers.append(target.count_documents({"owner": "b", "n": {"$lt": n * 5}}))
        target.update_one({"n": n}, {"$inc": {"seen": 1}, "$set": {"g": generation}})
        answers.append(sorted(d["n"] for d in target.find({"seen": {"$gte": 1}}, {"n": 1})))
        try:  # a command that fails, then the same texts again
            target.insert_one({"_id": "fixed", "n": -1})
        except pymongo.errors.DuplicateKeyError:
            answers.append("duplicate")
    return answers


def test_sqlite_driver_patch_kept_statements_answer_as_mongodb_does(stack):
    """modernc-sqlite-v1.32.0.patch keeps prepared statements per connection, by their SQL
    text: the same commands repeated on one connection, then around a drop and a
    recreation of the collection (new documents, another index, its tables anew), answer
    as mongomock does."""
    client = pymongo.MongoClient(stack.mongo_uri, maxPoolSize=1, socketTimeoutMS=30000)
    collection = client.get_default_database()["scratch_kept"]
    collection.drop()
    reference = mongomock.MongoClient().db.scratch_kept
    try:
        for generation, shape in enumerate([("owner", "n"), ("n", "owner")]):
            documents = [{"_id": n, "owner": "a" if n % 2 else "b", "n": n}
                         for n in range(generation, 300, 1 + generation)]
            for target in (collection, reference):
                target.drop()
                target.create_index([(field, 1) for field in shape])
                target.insert_many([dict(d) for d in documents] + [{"_id": "fixed", "n": -1}])
            assert _workload(collection, generation) == _workload(reference, generation)
            assert sorted(collection.find(), key=str) == sorted(reference.find(), key=str)
    finally:
        collection.drop()
        client.close()


@contextmanager
def _collections_on_server_and_mongomock(stack, names):
    """Yields the server's database (those collections dropped before and after) and a
    mongomock database, for writes made on both; on leaving, each collection holds the
    same documents on both."""
    client = pymongo.MongoClient(stack.mongo_uri, socketTimeoutMS=60000, maxPoolSize=20)
    database = client.get_default_database()
    try:
        for name in names:
            database[name].drop()
        reference = mongomock.MongoClient().db
        yield database, reference
        for name in names:
            assert sorted(database[name].find(), key=lambda d: d["_id"]) == \
                sorted(reference[name].find(), key=lambda d: d["_id"])
    finally:
        for name in names:
            database[name].drop()
        client.close()


def test_patch_0015_concurrent_writers_of_one_database_answer_as_mongodb_does(stack):
    """Patch 0015 makes the write transactions of one database wait their turn in Go
    instead of SQLite's polling: bulk inserts, updates by _id and deletes into
    three collections of one database, from 12 threads at once, leave what mongomock
    leaves with the same writes one after the other, and every writer finishes."""
    names = ["scratch_turns_a", "scratch_turns_b", "scratch_turns_c"]

    def writes(target, n):
        collection = target[names[n % 3]]
        collection.insert_many([{"_id": f"{n}-{i}", "n": n, "i": i} for i in range(150)])
        collection.bulk_write([UpdateOne({"_id": f"{n}-{i}"}, {"$inc": {"i": 1000}})
                               for i in range(0, 150, 3)], ordered=False)
        collection.delete_many({"n": n, "i": {"$lt": 50}})
        collection.insert_one({"_id": f"{n}-last", "n": n})
        return n
    with _collections_on_server_and_mongomock(stack, names) as (database, reference):
        assert _race(12, lambda n: writes(database, n)) == list(range(12))
        _in_turn(12, lambda n: writes(reference, n))


def test_patch_0001_updates_by_id_beside_updates_by_filter_answer_as_mongodb_does(scratch):
    """Patch 0001 locks the documents an update or findAndModify names by _id, and the
    whole collection for any other: 8 writers at once (bulk writes by _id over the same
    documents in different orders, update_many by a filter, find_one_and_update by _id,
    upserts by _id of documents not there yet) leave what the same
    writes leave on mongomock one after the other: no write lost, no two commands
    waiting for each other (each ends)."""
    collection, ids = scratch

    def test(target, run):
        target.delete_many({})
        target.insert_many([{"_id": i, "owner": "a" if n % 2 else "b"} for n, i in enumerate(ids)])

        def writer(n):
            if n < 4:  # the same 300 documents, each writer in another order
                order = ids[n * 75:] + ids[:n * 75]
                return [target.bulk_write([UpdateOne({"_id": i}, {"$inc": {"by_id": 1}})
                                           for i in order], ordered=False).modified_count
                        for _ in range(3)]
            if n < 6:
                return [target.update_many({"owner": "a"}, {"$inc": {"by_filter": 1}})
                        .modified_count for _ in range(5)]
            if n == 6:
                return [target.find_one_and_update({"_id": ids[k % 10]}, {"$inc": {"taken": 1}},
                                                   return_document=ReturnDocument.AFTER)["_id"]
                        == ids[k % 10] for k in range(50)]
            return [target.update_one({"_id": f"new-{k}"}, {"$inc": {"upserted": 1}},
                                      upsert=True).matched_count for k in range(20)]
        answers = run(8, writer)
        return answers, sorted(target.find(), key=lambda d: str(d["_id"]))
    server, reference = _on_server_and_mongomock(collection, test)
    assert server == reference
    answers, documents = server
    assert answers[0] == [300] * 3 and answers[4] == [150] * 5 and answers[7] == [0] * 20
    assert {d["by_id"] for d in documents if isinstance(d["_id"], ObjectId)} == {12}


def test_patch_0001_upserts_of_one_new_id_at_once_make_one_document(scratch):
    """Two writers upserting the same new _ids at once: one document each, both counts."""
    collection, _ = scratch

    def test(target, run):
        run(2, lambda n: [target.update_one({"_id": f"new-{k}"}, {"$inc": {"n": 1}},
                                            upsert=True) for k in range(30)])
        return sorted(target.find({"_id": {"$regex": "^new-"}}), key=lambda d: d["_id"])
    server, reference = _on_server_and_mongomock(collection, test)
    assert server == reference
    assert [d["n"] for d in server] == [2] * 30


def test_patch_0001_updates_by_id_in_beside_updates_by_id_answer_as_mongodb_does(scratch):
    """An update_many by _id $in (the workers mark a chunk's rows running so) locks the
    documents it names, as updates by one _id do: 6 writers at once, $in updates over
    overlapping slices of the same documents (string and ObjectID _ids mixed in one $in
    too), one-document updates and find_one_and_update of those documents, and an upsert
    by _id $in, leave what the same writes leave on mongomock one after the other."""
    collection, ids = scratch
    mixed = ids[:20] + [f"s-{k}" for k in range(20)]

    def test(target, run):
        target.delete_many({})
        target.insert_many([{"_id": i, "owner": "a" if n % 2 else "b"} for n, i in enumerate(ids)]
                           + [{"_id": f"s-{k}"} for k in range(20)])

        def writer(n):
            if n < 3:  # slices of 200 that overlap each other by 100
                named = {"_id": {"$in": ids[n * 50:n * 50 + 200]}}
                return [target.update_many(named, {"$inc": {"by_in": 1}}).modified_count
                        for _ in range(5)]
            if n == 3:
                return [target.update_one({"_id": ids[k % 150]}, {"$inc": {"by_id": 1}})
                        .modified_count for k in range(150)]
            if n == 4:
                return [target.find_one_and_update(
                    {"_id": mixed[k % 40]}, {"$inc": {"taken": 1}},
                    return_document=ReturnDocument.AFTER)["taken"] > 0 for k in range(40)] + [
                    target.update_many({"_id": {"$in": mixed}}, {"$inc": {"mixed": 1}})
                    .modified_count for _ in range(5)]
            return [target.update_many({"_id": {"$in": [f"new-{k}", f"new-{k}"]}},
                                       {"$inc": {"upserted": 1}}, upsert=True).matched_count
                    for k in range(10)]
        answers = run(6, writer)  # the fields in any order: writers at once add them so
        return answers, sorted(sorted(d.items()) for d in target.find({}, {"_id": 0}))
    server, reference = _on_server_and_mongomock(collection, test)
    assert server == reference
    answers, documents = server
    assert answers[0] == [200] * 5 and answers[3] == [1] * 150 and answers[5] == [0] * 10
    assert sum(dict(d).get("by_in", 0) for d in documents) == 3 * 5 * 200


def test_patch_0015_small_writes_beside_bulk_writes_answer_as_mongodb_does(stack):
    """Patch 0015 hands one-document writes the database before larger writes waiting:
    6 writers of one document at a time and 2 of 1,000-document inserts, updates and
    deletes at once in one database leave what mongomock leaves with the same writes in
    turn, and the bulk writers end while the one-document writers are still writing
    (never more than 8 small writes go ahead of a waiting larger one)."""
    bulk_done = []

    def bulk(target, n):
        for round_ in range(3):
            target.scratch_bulk.insert_many([{"_id": f"{n}-{round_}-{i}", "n": n, "i": i}
                                             for i in range(1000)])
            target.scratch_bulk.update_many({"n": n}, {"$inc": {"i": 1}})
            target.scratch_bulk.delete_many({"n": n, "i": {"$lt": 100}})

    def small(target, n, k):
        target.scratch_small.insert_one({"_id": f"{n}-{k}", "n": n})
        target.scratch_small.update_one({"_id": f"{n}-{k}"}, {"$set": {"seen": True}})

    def racer(n):
        if n < 2:
            bulk(database, n)
            bulk_done.append(n)
            return 0
        written = 0
        while len(bulk_done) < 2 and written < 3000:  # until both bulk writers end
            small(database, n, written)
            written += 1
        return written
    with _collections_on_server_and_mongomock(stack, ["scratch_small", "scratch_bulk"]) as (
            database, reference):
        written = _race(8, racer)
        assert sorted(bulk_done) == [0, 1] and all(0 < w < 3000 for w in written[2:])
        for n in range(8):  # the same writes, in turn
            if n < 2:
                bulk(reference, n)
            for k in range(written[n]):
                small(reference, n, k)


def test_patch_0016_updates_of_many_documents_in_batches_answer_as_mongodb_does(scratch):
    """Patch 0016 writes an update of many documents 100 at a time, each batch its own
    transaction: an update_many of 1,050 documents (11 batches) and a bulk write of 450
    statements by distinct _ids (5 batches) give mongomock's counts and documents."""
    collection, ids = scratch
    more = [ObjectId() for _ in range(750)]
    collection.insert_many([{"_id": i, "owner": "c", "n": n} for n, i in enumerate(more)])
    everything = ids + more
    reference = mongomock.MongoClient().db.scratch
    reference.insert_many(list(collection.find()))
    answers = []
    for target in (collection, reference):
        many = target.update_many({}, {"$inc": {"n": 1}, "$set": {"batch": True}})
        bulk = target.bulk_write([UpdateOne({"_id": i}, {"$push": {"tags": n}})
                                  for n, i in enumerate(everything[::-1][:450])],
                                 ordered=True)
        answers.append((many.matched_count, many.modified_count,
                        bulk.matched_count, bulk.modified_count,
                        sorted(target.find(), key=lambda d: everything.index(d["_id"]))))
    assert answers[0][:4] == answers[1][:4] == (1050, 1050, 450, 450)
    assert answers[0][4] == answers[1][4]


def _sjson(value):
    """(schema, JSON text) of a value as FerretDB v1 stores it (internal/handler/sjson)
    for the types used below: strings, 32-bit ints, doubles, booleans, objects, arrays."""
    if isinstance(value, dict):
        schema = {"p": {k: _sjson(v)[0] for k, v in sorted(value.items())},
                  "$k": list(value)}
        text = ",".join(f'"{k}":{_sjson(v)[1]}' for k, v in value.items())
        return {"t": "object", "$s": schema}, "{" + text + "}"
    if isinstance(value, list):
        return ({"t": "array", "i": [_sjson(v)[0] for v in value]},
                "[" + ",".join(_sjson(v)[1] for v in value) + "]")
    kind = {bool: "bool", int: "int", float: "double", str: "string"}[type(value)]
    return {"t": kind}, json.dumps(value, ensure_ascii=False)


def _stored_as_text_by_an_earlier_build(database_file, collection, documents):
    """Makes a collection's table what builds before patch 0017 made (documents as JSON
    text in a STRICT TEXT column), holding `documents`, its indexes as they were."""
    with closing(sqlite3.connect(database_file)) as sql, sql:
        (table,) = sql.execute("SELECT table_name FROM _ferretdb_collections WHERE name = ?",
                               (collection,)).fetchone()
        indexes = [row[0] for row in sql.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (table,))]
        sql.execute(f'DROP TABLE "{table}"')
        sql.execute(f'CREATE TABLE "{table}" (_ferretdb_sjson TEXT NOT NULL '
                    f"CHECK(_ferretdb_sjson != '')) STRICT")
        for index in indexes:
            sql.execute(index)
        for document in documents:
            schema, text = _sjson(document)
            stored = json.dumps(schema["$s"], separators=(",", ":")) + "," + text[1:]
            sql.execute(f'INSERT INTO "{table}" VALUES (?)', ('{"$s":' + stored,))
    return table


def test_patch_0017_tables_of_json_text_made_by_earlier_builds_answer_as_mongodb_does(
        tmp_path):
    """Patch 0017 stores documents as SQLite's binary JSON (JSONB) in the tables it
    creates; the tables of a database made by an earlier build (JSON text) are read and
    written as they are. A collection whose table is made the earlier way, then served:
    reads through its index, sorts, inserts, updates and deletes answer as mongomock's,
    and a new collection beside it is stored as JSONB."""
    from devstack import services
    port = services.free_port()
    server = services.mongo_server(port, tmp_path, tmp_path / "logs")
    documents = [{"_id": f"r{n:03}", "owner": "a" if n % 3 else "b", "n": n,
                  "score": n / 4, "ok": n % 2 == 0, "tags": ["x", str(n)],
                  "nested": {"k": n, "name": "ünï \"q\""}} for n in range(60)]
    server.start()
    try:
        database = pymongo.MongoClient(f"mongodb://127.0.0.1:{port}/old",
                                       socketTimeoutMS=30000).old
        database.rows.insert_one({"_id": "made"})
        database.rows.create_index([("owner", 1), ("n", 1)], name="owner_n")
    finally:
        server.stop()
    table = _stored_as_text_by_an_earlier_build(tmp_path / "mongo" / "old.sqlite", "rows",
                                                documents)
    reference = mongomock.MongoClient().old
    reference.rows.insert_many([dict(d) for d in documents])
    server.start()
    try:
        database = pymongo.MongoClient(f"mongodb://127.0.0.1:{port}/old",
                                       socketTimeoutMS=30000).old
        assert "USING INDEX" in plan(database.rows, {"owner": "a"})
        for target in (database, reference):
            target.rows.insert_many([dict(d, _id=f"new{d['n']}") for d in documents[:5]])
            target.rows.update_many({"owner": "b"}, {"$set": {"seen": True}, "$inc": {"n": 100}})
            target.rows.update_one({"_id": "r001"}, {"$push": {"tags": "pushed"}})
            target.rows.delete_many({"n": {"$lt": 10}})
            target.fresh.insert_many([dict(d) for d in documents])
        for name in ("rows", "fresh"):
            assert list(database[name].find(sort=[("_id", 1)])) == \
                list(reference[name].find(sort=[("_id", 1)]))
            assert list(database[name].find({"owner": "a", "n": {"$gte": 30}},
                                            sort=[("n", -1)])) == \
                list(reference[name].find({"owner": "a", "n": {"$gte": 30}}, sort=[("n", -1)]))
    finally:
        server.stop()
    with closing(sqlite3.connect(tmp_path / "mongo" / "old.sqlite")) as sql:
        kinds = dict(sql.execute(
            "SELECT c.name, t.type FROM _ferretdb_collections AS c, "
            "pragma_table_info(c.table_name) AS t WHERE t.name = '_ferretdb_sjson'"))
        assert sql.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] == 56
    assert kinds == {"rows": "TEXT", "fresh": "BLOB"}


def test_patch_0002_an_update_command_of_300_statements_completes(scratch):
    """The workers' write-back, 300 statements by distinct _ids. Since patches 0010 and
    0012 these are read by one query and written together, so the test by filter below
    is the one that hangs without patch 0002."""
    collection, ids = scratch
    result = collection.bulk_write([UpdateOne({"_id": i}, {"$set": {"done": True}})
                                    for i in ids], ordered=False)
    assert result.modified_count == 300
    assert collection.count_documents({"done": True}) == 300


def test_patch_0009_update_many_by_id_in_touches_exactly_those(scratch):
    collection, ids = scratch
    result = collection.update_many({"_id": {"$in": ids[:120]}},
                                    {"$set": {"status": "running"}, "$inc": {"attempts": 1}})
    assert result.modified_count == 120
    assert {d["_id"] for d in collection.find({"status": "running", "attempts": 1})} == set(ids[:120])


def _same_bulk_on_both(collection, ids, updates, ordered):
    """Runs the same bulk_write on the server and on mongomock over the same documents;
    returns both outcomes (the error's counts, or None) and both collections' documents."""
    reference = mongomock.MongoClient().db.scratch
    reference.insert_many(list(collection.find()))
    outcomes = []
    for target in (collection, reference):
        try:
            result = target.bulk_write(updates, ordered=ordered)
            outcomes.append(("ok", result.matched_count, result.modified_count))
        except pymongo.errors.BulkWriteError as error:
            outcomes.append(("error", error.details["nMatched"], error.details["nModified"],
                             [e["index"] for e in error.details["writeErrors"]]))
    documents = [sorted(target.find(), key=lambda d: ids.index(d["_id"]))
                 for target in (collection, reference)]
    return outcomes, documents


def test_patch_0002_an_update_command_of_300_statements_by_filter_answers_as_mongodb_does(scratch):
    """Patch 0002 closes each statement's query when the statement ends: a bulk write of
    300 statements whose filters name no _id (each statement reads by a query of its own;
    unpatched, the 100th waited for a pooled SQLite connection for ever) gives mongomock's
    counts and documents."""
    collection, ids = scratch
    updates = [UpdateOne({"n": n}, {"$set": {"done": True}, "$inc": {"n": 1000}})
               for n in range(300)]
    outcomes, documents = _same_bulk_on_both(collection, ids, updates, ordered=True)
    assert outcomes[0] == outcomes[1] == ("ok", 300, 300)
    assert documents[0] == documents[1]


def test_patch_0010_updates_by_distinct_ids_in_one_command_apply_as_mongodb_does(scratch):
    """Statements on distinct _ids are written in one transaction (patch 0010): each
    operator, a no-op statement and a missing _id still give MongoDB's counts and docs."""
    collection, ids = scratch
    updates = [UpdateOne({"_id": i}, [{"$set": {"done": True}}, {"$inc": {"n": 10}},
                                      {"$unset": {"owner": ""}}, {"$set": {"n": n}},
                                      {"$push": {"tags": "x"}}][n % 5])
               for n, i in enumerate(ids[:250])]
    updates.append(UpdateOne({"_id": ObjectId()}, {"$set": {"done": True}}))
    outcomes, documents = _same_bulk_on_both(collection, ids, updates, ordered=True)
    assert outcomes[0] == outcomes[1] == ("ok", 250, 200)
    assert documents[0] == documents[1]


def test_patch_0004_a_failing_statement_leaves_the_ones_before_it_applied_as_mongodb_does(scratch):
    """An ordered bulk whose statement 101 fails (it would change an _id): MongoDB keeps
    the first 100 and stops; the batched write must not lose them nor apply the rest,
    and reports the error at index 100 with the counts before it (patch 0004)."""
    collection, ids = scratch
    updates = [UpdateOne({"_id": i}, {"$set": {"_id": ObjectId()}} if n == 100 else {"$inc": {"n": 1}})
               for n, i in enumerate(ids[:200])]
    outcomes, documents = _same_bulk_on_both(collection, ids, updates, ordered=True)
    assert outcomes[0] == outcomes[1] == ("error", 100, 100, [100])
    assert documents[0] == documents[1]
    assert collection.find_one({"_id": ids[99]})["n"] == 100
    assert collection.find_one({"_id": ids[101]})["n"] == 101


def test_patch_0010_updates_by_id_that_also_test_other_fields_apply_as_mongodb_does(scratch):
    """The workers' write-back skips a cancelled row: {_id: X, status: {$ne: ...}}. Such
    statements are written together too (patch 0010), and must still match only the
    documents whose other fields pass, in either order of the bulk."""
    collection, ids = scratch
    collection.update_many({"_id": {"$in": ids[:200:3]}}, {"$set": {"status": "cancelled"}})
    for ordered in (True, False):
        updates = [UpdateOne({"_id": i, "status": {"$ne": "cancelled"}},
                             {"$set": {"status": "done"}, "$inc": {"n": 1}})
                   for i in ids[:200]]
        outcomes, documents = _same_bulk_on_both(collection, ids, updates, ordered=ordered)
        assert outcomes[0] == outcomes[1]
        assert outcomes[0][1] == 200 - len(ids[:200:3])
        assert documents[0] == documents[1]
    assert collection.count_documents({"status": "cancelled"}) == len(ids[:200:3])


def test_patch_0012_updates_by_string_and_objectid_ids_read_together_apply_as_mongodb_does(scratch):
    """A command by distinct _ids reads all its documents by one query (patch 0012):
    string _ids beside ObjectIDs, a missing one matches nothing, a statement whose other
    field fails matches nothing, in either order of the statements. (A string that spells
    an ObjectID's hex is refused as a duplicate _id by FerretDB v1 itself, unpatched.)"""
    collection, ids = scratch
    collection.insert_many([{"_id": "s-1", "n": -1}, {"_id": "plain", "n": -2}])
    for ordered in (True, False):
        updates = [UpdateOne({"_id": "s-1"}, {"$inc": {"n": 100}}),
                   UpdateOne({"_id": ids[0]}, {"$inc": {"n": 1000}}),
                   UpdateOne({"_id": "missing"}, {"$set": {"done": True}}),
                   UpdateOne({"_id": "plain", "n": {"$lt": 0}}, {"$set": {"n": 7}}),
                   UpdateOne({"_id": ids[1], "n": {"$lt": 0}}, {"$set": {"n": 7}}),
                   *[UpdateOne({"_id": i}, {"$set": {"seen": n}}) for n, i in enumerate(ids[5:150])]]
        outcomes, documents = _same_bulk_on_both(collection, ids + ["s-1", "plain"],
                                                 updates[::-1] if ordered else updates, ordered)
        assert outcomes[0] == outcomes[1]
        assert documents[0] == documents[1]
    assert collection.find_one({"_id": "s-1"})["n"] == 199
    assert collection.find_one({"_id": "plain"})["n"] == 7
    assert collection.find_one({"_id": ids[0]})["n"] == 2000


def test_patch_0010_the_same_id_twice_in_one_command_sees_the_first_write(scratch):
    collection, ids = scratch
    updates = [UpdateOne({"_id": ids[0]}, {"$inc": {"n": 5}}),
               UpdateOne({"_id": ids[1]}, {"$set": {"done": True}}),
               UpdateOne({"_id": ids[0]}, {"$inc": {"n": 5}})]
    outcomes, documents = _same_bulk_on_both(collection, ids, updates, ordered=True)
    assert outcomes[0] == outcomes[1] == ("ok", 3, 3)
    assert documents[0] == documents[1]
    assert collection.find_one({"_id": ids[0]})["n"] == 10


def test_patch_0011_updates_of_100_documents_per_statement_answer_as_mongodb_does(scratch):
    """Patch 0011 writes up to 100 documents per UPDATE statement, each bound beside its
    _id in one VALUES list: an update_many of 150 documents (two statements) and a bulk
    write giving each of 250 documents values of its own (three statements) leave every
    document with its own values, as mongomock does."""
    collection, ids = scratch
    reference = mongomock.MongoClient().db.scratch
    reference.insert_many(list(collection.find()))
    answers = []
    for target in (collection, reference):
        many = target.update_many({"owner": "a"}, {"$inc": {"n": 1000}, "$set": {"odd": True}})
        bulk = target.bulk_write([UpdateOne({"_id": i}, {"$set": {"tag": f"t{n}", "nested": {"k": n}}})
                                  for n, i in enumerate(ids[::-1][:250])], ordered=True)
        answers.append((many.modified_count, bulk.modified_count,
                        sorted(target.find(), key=lambda d: ids.index(d["_id"]))))
    assert answers[0][:2] == answers[1][:2] == (150, 250)
    assert answers[0][2] == answers[1][2]


def test_patch_0003_a_delete_of_more_documents_than_sqlite_takes_variables_applies_as_mongodb_does(
        scratch):
    """Patch 0003: one DELETE named every matching document, and SQLite refuses
    more than 32,766 variables: a delete of 40,000 documents failed."""
    collection = scratch[0].database["scratch_delete"]
    collection.drop()
    reference = mongomock.MongoClient().db.scratch
    documents = [{"_id": ObjectId(), "owner": "c" if n % 10 else "d", "n": n}
                 for n in range(40_000)]
    answers = []
    try:
        for target in (collection, reference):
            target.insert_many([dict(d) for d in documents])
            deleted = target.delete_many({"owner": "c"}).deleted_count
            answers.append((deleted, sorted(d["n"] for d in target.find())))
    finally:
        collection.drop()
    assert answers[0] == answers[1]
    assert answers[0][0] == 36_000


def test_patch_0006_find_by_id_and_other_field_still_filters_on_both(scratch):
    collection, ids = scratch
    owner = collection.find_one({"_id": ids[1]})["owner"]
    other = "b" if owner == "a" else "a"
    assert collection.find_one({"_id": ids[1], "owner": owner})["n"] == 1
    assert collection.find_one({"_id": ids[1], "owner": other}) is None
    assert collection.count_documents({"_id": {"$in": ids[:10]}, "owner": "a"}) == 5


# tools/ferretdb/modernc-libc-v1.55.3.patch: SQLite's memcmp compares eight bytes at a time. It
# decides index seeks (which entry sorts first) and the JSON cache's lookups (is this the
# document parsed before?). Strings of one byte length that differ at every offset around
# the 8-byte words, in bytes above 0x7f too, in documents of one length, so that each
# comparison runs over a long equal prefix and ends in the word loop or the byte loop.
def _lookalike_strings():
    length, strings = 96, []
    for marker in ("a", "b", "\u00e9", "\u00ff", "\u0100", "\U0001f600", "~"):
        for offset in (0, 1, 6, 7, 8, 9, 15, 16, 17, 40, 63, 64, 65, 88, 94):
            head = "p" * offset + marker
            strings.append(head + "q" * (length - len(head.encode())))
        strings.append("p" * (length - len(marker.encode())) + marker)  # at the very end
    return sorted({s for s in strings if len(s.encode()) == length})


@pytest.fixture
def tagged(stack):
    """The look-alike strings as `tag`, indexed, on the server and on mongomock."""
    client = pymongo.MongoClient(stack.mongo_uri, socketTimeoutMS=30000)
    collection = client.get_default_database()["scratch_memcmp"]
    collection.drop()
    reference = mongomock.MongoClient().db.scratch
    strings = _lookalike_strings()
    documents = [{"_id": ObjectId(), "tag": tag, "n": n} for n, tag in enumerate(strings)]
    collection.create_index([("tag", 1)])
    for target in (collection, reference):
        target.insert_many([dict(d) for d in documents])
    yield collection, reference, strings, documents
    collection.drop()
    client.close()


def test_string_lookups_and_rewrites_answer_as_mongodb_does(tagged):
    collection, reference, strings, documents = tagged

    def answers(target):
        return ([sorted(d["n"] for d in target.find({"tag": tag})) for tag in strings],
                [target.count_documents({"tag": tag}) for tag in strings],  # SQL's own answer
                [target.count_documents({"tag": {"$in": strings[i:i + 3]}})
                 for i in range(0, len(strings), 5)],
                sorted((d["tag"], d["n"]) for d in target.find({}, {"_id": 0})))
    found = answers(collection)
    assert found == answers(reference)
    assert all(matches == [n] for n, matches in enumerate(found[0]))
    # rewritten to another string of the same length: each index entry is found by the
    # old document's text, then written from the new one
    rewrites = [UpdateOne({"_id": d["_id"]}, {"$set": {"tag": strings[-1 - n]}})
                for n, d in enumerate(documents)]
    for target in (collection, reference):
        target.bulk_write(rewrites, ordered=False)
    assert answers(collection) == answers(reference)
    # ASCII ones are looked up in the index (the others, which some encoder escapes, are
    # not pushed down), an index that also holds the strings with high bytes
    assert "USING INDEX" in plan(collection, {"tag": strings[1]})


# Documents with the shapes MongoDB's equality treats specially: arrays that contain the
# value, strings an encoder escapes, ObjectIDs, numbers, missing and nested fields.
TRICKY = [{"owner": "a", "status": "done"}, {"owner": "b", "status": "queued"},
          {"owner": ["a", "z"], "status": "done"}, {"owner": [{"a": 1}], "status": "done"},
          {"owner": "<a&b>", "status": "done"}, {"owner": 'q"uote\\', "status": "queued"},
          {"owner": "é", "status": "running"}, {"owner": 5}, {"status": "done"},
          {"owner": None}, {"owner": {"a": 1}}, {"owner": "a", "status": ["done", "x"]},
          {"owner": "A"}, {"owner": "a b", "model": "iris"}, {"owner": "", "status": "done"}]
# ObjectIDs of fixed values where they name tests: each of pytest-xdist's workers must
# collect the same tests
REF = ObjectId("6b16258e5eed000000000001")
FILTERS = [
    {"owner": "a"}, {"owner": "b"}, {"owner": "z"}, {"owner": "<a&b>"}, {"owner": 'q"uote\\'},
    {"owner": "é"}, {"owner": ""}, {"owner": "a b"}, {"owner": {"$eq": "a"}},
    {"owner": {"$in": ["a", "b", "é"]}}, {"owner": {"$in": ["<a&b>"]}},
    {"$and": [{"status": "done"}, {"owner": "a"}]}, {"status": "done", "owner": "a"},
    {"$and": [{"status": {"$in": ["done", "queued"]}}, {"owner": {"$ne": "a"}}]},
    {"ref": REF}, {"ref": {"$in": [REF, "x"]}}, {"owner": "a", "n": {"$gte": 3}},
    {"$or": [{"owner": "a"}, {"owner": "b"}]}, {"owner": 5}, {"owner": None},
]


@pytest.fixture
def tricky(stack):
    client = pymongo.MongoClient(stack.mongo_uri, socketTimeoutMS=30000)
    collection = client.get_default_database()["scratch_pushdown"]
    collection.drop()
    documents = [{**d, "n": n, **({"ref": REF} if n % 4 == 0 else {})}
                 for n, d in enumerate(TRICKY)]
    collection.insert_many([dict(d) for d in documents])
    collection.create_index([("owner", 1)])
    collection.create_index([("status", 1)])
    reference = mongomock.MongoClient().db.scratch
    reference.insert_many([dict(d) for d in documents])
    yield collection, reference
    collection.drop()
    client.close()


@pytest.mark.parametrize("query", FILTERS, ids=[repr(f) for f in FILTERS])
def test_patch_0006_pushed_down_filters_answer_as_mongodb_does(tricky, query):
    collection, reference = tricky
    assert sorted(d["n"] for d in collection.find(query)) == \
        sorted(d["n"] for d in reference.find(query))
    assert collection.count_documents(query) == reference.count_documents(query)


def test_patch_0006_pushed_down_updates_and_deletes_touch_what_mongodb_touches(tricky):
    collection, reference = tricky
    for target in (collection, reference):
        target.update_many({"owner": "a"}, {"$set": {"seen": True}})
        target.delete_many({"$and": [{"status": "done"}, {"owner": {"$in": ["a", ""]}}]})
    assert sorted((d["n"], d.get("seen")) for d in collection.find()) == \
        sorted((d["n"], d.get("seen")) for d in reference.find())


def plan(collection, query):
    explained = collection.database.command("explain", {"find": collection.name,
                                                        "filter": query})
    return " | ".join(explained["queryPlanner"]["Plan"])


def test_patch_0006_equality_on_an_indexed_field_is_served_by_its_index(tricky):
    collection, _ = tricky
    assert "USING INDEX" in plan(collection, {"owner": "a"})
    assert "SCAN" not in plan(collection, {"owner": "a"})
    assert "SCAN" in plan(collection, {"n": 3})  # no index on n: the test can tell


def test_patch_0005_a_lookup_by_id_is_served_by_the_id_index(tricky):
    """Patch 0005: lookups by _id filter on the very expression the unique _id
    index is built on (unpatched, SQLite scanned the table)."""
    collection, _ = tricky
    document = collection.find_one()
    assert "USING INDEX" in plan(collection, {"_id": document["_id"]})
    assert "SCAN" not in plan(collection, {"_id": document["_id"]})


# Sorts and counts in SQL. Documents: dated rows of three owners, and rows whose values
# the SQL texts cannot tell apart from them (a 13-digit number beside dates, a regex
# beside a string, a string _id, dates before 2001 and after 2286, missing fields).
# "arrays" adds arrays in the sorted and the filtered fields: there nothing is sorted
# or counted in SQL, and the answers are those of the handler.
START = datetime(2026, 1, 1)
IDS = [ObjectId(f"6b16258e5eed{n:012x}") for n in range(100, 400)]  # in order
ALL_TIME = {"_created": {"$gte": datetime(2001, 9, 9, 2), "$lt": datetime(2286, 1, 1)}}
DATED = [{"_id": IDS[n], "n": n, "owner": "abc"[n % 3], "status": ("done", "queued")[n % 2],
          "_created": START + timedelta(seconds=(n * 7919) % 1000)} for n in range(300)]
LOOKALIKES = [
    {"_id": "6" * 24, "n": 300, "owner": "a", "_created": START}, {"_id": 7, "n": 301, "owner": "a"},
    {"n": 302, "owner": "a", "_created": 1767225700000}, {"n": 303, "owner": "a", "_created": "x"},
    {"n": 304, "owner": "a"}, {"n": 305, "owner": "a", "_created": datetime(2300, 1, 1)},
    {"n": 306, "owner": "a", "_created": datetime(1990, 1, 1)},
    {"n": 307, "owner": re.compile("a"), "_created": START},
    {"n": 308, "owner": "b", "_created": START, "status": re.compile("done")},
    {"n": 309, "owner": ObjectId("6b16258e5eed000000000002"), "_created": START}]
ARRAYS = [{"n": 310, "owner": "a", "_created": [START, START + timedelta(days=1)]},
          {"n": 311, "owner": ["a"], "_created": START}]
SORTED = [  # (filter, sort field, direction)
    ({"$and": [{"owner": "a"}, ALL_TIME]}, "_created", -1),
    ({"$and": [{"owner": "a"}, ALL_TIME]}, "_created", 1),
    ({"$and": [{"$and": [{"status": "done"}, {"owner": "b"}]}, ALL_TIME]}, "_created", -1),
    ({"_created": {"$gt": START + timedelta(seconds=100), "$lte": START + timedelta(seconds=200)},
      "owner": {"$in": ["a", "c"]}}, "_created", -1),
    ({"$and": [ALL_TIME, {"_created": {"$lt": START + timedelta(seconds=50)}}]}, "_created", 1),
    ({"_id": {"$gte": IDS[50], "$lte": IDS[120]}}, "_id", 1),
    ({"_id": {"$gt": IDS[250]}, "owner": "a"}, "_id", -1),
    ({"$and": [{"_id": {"$gte": IDS[10]}}, {"_id": {"$lt": IDS[30]}}, {"_id": {"$gt": IDS[12]}}]},
     "_id", 1),
]
NOT_SORTED_IN_SQL = [  # not held to one kind by a range: the handler sorts
    ({"_created": {"$gte": START}}, "_created", -1),
    ({"owner": "a", "_created": {"$gte": datetime(1980, 1, 1), "$lt": datetime(2400, 1, 1)}},
     "_created", -1),
    ({"owner": "a"}, "_created", 1),
]
COUNTED = [query for query, _, _ in SORTED + NOT_SORTED_IN_SQL] + [
    {}, {"owner": "a"}, {"owner": {"$in": ["a", "b"]}, "status": "done"},
    {"status": {"$in": ["done"]}, **ALL_TIME}, {"_id": {"$in": [IDS[3], "6" * 24]}},
    {"owner": {"$in": ["a", IDS[0]]}}, {"owner": "a", "n": {"$gte": 100}}]


@pytest.fixture(scope="module", params=["plain", "arrays"])
def dated(stack, request):
    client = pymongo.MongoClient(stack.mongo_uri, socketTimeoutMS=30000)
    collection = client.get_default_database()[f"scratch_sorted_{request.param}"]
    collection.drop()
    documents = DATED + LOOKALIKES + (ARRAYS if request.param == "arrays" else [])
    documents = [{"_id": ObjectId(), **d} for d in documents]  # one _id on both sides
    collection.insert_many([dict(d) for d in documents])
    for index in ([("owner", 1)], [("status", 1)], [("_created", -1)],
                  [("owner", 1), ("_created", -1)]):
        collection.create_index(index)
    reference = mongomock.MongoClient().db.scratch
    reference.insert_many([dict(d) for d in documents])
    yield request.param, collection, reference
    collection.drop()
    client.close()


def sort_pushed_down(collection, query, field, direction):
    explained = collection.database.command("explain", {
        "find": collection.name, "filter": query, "sort": {field: direction}})
    return explained["sortPushdown"]


@pytest.mark.parametrize("query,field,direction", SORTED + NOT_SORTED_IN_SQL,
                         ids=[repr(s) for s in SORTED + NOT_SORTED_IN_SQL])
def test_patch_0007_sorts_answer_as_mongodb_does(dated, query, field, direction):
    kind, collection, reference = dated
    arrays_in_field = kind == "arrays" and field != "_id"
    in_sql = (query, field, direction) in SORTED and not arrays_in_field
    assert sort_pushed_down(collection, query, field, direction) == in_sql
    for limit in (0, 5):
        got = list(collection.find(query, sort=[(field, direction)], limit=limit))
        want = list(reference.find(query, sort=[(field, direction)], limit=limit))
        if not limit:
            assert sorted(d["n"] for d in got) == sorted(d["n"] for d in want)
        if not arrays_in_field:  # mongomock orders arrays its own way; ties in any order
            assert [d.get(field) for d in got] == [d.get(field) for d in want]


@pytest.mark.parametrize("query", COUNTED, ids=[repr(q) for q in COUNTED])
def test_patch_0008_counts_answer_as_mongodb_does(dated, query):
    _, collection, reference = dated
    assert collection.count_documents(query) == reference.count_documents(query)
    assert collection.database.command("count", collection.name, query=query)["n"] == \
        reference.count_documents(query)
    assert sorted(d["n"] for d in collection.find(query)) == \
        sorted(d["n"] for d in reference.find(query))


def test_acknowledged_writes_survive_a_killed_database_server(tmp_path):
    """The development database runs SQLite with synchronous=NORMAL (devstack/services.py):
    a commit is written to the WAL, not fsynced. A server SIGKILLed right after
    acknowledging one-document inserts and updates has every one of them when it comes
    back on the same files."""
    from devstack import services
    port = services.free_port()
    server = services.mongo_server(port, tmp_path, tmp_path / "logs")
    server.start()
    try:
        collection = pymongo.MongoClient(f"mongodb://127.0.0.1:{port}/durable",
                                         socketTimeoutMS=30000).durable.rows
        for n in range(500):
            collection.insert_one({"_id": n, "status": "queued"})
        collection.update_one({"_id": 499}, {"$set": {"status": "done"}})
        server.signal(signal.SIGKILL)
        server.process.wait(timeout=10)
        server.start()
        collection = pymongo.MongoClient(f"mongodb://127.0.0.1:{port}/durable",
                                         socketTimeoutMS=30000).durable.rows
        assert collection.count_documents({}) == 500
        assert collection.find_one({"_id": 499})["status"] == "done"
    finally:
        server.stop()
