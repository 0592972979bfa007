"""`python -m devstack run`: the whole stack in the foreground (what `make run` does)."""
import os
import sys

from cli import endpoints

from .stack import Stack, supervise


def main():
    if sys.argv[1:] != ["run"]:
        sys.exit("usage: python -m devstack run")
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
    )
    stack.start()
    token = stack.create_token("admin", "admin")
    print(f"""
  API        {stack.url}/api/v1/          (health: {stack.url}/api/v1/health)
  API docs   {stack.url}/api/v1/docs
  Pages      {stack.url}/ui/                (log in with the admin token below)
  Dashboard  {stack.url}/rq                (user: anything, password: the admin token)
  Metrics    {stack.url}/metrics
  MongoDB    {stack.mongo_uri}
  Redis      {stack.redis_url}
  Workers    {workers}, {interactive} for small submissions only, one for callbacks
             logs: {stack.log_dir}/
  CLI        finds these in {endpoints.stack_file(stack.data_dir)}

  Admin token (new for this run; make more with
  .venv/bin/python -m service create-token --role client --name NAME):
{token}

  Ctrl-C stops everything.""", flush=True)
    supervise(stack)


if __name__ == "__main__":
    main()
