"""Command line: python -m service create-token | train | sync-models | submit | wait |
export. The last three talk to a running API (--url, --token or PREDICTION_API_URL,
PREDICTION_API_TOKEN) through service.client.Client."""
import argparse
import csv
import os
import sys

import pymongo

import settings


def database():
    client = pymongo.MongoClient(settings.MONGO_URI, **settings.MONGO_OPTIONS)
    return client.get_default_database()


def cmd_create_token(args):
    from .tokens import create_token
    token = create_token(database(), args.role, args.name)
    print(f"created {args.role} token for {args.name!r} (stored hashed; shown only now):",
          file=sys.stderr)
    print(token)


def cmd_train(args):
    from .train import train_all
    for entry in train_all():
        print(f"{entry['name']} v{entry['version']}: {entry['metrics']} "
              f"sha256={entry['artifact']['sha256'][:12]}")


def cmd_sync_models(args):
    from .registry import sync_manifest
    sync_manifest(database())
    print("models synced")


def api_client(args):
    from .client import Client
    if not args.token:
        sys.exit("a token is needed: --token or PREDICTION_API_TOKEN")
    return Client(args.url, args.token)


def read_rows(path, features):
    """CSV rows as {name: value} when the header names every feature, else as lists in
    column order; a `ref` column becomes each input's ref."""
    with open(path, newline="") as f:
        table = list(csv.DictReader(f))
    if not table:
        return [], []
    refs = [row.pop("ref", None) for row in table]
    if set(features) <= set(table[0]):
        rows = [{name: float(row[name]) for name in features} for row in table]
    else:
        rows = [[float(value) for value in row.values()] for row in table]
    return rows, refs


def read_ids(path):
    source = sys.stdin if path in (None, "-") else open(path)
    return [line.strip() for line in source if line.strip()]


def cmd_submit(args):
    from tqdm import tqdm
    api = api_client(args)
    features = {name: f for (name, _), f in api.feature_names().items()}.get(args.model)
    if features is None:
        sys.exit(f"unknown model {args.model!r}")
    rows, refs = read_rows(args.file, features)
    with tqdm(total=len(rows), unit="row", desc="submitted", file=sys.stderr) as bar:
        ids = api.submit(args.model, rows, refs=refs, version=args.version, progress=bar.update)
    print("\n".join(ids))


def cmd_wait(args):
    from tqdm import tqdm
    api = api_client(args)
    ids = read_ids(args.ids) if args.ids else None
    total = len(ids) if ids is not None else api.pending()
    with tqdm(total=total, unit="prediction", desc="done", file=sys.stderr) as bar:
        def progress(left):
            bar.update(max(0, total - left - bar.n))
        api.wait(ids, timeout=args.timeout, progress=progress)


def cmd_export(args):
    api = api_client(args)
    rows = api.export(read_ids(args.ids) if args.ids else None)
    columns = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    writer = csv.DictWriter(sys.stdout, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)


def add_api_arguments(parser):
    parser.add_argument("--url", default=os.environ.get("PREDICTION_API_URL",
                                                        "http://127.0.0.1:5000"))
    parser.add_argument("--token", default=os.environ.get("PREDICTION_API_TOKEN"))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m service")
    commands = parser.add_subparsers(dest="command", required=True)
    token = commands.add_parser("create-token", help="create an API token, print it")
    token.add_argument("--role", choices=["client", "admin"], required=True)
    token.add_argument("--name", required=True)
    token.set_defaults(run=cmd_create_token)
    commands.add_parser("train", help="train the shipped models into artifacts/").set_defaults(
        run=cmd_train)
    commands.add_parser("sync-models", help="register artifacts/manifest.json").set_defaults(
        run=cmd_sync_models)
    submit = commands.add_parser("submit", help="bulk-post a CSV, print the prediction ids")
    submit.add_argument("file")
    submit.add_argument("--model", required=True)
    submit.add_argument("--version", type=int)
    submit.set_defaults(run=cmd_submit)
    wait = commands.add_parser("wait", help="progress bar until the predictions are done")
    wait.add_argument("ids", nargs="?", help="file of prediction ids (- for stdin); "
                                             "default: all of this client's")
    wait.add_argument("--timeout", type=float)
    wait.set_defaults(run=cmd_wait)
    export = commands.add_parser("export", help="predictions joined to their inputs")
    export.add_argument("--format", choices=["csv"], default="csv")
    export.add_argument("--ids", help="file of prediction ids; default: all of this client's")
    export.set_defaults(run=cmd_export)
    for command in (submit, wait, export):
        add_api_arguments(command)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
