"""`python -m bench.turns`: two clients' files at once, with and without turns.

For each value of `--chunks-queued` (FILE_CHUNKS_QUEUED; default "0,8": a file's chunks
all at once, then 8 at a time), in turn and `--rounds` times: starts its own stack (2 RQ
workers and the worker of small submissions, as `make run` with WORKERS=2), and two
client tokens upload a CSV of `--file-rows` iris rows (50,000) each: `together` (at the
same moment: their rows are stored, and so queued, side by side as the uploads stream)
or `backlog` (the workers paused, the first file uploaded whole, then the second, then
the workers resumed: a second client's file arriving behind a queue of the first's, as
when files come in faster than the workers drain them). Reports each file's seconds to
`done` (from the first upload's start, or from the resume) and the later over the
earlier (1.00: they finished together)."""
import argparse
import json
import signal
import tempfile
import threading
import time
from pathlib import Path

from cli.client import Client
from devstack import services
from devstack.stack import Stack

from .batches import write_csv


def together(clients, paths):
    seconds = [None, None]
    go = threading.Barrier(2)
    started = time.perf_counter()

    def upload(index):
        go.wait()
        batch = clients[index].submit_file(paths[index], "iris")
        clients[index].wait_batch(batch["_id"], timeout=3600)
        seconds[index] = time.perf_counter() - started
    both(upload)
    return seconds


def both(target):
    """target(0) and target(1) in two threads, until both end."""
    threads = [threading.Thread(target=target, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def backlog(stack, clients, paths):
    for worker in stack.workers:
        worker.signal(signal.SIGSTOP)
    batches = [client.submit_file(path, "iris") for client, path in zip(clients, paths)]
    seconds = [None, None]
    started = time.perf_counter()
    for worker in stack.workers:
        worker.signal(signal.SIGCONT)

    def wait(index):
        clients[index].wait_batch(batches[index]["_id"], timeout=3600)
        seconds[index] = time.perf_counter() - started
    both(wait)
    return seconds


def two_files(tmp, rows, chunks_queued, start):
    stack = Stack(tmp / f"stack-{chunks_queued}-{time.monotonic_ns()}",
                  port=services.free_port(), workers=2, interactive_workers=1,
                  extra_env={"FILE_CHUNKS_QUEUED": str(chunks_queued)}).start()
    try:
        paths = []
        for name in ("a", "b"):
            paths.append(tmp / f"{name}.csv")
            write_csv(paths[-1], rows)
        clients = [Client(stack.url, stack.create_token("client", f"file-{n}")) for n in "ab"]
        if start == "backlog":
            seconds = backlog(stack, clients, paths)
        else:
            seconds = together(clients, paths)
    finally:
        stack.stop()
    return {"file_chunks_queued": chunks_queued, "start": start,
            "seconds": [round(s, 1) for s in seconds],
            "later_over_earlier": round(max(seconds) / min(seconds), 2),
            "rows_per_s": round(2 * rows / max(seconds))}


def main():
    parser = argparse.ArgumentParser(prog="python -m bench.turns")
    parser.add_argument("--file-rows", type=int, default=50_000)
    parser.add_argument("--chunks-queued", default="0,8")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--start", default="together,backlog")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for start in args.start.split(","):
                for chunks_queued in (int(v) for v in args.chunks_queued.split(",")):
                    print(json.dumps(two_files(Path(tmp), args.file_rows, chunks_queued,
                                               start)), flush=True)


if __name__ == "__main__":
    main()
