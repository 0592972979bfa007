"""Command line: python -m service create-token | train | sync-models."""
import argparse
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
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
