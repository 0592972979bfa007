"""The service measured end to end, through its public API: bulk throughput (first POST
to the last prediction `done`) and single-row latency (POST to `done` seen by polling)."""
import json
import time
from datetime import timezone

from rq.registry import StartedJobRegistry

from jobs.queue import prediction_queue

from .load import latency_summary, run_concurrently, session


def clear(db):
    """Each measurement starts from empty collections, so that none is measured on a
    bigger table than another."""
    db.inputs.delete_many({})
    db.predictions.delete_many({})


def wait_until_settled(db, redis_connection, expected, timeout=900):
    """Until no job is queued or running (asked of Redis, which costs the stack nothing),
    then until the database agrees."""
    queue = prediction_queue(redis_connection)
    started = StartedJobRegistry(queue=queue)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if queue.count == 0 and started.count == 0:
            finished = db.predictions.count_documents({"status": {"$in": ["done", "failed"]}})
            if finished >= expected:
                return
        time.sleep(0.2)
    raise TimeoutError(f"predictions not finished after {timeout} s")


def finish_times(db):
    """When the last prediction finished, in seconds since the epoch, and the count of
    each final status."""
    last, statuses = 0.0, {}
    for doc in db.predictions.find({}, {"finished_at": 1, "status": 1, "_id": 0}):
        statuses[doc["status"]] = statuses.get(doc["status"], 0) + 1
        last = max(last, doc["finished_at"].replace(tzinfo=timezone.utc).timestamp())
    return last, statuses


def bulk_throughput(api_url, token, db, redis_connection, model, rows, rows_per_request,
                    clients=4):
    """POST all rows in requests of rows_per_request from `clients` threads; the time
    runs from the first POST to the moment the last prediction was written."""
    clear(db)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    bodies = [json.dumps([{"model": model, "features": row}
                          for row in rows[i:i + rows_per_request]])
              for i in range(0, len(rows), rows_per_request)]

    def post(body):
        response = session(headers).post(f"{api_url}/inputs", data=body, timeout=120)
        assert response.status_code == 201, response.text[:300]
        return len(json.loads(body))

    started = time.time()
    accepted, post_seconds, latencies = run_concurrently(post, bodies, clients)
    assert sum(accepted) == len(rows)
    wait_until_settled(db, redis_connection, len(rows))
    last, statuses = finish_times(db)
    assert statuses == {"done": len(rows)}, statuses
    seconds = last - started
    return {"model": model, "rows": len(rows), "rows_per_request": rows_per_request,
            "clients": clients, "seconds": round(seconds, 2),
            "rows_per_s": round(len(rows) / seconds),
            "post_seconds": round(post_seconds, 2),
            "post_p50_ms": latency_summary(latencies)["p50_ms"]}


def single_row_latency(api_url, token, db, model, rows, requests_count):
    """One row at a time, each POSTed then polled with If-None-Match until `done`."""
    clear(db)
    client = session({"Authorization": f"Bearer {token}"})
    latencies, polls = [], 0
    for row in rows[:requests_count]:
        started = time.perf_counter()
        response = client.post(f"{api_url}/inputs", json={"model": model, "features": row})
        assert response.status_code == 201, response.text[:300]
        url = f"{api_url}/predictions/{response.json()['prediction']}"
        etag = None
        while True:
            polled = client.get(url, headers={"If-None-Match": etag} if etag else {})
            polls += 1
            if polled.status_code == 200:
                etag = polled.headers["ETag"]
                status = polled.json()["status"]
                if status in ("done", "failed"):
                    assert status == "done", polled.text[:300]
                    break
        latencies.append(time.perf_counter() - started)
    return {"model": model, "requests": len(latencies),
            "polls_per_request": round(polls / len(latencies), 1), **latency_summary(latencies),
            "samples_ms": [round(s * 1000, 2) for s in latencies]}


def concurrent_single_rows(api_url, token, db, model, rows, clients=16, poll_pause=0.005):
    """`clients` threads, each POSTing one row at a time and polling its prediction with
    If-None-Match (pausing poll_pause between polls) until `done`, then the next row.
    rows/s is all rows over the wall time; latency is POST to `done` seen."""
    clear(db)

    def one_row(row):
        client = session({"Authorization": f"Bearer {token}"})
        response = client.post(f"{api_url}/inputs", json={"model": model, "features": row})
        assert response.status_code == 201, response.text[:300]
        url = f"{api_url}/predictions/{response.json()['prediction']}"
        etag, polls = None, 0
        while True:
            polled = client.get(url, headers={"If-None-Match": etag} if etag else {})
            polls += 1
            if polled.status_code == 200:
                etag = polled.headers["ETag"]
                if polled.json()["status"] in ("done", "failed"):
                    assert polled.json()["status"] == "done", polled.text[:300]
                    return polls
            time.sleep(poll_pause)

    polls, seconds, latencies = run_concurrently(one_row, rows, clients)
    return {"model": model, "clients": clients, "rows": len(rows),
            "rows_per_s": round(len(rows) / seconds),
            "polls_per_row": round(sum(polls) / len(polls), 1), **latency_summary(latencies)}
