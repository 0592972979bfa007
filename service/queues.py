"""The queues as the API sees them: core/queue.py's Queues with the app's configuration,
so that create_app's overrides (INTERACTIVE_MAX_ROWS, CHUNK_SIZE, the jobs' timeouts and
retries) reach every job the API enqueues."""
from flask import current_app

from core.queue import Queues

from . import context


def queues() -> Queues:
    return Queues(context.redis(), current_app.config)
