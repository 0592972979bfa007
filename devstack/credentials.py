"""The passwords of the stack's Redis and database, made once and kept in DATA_DIR.

On loopback (LISTEN_HOST 127.0.0.1, the default) the servers take no password, as
before. Anywhere else, nothing answers without one: Redis gets `requirepass`, the
database a user (FerretDB's SCRAM authentication, or a mongod's `--auth`)."""
import ipaddress
import json
import secrets
from pathlib import Path

from cli.endpoints import write_private

FILE = "credentials.json"
MONGO_USER = "predictions"


def needed(listen_host):
    """Whether servers on this address need credentials: anywhere but loopback."""
    if listen_host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(listen_host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return True


def load_or_create(data_dir):
    """{"redis_password", "mongo_user", "mongo_password"}, the same on every run: the
    database keeps its user in DATA_DIR/mongo from the first run that made it."""
    path = Path(data_dir) / FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        values = {"redis_password": secrets.token_urlsafe(24), "mongo_user": MONGO_USER,
                  "mongo_password": secrets.token_urlsafe(24)}
        write_private(path, json.dumps(values, indent=2) + "\n")
        return values
