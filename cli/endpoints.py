"""Where the servers are, for the command line.

`make run` starts the database and Redis on ports it picks, and writes them with the
API's URL to DATA_DIR/stack.json; every CLI command reads that file, so a second
terminal needs no environment variables. An environment variable still wins."""
import json
import os
from pathlib import Path
from typing import Any

import settings

ROOT = Path(settings.__file__).resolve().parent
STACK_FILE = "stack.json"
DEFAULT_API_URL = "http://127.0.0.1:5000"

StrPath = str | os.PathLike[str]


def stack_file(data_dir: StrPath | None = None) -> Path:
    return Path(data_dir or os.environ.get("DATA_DIR") or ROOT / "data").resolve() / STACK_FILE


def write_private(path: StrPath, text: str) -> Path:
    """Write a file only its owner can read (mode 0600, whatever the umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    return path


def write_stack_file(data_dir: StrPath | None, mongo_uri: str, redis_url: str, api_url: str) -> Path:
    """Mode 0600: off loopback the URIs carry the servers' passwords."""
    return write_private(stack_file(data_dir), json.dumps(
        {"mongo_uri": mongo_uri, "redis_url": redis_url, "api_url": api_url}, indent=2) + "\n")


def remove_stack_file(data_dir: StrPath | None) -> None:
    stack_file(data_dir).unlink(missing_ok=True)


def read_stack_file() -> dict[str, Any]:
    """What the running (or last) `make run` wrote; {} when there is no such file."""
    try:
        return json.loads(stack_file().read_text())
    except (OSError, ValueError):
        return {}


def mongo_uri() -> str:
    return os.environ.get("MONGO_URI") or read_stack_file().get("mongo_uri") or settings.MONGO_URI


def api_url() -> str:
    return (os.environ.get("PREDICTION_API_URL") or read_stack_file().get("api_url")
            or DEFAULT_API_URL)
