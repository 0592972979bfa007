"""The service measured end to end, through its public API: bulk throughput (first POST
to the last prediction `done`) and single-row latency (POST to `done` seen by polling)."""
import json
import time
from datetime import timezone

from rq.registry import StartedJobRegistry

from core.queue import prediction_queue

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
                    clients=4, settled=None, fields=None):
    """POST all rows in requests of rows_per_request from `clients` threads; the time
    runs from the first POST to the moment the last prediction was written. `settled`
    is called then, before the predictions are read back. `fields`: more fields of each
    input (e.g. its `version`)."""
    clear(db)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    bodies = [json.dumps([{"model": model, **(fields or {}), "features": row}
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
    if settled:
        settled()
    last, statuses = finish_times(db)
    assert statuses == {"done": len(rows)}, statuses
    seconds = last - started
    return {"model": model, "rows": len(rows), "rows_per_request": rows_per_request,
            "clients": clients, "seconds": round(seconds, 2),
            "rows_per_s": round(len(rows) / seconds),
            "post_seconds": round(post_seconds, 2),
            "post_p50_ms": latency_summary(latencies)["p50_ms"]}


def poll_until_done(client, url, pause=0.0, wait=None):
    """GET the prediction until it is `done`: with If-None-Match, pause seconds apart,
    or each GET held by the server up to `wait` s (Prefer: wait). Returns the GETs sent."""
    etag, polls = None, 0
    while True:
        headers = {"If-None-Match": etag} if etag else {}
        if wait:
            headers["Prefer"] = f"wait={wait}"
        polled = client.get(url, headers=headers)
        polls += 1
        if polled.status_code == 200:
            etag = polled.headers["ETag"]
            status = polled.json()["status"]
            if status in ("done", "failed"):
                assert status == "done", polled.text[:300]
                return polls
        if pause:
            time.sleep(pause)


def single_row_latency(api_url, token, db, model, rows, requests_count, wait=None):
    """One row at a time, each POSTed then polled with If-None-Match until `done`, or
    long-polled (Prefer: wait) when `wait` is given."""
    clear(db)
    client = session({"Authorization": f"Bearer {token}"})
    latencies, polls = [], 0
    for row in rows[:requests_count]:
        started = time.perf_counter()
        response = client.post(f"{api_url}/inputs", json={"model": model, "features": row})
        assert response.status_code == 201, response.text[:300]
        polls += poll_until_done(client, f"{api_url}/predictions/"
                                         f"{response.json()['prediction']}", wait=wait)
        latencies.append(time.perf_counter() - started)
    return {"model": model, "requests": len(latencies), "long_poll": bool(wait),
            "polls_per_request": round(polls / len(latencies), 1), **latency_summary(latencies),
            "samples_ms": [round(s * 1000, 2) for s in latencies]}


def concurrent_single_rows(api_url, token, db, model, rows, clients=16, poll_pause=0.005,
                           wait=None):
    """`clients` threads, each POSTing one row at a time and polling its prediction with
    If-None-Match (poll_pause apart), or long-polling it when `wait` is given, until
    `done`, then the next. rows/s is all rows over the wall time; latency is POST to
    `done` seen."""
    clear(db)

    def one_row(row):
        client = session({"Authorization": f"Bearer {token}"})
        response = client.post(f"{api_url}/inputs", json={"model": model, "features": row})
        assert response.status_code == 201, response.text[:300]
        return poll_until_done(client, f"{api_url}/predictions/{response.json()['prediction']}",
                               pause=poll_pause, wait=wait)

    polls, seconds, latencies = run_concurrently(one_row, rows, clients)
    return {"model": model, "clients": clients, "rows": len(rows), "long_poll": bool(wait),
            "rows_per_s": round(len(rows) / seconds),
            "polls_per_row": round(sum(polls) / len(polls), 1), **latency_summary(latencies)}
