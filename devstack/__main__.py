"""`python -m devstack run`: the whole stack in the foreground (what `make run` does).
`python -m devstack worker`: prediction workers only (what `make worker` does)."""
import os
import signal
import sys

from cli import endpoints

from .deathsig import die_with_parent
from .services import StartFailed
from .stack import Interrupts, Stack, Workers, supervise


def run(interrupts: Interrupts) -> None:
    workers = int(os.environ.get("WORKERS", "1"))
    # one worker of small submissions only beside the others (none when WORKERS=0: then
    # the workers run elsewhere)
    interactive = int(os.environ.get("INTERACTIVE_WORKERS", "1" if workers else "0"))
    stack = Stack(
        data_dir=os.environ.get("DATA_DIR", "data"),
        port=int(os.environ.get("PORT", "5000")),
        workers=workers,
        interactive_workers=interactive,
        mongo_uri=os.environ.get("MONGO_URI"),
        redis_url=os.environ.get("REDIS_URL"),
        cache_url=os.environ.get("CACHE_URL"),
        cache_max_mb=int(os.environ.get("CACHE_MAX_MB", "256")),
        listen_host=os.environ.get("LISTEN_HOST") or "127.0.0.1",
    )
    interrupts.supervised = stack
    stack.start()
    interrupts.supervising = True  # a signal from here on asks supervise() for the stop
    try:
        token = stack.create_token("admin", "admin")
    except BaseException:
        stack.stop()
        raise
    print(f"""
  API        {stack.url}/api/v1/          (health: {stack.url}/api/v1/health)
  API docs   {stack.url}/api/v1/docs
  Pages      {stack.url}/ui/                (log in with the admin token below)
  Dashboard  {stack.url}/rq                (user: anything, password: the admin token)
  Metrics    {stack.url}/metrics
  MongoDB    {stack.mongo_uri}
  Redis      {stack.redis_url}
  Cache      {stack.cache_url}    (the result cache's own Redis)
  Workers    {workers}, {interactive} for small submissions only, one for callbacks
             logs: {stack.log_dir}/
  CLI        finds these in {endpoints.stack_file(stack.data_dir)}
{join_hint(stack)}
  Admin token (new for this run; make more with
  .venv/bin/python -m service create-token --role client --name NAME):
{token}

  Ctrl-C stops everything.""", flush=True)
    supervise(stack, interrupts)


def join_hint(stack):
    """How another host adds workers, when this one listens off loopback."""
    if stack.listen_host in ("127.0.0.1", "localhost", "::1"):
        return ""
    return f"""
  More workers on another host (a checkout of this repository there):
  MONGO_URI='{stack.mongo_uri}' \\
  REDIS_URL='{stack.redis_url}' \\
  CACHE_URL='{stack.cache_url}' make worker
"""


def worker(interrupts: Interrupts) -> None:
    """Workers against MONGO_URI and REDIS_URL, or those of this checkout's `make run`."""
    stack_file = endpoints.read_stack_file()
    mongo_uri = os.environ.get("MONGO_URI") or stack_file.get("mongo_uri")
    redis_url = os.environ.get("REDIS_URL") or stack_file.get("redis_url")
    if not (mongo_uri and redis_url):
        sys.exit("make worker needs MONGO_URI and REDIS_URL (the banner of `make run` on "
                 "the API's host prints them; they are in its DATA_DIR/stack.json)")
    count = int(os.environ.get("WORKERS", "1"))
    workers = Workers(os.environ.get("DATA_DIR", "data"), count, mongo_uri, redis_url,
                      os.environ.get("CACHE_URL"))
    interrupts.supervised = workers
    workers.start()
    interrupts.supervising = True
    print(f"[devstack] {count} prediction worker(s) against {redis_url.rsplit('@', 1)[-1]}; "
          f"logs: {workers.log_dir}/; Ctrl-C stops them", flush=True)
    supervise(workers, interrupts)


def main() -> None:
    commands = {"run": run, "worker": worker}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit("usage: python -m devstack run|worker")
    # until supervise() takes the signals over, SIGINT and SIGTERM unwind as Ctrl-C
    # does, so that what was started is stopped (Stack.start stops its services on any
    # exception); during a stop, they kill what is left
    interrupts = Interrupts()
    interrupts.install()
    # a TERM when what started this process (make) ends, were it killed with SIGKILL:
    # this process then stops the stack as on Ctrl-C, where it would otherwise run on
    die_with_parent(signal.SIGTERM, os.getppid())
    try:
        commands[sys.argv[1]](interrupts)
    except StartFailed as exc:
        sys.exit(f"[devstack] {exc}")


if __name__ == "__main__":
    main()
