"""Starts the API under gunicorn: `python run.py` (PORT, default 5000; LISTEN_HOST,
default 127.0.0.1).

gunicorn builds the app with the factory in each of its worker processes."""
import os
import sys
from pathlib import Path

GUNICORN_WORKERS = os.environ.get("API_PROCESSES", "2")
# Threads per process: a long-polling request (service/waiting.py) holds one while it waits.
GUNICORN_THREADS = os.environ.get("API_THREADS", "128")


def gunicorn_argv(port):
    return [
        str(Path(sys.executable).with_name("gunicorn")),
        "--bind", f"{os.environ.get('LISTEN_HOST') or '127.0.0.1'}:{port}",
        "--workers", GUNICORN_WORKERS, "--threads", GUNICORN_THREADS,
        "--worker-class", "gthread", "--timeout", "60", "--graceful-timeout", "10",
        "--config", "python:service.gunicorn_conf",
        "service.app:create_app()",
    ]


def main():
    argv = gunicorn_argv(os.environ.get("PORT", "5000"))
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
