"""Command line: `python -m service COMMAND`.

Against the database (as `make run` left it): create-token, sync-models.
Without a server: train, references (the shipped models, artifacts/).
Against a running API (--url, --token or PREDICTION_API_URL, PREDICTION_API_TOKEN),
through cli.client.Client: submit, wait, export, register-model, feedback, quality,
drift, retrain, compare, shadow, cache.

Servers are found as cli/endpoints.py says (environment, else what `make run`
wrote). An expected failure (a server that does not answer, a refused token, a bad
file or argument) ends the command with one line on stderr and a non-zero exit."""
import argparse
import csv
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pymongo
import pymongo.errors
import requests
from pymongo.database import Database

import settings

from . import endpoints
from .client import ApiError

if TYPE_CHECKING:
    from .client import Client


class CommandError(Exception):
    """An expected failure: its message is all the user sees."""


def without_password(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    return uri.replace(f":{parts.password}@", ":***@", 1)


def database() -> Database[Any]:
    """The database named in the URI, after a ping (2 s at most when nobody answers)."""
    uri = endpoints.mongo_uri()
    try:
        options: dict[str, Any] = settings.MONGO_OPTIONS
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri, **options)
        client.admin.command("ping")
        return client.get_default_database()
    except (pymongo.errors.PyMongoError, ValueError) as exc:
        raise CommandError(f"cannot reach MongoDB at {without_password(uri)} "
                           f"(is make run running? set MONGO_URI): {type(exc).__name__}") from None


def cmd_create_token(args: argparse.Namespace) -> None:
    from service.tokens import create_token
    token = create_token(database(), args.role, args.name)
    print(f"created {args.role} token for {args.name!r} (stored hashed; shown only now):",
          file=sys.stderr)
    print(token)


def cmd_train(args: argparse.Namespace) -> None:
    from .train import train_all
    for entry in train_all():
        print(f"{entry['name']} v{entry['version']}: {entry['metrics']} "
              f"sha256={entry['artifact']['sha256'][:12]}")


def cmd_sync_models(args: argparse.Namespace) -> None:
    from service.models.catalog import sync_manifest
    sync_manifest(database())
    print("models synced")


def api_client(args: argparse.Namespace) -> "Client":
    from .client import Client
    if not args.token:
        raise CommandError("a token is needed: --token or PREDICTION_API_TOKEN")
    return Client(args.url or endpoints.api_url(), args.token)


def read_ids(path: str | None) -> list[str]:
    source = sys.stdin if path in (None, "-") else open(path)
    return [line.strip() for line in source if line.strip()]


def cmd_submit(args: argparse.Namespace) -> None:
    """Upload the file as one batch and print its id; with --wait, a progress bar from
    the batch's counters until it is finished; with --out, its results into that file."""
    from tqdm import tqdm
    api = api_client(args)
    batch = api.submit_file(args.file, args.model, version=args.version, alias=args.alias,
                            callback_url=args.callback_url)
    print(batch["_id"], flush=True)
    if not (args.wait or args.out):
        return
    with tqdm(total=batch["total"], unit="row", desc="done", file=sys.stderr) as bar:
        def progress(current: dict[str, Any]) -> None:
            bar.update(current["done"] + current["failed"] + current["cancelled"] - bar.n)
        batch = api.wait_batch(batch["_id"], timeout=args.timeout, progress=progress)
    print(f"batch {batch['_id']}: {batch['status']}, {batch['done']} done, "
          f"{batch['failed']} failed, {batch['cancelled']} cancelled", file=sys.stderr)
    if args.out:
        api.batch_results(batch["_id"], args.out,
                          "jsonl" if args.out.endswith((".jsonl", ".ndjson")) else "csv")


def cmd_wait(args: argparse.Namespace) -> None:
    from tqdm import tqdm
    api = api_client(args)
    ids = read_ids(args.ids) if args.ids else None
    total = len(ids) if ids is not None else api.pending()
    with tqdm(total=total, unit="prediction", desc="done", file=sys.stderr) as bar:
        def progress(left: int) -> None:
            bar.update(max(0, total - left - bar.n))
        api.wait(ids, timeout=args.timeout, progress=progress)


def cmd_register_model(args: argparse.Namespace) -> None:
    features = [f.strip() for f in args.features.split(",")] if args.features else None
    document = api_client(args).register_model(args.file, args.name, args.alias, features,
                                               args.reference)
    print(json.dumps(document, indent=2))


def cmd_feedback(args: argparse.Namespace) -> None:
    print(json.dumps(api_client(args).batch_feedback(args.batch, args.file)))


def cmd_figures(args: argparse.Namespace) -> None:
    print(json.dumps(api_client(args).model_figures(args.model, args.version, args.what,
                                                    args.window), indent=2))


def cmd_retrain(args: argparse.Namespace) -> None:
    """Queue a training; with --wait, a progress line until it ends, then its figures."""
    api = api_client(args)
    training = api.retrain(args.model, args.version, args.window, args.holdout)
    print(training["_id"], flush=True)
    if not args.wait:
        return

    def progress(current: dict[str, Any]) -> None:
        print(f"\rtraining {current['_id']}: {current['status']}", end="", file=sys.stderr,
              flush=True)
    training = api.wait_training(training["_id"], timeout=args.timeout, progress=progress)
    print(file=sys.stderr)
    if training["status"] == "failed":
        raise CommandError(f"training failed: {training['error']['message']}")
    print(json.dumps({key: training.get(key) for key in (
        "version", "rows", "holdout_rows", "metrics")}, indent=2))


def cmd_compare(args: argparse.Namespace) -> None:
    print(json.dumps(api_client(args).compare(args.model, args.version, args.with_version,
                                              args.window), indent=2))


def cmd_shadow(args: argparse.Namespace) -> None:
    shadow = None if args.shadow == "none" else int(args.shadow)
    model = api_client(args).patch_model(args.model, args.version, {"shadow": shadow})
    print(f"{model['name']} v{model['version']}: shadow {model.get('shadow') or 'none'}")


def cmd_cache(args: argparse.Namespace) -> None:
    model = api_client(args).patch_model(args.model, args.version,
                                         {"cache_seconds": args.seconds})
    print(f"{model['name']} v{model['version']}: answers kept {model.get('cache_seconds')} s")


def cmd_references(args: argparse.Namespace) -> None:
    from .train import references_all
    for entry in references_all():
        print(f"{entry['name']} v{entry['version']}: {entry['reference']}")


def cmd_export(args: argparse.Namespace) -> None:
    api = api_client(args)
    rows = api.export(read_ids(args.ids) if args.ids else None)
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    writer = csv.DictWriter(sys.stdout, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)


def add_api_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="the API (default: PREDICTION_API_URL, else the URL "
                                      "`make run` wrote, else http://127.0.0.1:5000)")
    parser.add_argument("--token", default=os.environ.get("PREDICTION_API_TOKEN"))


def run(args: argparse.Namespace) -> str | None:
    """args.run(args), with each expected failure said in one line."""
    try:
        args.run(args)
    except CommandError as exc:
        return str(exc)
    except requests.ConnectionError:
        url = getattr(args, "url", None) or endpoints.api_url()
        return f"cannot reach the API at {url} (is make run running? set PREDICTION_API_URL)"
    except requests.Timeout:
        return "the API did not answer in time"
    except ApiError as exc:
        return f"the API refused: {exc}"
    except TimeoutError as exc:
        return f"timed out: {exc}"
    except LookupError as exc:
        return str(exc)
    except OSError as exc:
        return f"{exc.filename or 'file'}: {exc.strerror or exc}"
    except KeyboardInterrupt:
        return "interrupted"
    return None


def build_parser() -> argparse.ArgumentParser:
    """Every command, its arguments, and what it runs."""
    parser = argparse.ArgumentParser(prog="python -m service")
    commands = parser.add_subparsers(dest="command", required=True)
    token = commands.add_parser("create-token", help="create an API token, print it")
    token.add_argument("--role", choices=["admin", "client", "reviewer", "analyst"], required=True)
    token.add_argument("--name", required=True)
    token.set_defaults(run=cmd_create_token)
    commands.add_parser("train", help="train the shipped models into artifacts/").set_defaults(
        run=cmd_train)
    commands.add_parser("sync-models", help="register artifacts/manifest.json").set_defaults(
        run=cmd_sync_models)
    submit = commands.add_parser("submit", help="upload a CSV file as one batch, print its id")
    submit.add_argument("file", help="CSV whose header names the features (any order); a "
                                     "`ref` column is kept")
    submit.add_argument("--model", required=True)
    which = submit.add_mutually_exclusive_group()
    which.add_argument("--version", type=int)
    which.add_argument("--alias")
    submit.add_argument("--wait", action="store_true", help="progress bar until it is done")
    submit.add_argument("--out", help="write the results there once done (CSV; JSON lines "
                                      "for a name ending in .jsonl); implies --wait")
    submit.add_argument("--callback-url", help="POSTed the batch when it is finished")
    submit.add_argument("--timeout", type=float)
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
    register = commands.add_parser("register-model",
                                   help="upload a model file (admin token), print its document")
    register.add_argument("file", help="a .skops file, or a joblib/pickle dump")
    register.add_argument("--name", required=True)
    register.add_argument("--alias", help="e.g. production: this version serves by default")
    register.add_argument("--features", help="a,b,c: names for a model fitted on an array")
    register.add_argument("--reference", help="a CSV of reference rows for drift")
    register.set_defaults(run=cmd_register_model)
    feedback = commands.add_parser("feedback", help="label a batch's rows: a CSV of ref,actual")
    feedback.add_argument("file")
    feedback.add_argument("--batch", required=True, help="the batch id")
    feedback.set_defaults(run=cmd_feedback)
    commands.add_parser("references", help="the shipped models' reference profiles").set_defaults(
        run=cmd_references)
    figures = []
    for what in ("quality", "drift"):
        command = commands.add_parser(what, help=f"a model version's live {what} (admin token)")
        command.add_argument("model")
        command.add_argument("--version", type=int, help="default: the latest")
        command.add_argument("--window", default="24h", choices=["1h", "24h", "7d", "all"])
        command.set_defaults(run=cmd_figures, what=what)
        figures.append(command)
    retrain = commands.add_parser("retrain", help="retrain a version from its labels "
                                                  "(admin token): a new, unaliased version")
    retrain.add_argument("model")
    retrain.add_argument("--version", type=int, required=True)
    retrain.add_argument("--window", default="all", choices=["1h", "24h", "7d", "all"])
    retrain.add_argument("--holdout", type=float, default=0.2)
    retrain.add_argument("--wait", action="store_true", help="until it ends, then its figures")
    retrain.add_argument("--timeout", type=float)
    retrain.set_defaults(run=cmd_retrain)
    compare = commands.add_parser("compare", help="two versions on the rows both answered "
                                                  "(one the other's shadow)")
    compare.add_argument("model")
    compare.add_argument("--version", type=int, required=True)
    compare.add_argument("--with", dest="with_version", type=int, required=True)
    compare.add_argument("--window", default="24h", choices=["1h", "24h", "7d", "all"])
    compare.set_defaults(run=cmd_compare)
    shadow = commands.add_parser("shadow", help="have another version answer every row "
                                                "of this one beside it (admin token)")
    shadow.add_argument("model")
    shadow.add_argument("--version", type=int, required=True)
    shadow.add_argument("--shadow", required=True, help="the other version, or none")
    shadow.set_defaults(run=cmd_shadow)
    cache = commands.add_parser("cache", help="keep a version's answers for rows sent again "
                                              "(admin token; 0: off)")
    cache.add_argument("model")
    cache.add_argument("--version", type=int, required=True)
    cache.add_argument("--seconds", type=int, required=True)
    cache.set_defaults(run=cmd_cache)
    for command in (submit, wait, export, register, feedback, *figures, retrain, compare,
                    shadow, cache):
        add_api_arguments(command)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    failure = run(args)
    if failure:
        print("error: " + " ".join(failure.split()), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
