"""The development database with tools/ferretdb-v1.24.2.patch applied: the commands the
write-back and Eve's item GET send give MongoDB's answers, and a long update command
completes (unpatched, a command of 100+ statements hangs)."""
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
