"""The finished-ids channel: the workers publish the ids of the predictions (and batches
and trainings) they finish; each API process listens, to answer the requests waiting for
them (service/waiting.py).

A message is the ids joined by commas; or, for rows whose submission waits for its
answers (POST /inputs with `Prefer: wait=N`: the job's meta says `answer`), a JSON
object of each id's answer, {"<id>": {"status", "result" | "error"}}, so that the
waiting request answers without reading again what the write-back just wrote."""
import json
import logging
from typing import Any

import redis

log = logging.getLogger(__name__)

CHANNEL = "predictions:finished"
Answer = dict[str, Any]  # {"status": ..., "result": ...} or {"status": ..., "error": ...}


def answer_of(status: str, value: dict[str, Any]) -> Answer:
    """What a waiting submission's item shows of a row finished with `status`."""
    return {"status": status, ("result" if status == "done" else "error"): value}


def announce(connection: redis.Redis, document_ids: list[str],
             answers: dict[str, Answer] | None = None) -> None:
    """Best effort: the write is done, and a waiting request that misses this answers
    when its wait is over (reading what was written)."""
    message = json.dumps(answers) if answers else ",".join(document_ids)
    try:
        connection.publish(CHANNEL, message)
    except redis.RedisError as exc:
        log.warning("finished predictions not announced: %s", exc)


def finished(message_data: bytes) -> tuple[list[str], dict[str, Answer]]:
    """The ids of one message on the channel, and the answers it carries (if any)."""
    text = message_data.decode()
    if text.startswith("{"):
        answers: dict[str, Answer] = json.loads(text)
        return list(answers), answers
    return text.split(","), {}
