"""The finished-ids channel: the workers publish the ids of the predictions (and
batches) they finish; each API process listens, to answer the requests long-polling
them (service/waiting.py)."""
import logging

import redis

log = logging.getLogger(__name__)

CHANNEL = "predictions:finished"


def announce(connection: redis.Redis, document_ids: list[str]) -> None:
    """Best effort: the write is done, and a waiting request that misses this answers
    when its wait is over."""
    try:
        connection.publish(CHANNEL, ",".join(document_ids))
    except redis.RedisError as exc:
        log.warning("finished predictions not announced: %s", exc)


def finished_ids(message_data: bytes) -> list[str]:
    """The ids of one message on the channel."""
    return message_data.decode().split(",")
