"""`python -m devstack run`: the whole stack in the foreground (what `make run` does)."""
import os
import sys

from cli import endpoints

from .stack import Stack, supervise


def main():
    if sys.argv[1:] != ["run"]:
        sys.exit("usage: python -m devstack run")
    stack = Stack(
        data_dir=os.environ.get("DATA_DIR", "data"),
        port=int(os.environ.get("PORT", "5000")),
        workers=int(os.environ.get("WORKERS", "1")),
        mongo_uri=os.environ.get("MONGO_URI"),
        redis_url=os.environ.get("REDIS_URL"),
    )
    stack.start()
    token = stack.create_token("admin", "admin")
    print(f"""
  API        {stack.url}/api/v1/          (health: {stack.url}/api/v1/health)
  API docs   {stack.url}/api/v1/docs
  Dashboard  {stack.url}/rq                (user: anything, password: the admin token)
  Metrics    {stack.url}/metrics
  MongoDB    {stack.mongo_uri}
  Redis      {stack.redis_url}
  Workers    {len(stack.workers)}, and one for callbacks   logs: {stack.log_dir}/
  CLI        finds these in {endpoints.stack_file(stack.data_dir)}

  Admin token (new for this run; make more with
  .venv/bin/python -m service create-token --role client --name NAME):
{token}

  Ctrl-C stops everything.""", flush=True)
    supervise(stack)


if __name__ == "__main__":
    main()
