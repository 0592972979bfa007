"""The store path of the service on the database alone, side by side for FerretDB builds:
`python -m bench.database [--binary PATH ...] [--chunks 10] [--rounds 2] [--gogc 400]
[--clients 1,2,4] [--features 4]`.

For each binary (default: the one `make run` starts), a fresh FerretDB on a temporary
directory, with the service's indexes (settings.py), and per round: `chunks` times an
insert of 1,000 inputs, an insert of their 1,000 predictions and the workers' write-back
of their results (a bulk_write of UpdateOne by `_id`, as jobs/writeback.py sends), then
every prediction read back 1,000 by `_id` range (as the results file reads them). Prints
the wall time per 1,000 rows of each step and the server's CPU (from /proc) for the
writes and for the reads. The binaries take turns, round by round: this machine's speed
moves by tens of percent within minutes, so compare within one run.

`--clients 1,2,4` instead measures the ceiling the database sets on the service: the
same writes from that many pymongo clients at once (threads, each its own connection),
rows/s over the wall time and the cores the server used, nothing else running.
`--features 30` stores inputs of breast_cancer's width (default 4, iris)."""
import argparse
import os
import random
import subprocess
import tempfile
import threading
import time
from datetime import datetime, timezone

import pymongo
from bson import ObjectId
from pymongo import UpdateOne

import settings
from core.documents import STILL_UNFINISHED, etag_for
from devstack import services

RESULT = {"label": "virginica", "probabilities": {"setosa": 0.0, "versicolor": 0.02,
                                                  "virginica": 0.98}}


def server_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(binary, directory, gogc):
    port = services.free_port()
    process = subprocess.Popen(
        [binary, "--handler=sqlite", f"--sqlite-url=file:{directory}/",
         f"--listen-addr=127.0.0.1:{port}", "--debug-addr=-", "--telemetry=disable",
         f"--state-dir={directory}", "--log-level=warn"],
        env={**os.environ, "GOGC": str(gogc)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    services.wait_for_port(port, process=process)
    return process, pymongo.MongoClient(f"mongodb://127.0.0.1:{port}/bench").bench


def create_indexes(db):
    for name in ("inputs", "predictions"):
        db[name].drop()
        for index, spec in getattr(settings, name)["mongo_indexes"].items():
            keys, options = spec if isinstance(spec, tuple) else (spec, {})
            db[name].create_index(keys, name=index, **options)


def store_chunk(db, timings, features=4):
    """One chunk of 1,000 rows: inputs, predictions, write-back, each timed (the
    documents are made before the clock). Returns the ids."""
    now, batch = datetime.now(timezone.utc), ObjectId()
    pairs = [(ObjectId(), ObjectId()) for _ in range(1000)]
    inputs = [{"_id": i, "prediction": p, "model": "iris", "version": 1, "batch": batch,
               "features": [round(random.uniform(0, 100), 4) for _ in range(features)],
               "status": "queued", "_created": now, "_updated": now,
               "_etag": etag_for(str(i), "queued", now), "owner": "bench"} for i, p in pairs]
    predictions = [{"_id": p, "input": i, "model": "iris", "version": 1, "status": "queued",
                    "attempts": 0, "job": "job", "queued_at": now, "_created": now,
                    "_updated": now, "_etag": etag_for(str(p), "queued", now),
                    "owner": "bench", "batch": batch} for i, p in pairs]
    results = [UpdateOne({"_id": p, "status": STILL_UNFINISHED},
                         {"$set": {"status": "done", "result": RESULT, "finished_at": now,
                                   "started_at": now, "_updated": now,
                                   "_etag": etag_for(str(p), "done", now)},
                          "$inc": {"attempts": 1}}) for _, p in pairs]
    steps = [("insert inputs", lambda: db.inputs.insert_many(inputs)),
             ("insert predictions", lambda: db.predictions.insert_many(predictions)),
             ("write-back", lambda: db.predictions.bulk_write(results, ordered=False))]
    for step, run in steps:
        started = time.perf_counter()
        run()
        timings[step] = timings.get(step, 0.0) + time.perf_counter() - started
    return [p for _, p in pairs]


def read_back(db, ids):
    for first in range(0, len(ids), 1000):
        page = ids[first:first + 1000]
        read = db.predictions.find({"_id": {"$gte": page[0], "$lte": page[-1]}},
                                   {"status": 1, "result": 1, "error": 1})
        assert sum(1 for document in read if document["status"] == "done") == len(page)


def one_round(binary, chunks, gogc, features=4):
    with tempfile.TemporaryDirectory() as directory:
        process, db = start(binary, directory, gogc)
        try:
            create_indexes(db)
            timings, ids = {}, []
            before = server_cpu_seconds(process.pid)
            for _ in range(chunks):
                ids += store_chunk(db, timings, features)
            written = server_cpu_seconds(process.pid)
            started = time.perf_counter()
            read_back(db, ids)
            timings["read"] = time.perf_counter() - started
            read = server_cpu_seconds(process.pid)
        finally:
            process.terminate()
            process.wait()
    per_chunk = {step: round(seconds / chunks * 1000) for step, seconds in timings.items()}
    return {**per_chunk, "write cpu": round((written - before) / chunks * 1000),
            "read cpu": round((read - written) / chunks * 1000)}


def concurrent_round(binary, clients, chunks, gogc, features):
    """rows/s of the store path from `clients` clients at once, and the server's cores."""
    with tempfile.TemporaryDirectory() as directory:
        process, db = start(binary, directory, gogc)
        try:
            create_indexes(db)
            store_chunk(db, {}, features)  # the tables and indexes exist before the clock
            host, port = db.client.address

            def client():
                own = pymongo.MongoClient(host, port).bench
                for _ in range(chunks):
                    store_chunk(own, {}, features)
                own.client.close()
            threads = [threading.Thread(target=client) for _ in range(clients)]
            before, started = server_cpu_seconds(process.pid), time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            seconds = time.perf_counter() - started
            cpu = server_cpu_seconds(process.pid) - before
            written = db.predictions.count_documents({"status": "done"})
            assert written == (clients * chunks + 1) * 1000, written  # a figure of all rows
        finally:
            process.terminate()
            process.wait()
    rows = clients * chunks * 1000
    return {"rows/s": round(rows / seconds), "server cpu ms/row": round(cpu / rows * 1000, 3),
            "server cores": round(cpu / seconds, 2)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", action="append", help="a FerretDB binary (repeatable)")
    parser.add_argument("--chunks", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--gogc", type=int, default=400)
    parser.add_argument("--clients", help="e.g. 1,2,4: the writes from that many clients at once")
    parser.add_argument("--features", type=int, default=4, help="features per input")
    args = parser.parse_args(argv)
    binaries = args.binary or [str(services.FERRETDB)]
    if args.clients:
        print(f"the store path (inputs, predictions, write-back; {args.features} features an "
              f"input) from concurrent clients, {args.chunks} chunks of 1,000 rows each")
        for round_number in range(1, args.rounds + 1):
            for binary in binaries:
                for clients in (int(c) for c in args.clients.split(",")):
                    figures = concurrent_round(binary, clients, args.chunks, args.gogc,
                                               args.features)
                    print(f"round {round_number} {binary} {clients} client(s): " +
                          ", ".join(f"{k} {v}" for k, v in figures.items()), flush=True)
        return
    print(f"ms per 1,000 rows ({args.chunks} chunks a round, GOGC={args.gogc}); "
          "cpu is the server's")
    for round_number in range(1, args.rounds + 1):
        for binary in binaries:
            figures = one_round(binary, args.chunks, args.gogc, args.features)
            print(f"round {round_number} {binary}: " +
                  ", ".join(f"{step} {ms}" for step, ms in figures.items()), flush=True)


if __name__ == "__main__":
    main()
