"""service.client: `wait` asks one question per round, whatever the number of ids."""
import json

from bson import ObjectId

from cli.client import Client


def test_wait_asks_one_count_per_round_for_any_number_of_ids(monkeypatch):
    asked = []
    answers = iter([7, 0])  # pending after the first round, none after the second

    def request(method, path, **kwargs):
        asked.append((method, path, kwargs["params"]))
        return {"_items": [], "_meta": {"total": next(answers)}}

    api = Client("http://api.invalid", "token")
    monkeypatch.setattr(api, "request", request)
    ids = [str(ObjectId()) for _ in range(5000)]
    lefts = []
    api.wait(ids, interval=0, progress=lefts.append)

    assert lefts == [7, 0]
    assert len(asked) == 2
    for method, path, params in asked:
        assert (method, path, params["max_results"]) == ("GET", "/predictions", 1)
        assert json.loads(params["where"]) == {
            "status": {"$in": ["queued", "running"]},
            "_id": {"$gte": min(ids), "$lte": max(ids)}}


def test_submit_sends_several_posts_at_once_and_keeps_the_row_order(monkeypatch):
    import threading
    import time
    running, most = [0], [0]
    lock = threading.Lock()

    def request(method, path, json=None, **kwargs):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return {"_items": [{"prediction": f"p-{row['features'][0]}"} for row in json]}

    api = Client("http://api.invalid", "token")
    monkeypatch.setattr(api, "request", request)
    ids = api.submit("iris", [[i] for i in range(4500)])
    assert ids == [f"p-{i}" for i in range(4500)]
    assert most[0] > 1
