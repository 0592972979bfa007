"""The development database with tools/ferretdb-v1.24.2.patch applied: the commands the
write-back and Eve's item GET send give MongoDB's answers, and a long update command
completes (unpatched, a command of 100+ statements hangs); every filter shape the patch
narrows in SQL answers as mongomock does for the same documents, arrays and escaped
strings included, and is served by an index."""
import mongomock
import pymongo
import pytest
from bson import ObjectId
from pymongo import UpdateOne


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


def test_an_update_command_of_300_statements_completes(scratch):
    collection, ids = scratch
    result = collection.bulk_write([UpdateOne({"_id": i}, {"$set": {"done": True}})
                                    for i in ids], ordered=False)
    assert result.modified_count == 300
    assert collection.count_documents({"done": True}) == 300


def test_update_many_by_id_in_touches_exactly_those(scratch):
    collection, ids = scratch
    result = collection.update_many({"_id": {"$in": ids[:120]}},
                                    {"$set": {"status": "running"}, "$inc": {"attempts": 1}})
    assert result.modified_count == 120
    assert {d["_id"] for d in collection.find({"status": "running", "attempts": 1})} == set(ids[:120])


def test_find_by_id_and_other_field_still_filters_on_both(scratch):
    collection, ids = scratch
    owner = collection.find_one({"_id": ids[1]})["owner"]
    other = "b" if owner == "a" else "a"
    assert collection.find_one({"_id": ids[1], "owner": owner})["n"] == 1
    assert collection.find_one({"_id": ids[1], "owner": other}) is None
    assert collection.count_documents({"_id": {"$in": ids[:10]}, "owner": "a"}) == 5


# Documents with the shapes MongoDB's equality treats specially: arrays that contain the
# value, strings an encoder escapes, ObjectIDs, numbers, missing and nested fields.
TRICKY = [{"owner": "a", "status": "done"}, {"owner": "b", "status": "queued"},
          {"owner": ["a", "z"], "status": "done"}, {"owner": [{"a": 1}], "status": "done"},
          {"owner": "<a&b>", "status": "done"}, {"owner": 'q"uote\\', "status": "queued"},
          {"owner": "é", "status": "running"}, {"owner": 5}, {"status": "done"},
          {"owner": None}, {"owner": {"a": 1}}, {"owner": "a", "status": ["done", "x"]},
          {"owner": "A"}, {"owner": "a b", "model": "iris"}, {"owner": "", "status": "done"}]
REF = ObjectId()
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
def test_pushed_down_filters_answer_as_mongodb_does(tricky, query):
    collection, reference = tricky
    assert sorted(d["n"] for d in collection.find(query)) == \
        sorted(d["n"] for d in reference.find(query))
    assert collection.count_documents(query) == reference.count_documents(query)


def test_pushed_down_updates_and_deletes_touch_what_mongodb_touches(tricky):
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


def test_equality_on_an_indexed_field_is_served_by_its_index(tricky):
    collection, _ = tricky
    assert "USING INDEX" in plan(collection, {"owner": "a"})
    assert "SCAN" not in plan(collection, {"owner": "a"})
    assert "SCAN" in plan(collection, {"n": 3})  # no index on n: the test can tell
