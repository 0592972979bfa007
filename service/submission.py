"""What a POST of inputs (service/hooks.py) and a file of rows (service/batches/upload.py)
both do with rows already validated: give each its ids and its model version's order of
features, store their `queued` predictions, and enqueue their jobs.

The two paths differ only in order: a POST stores the predictions before Eve stores the
inputs (and deletes them should that fail); a file stores each chunk's inputs, then its
predictions, then queues it."""
from datetime import datetime
from typing import Any

from bson import ObjectId
from flask import g
from pymongo.database import Database
from rq import Queue

from core.documents import DONE, QUEUED, answered_document, prediction_document
from core.queue import Turns, plan_chunks
from core.types import Chunk, InputItem, ModelDocument, Result

from .queues import queues
from .validation import ordered_features


def prepare(item: InputItem, model: ModelDocument, input_id: ObjectId | None = None,
            prediction_id: ObjectId | None = None) -> InputItem:
    """The item as it is stored: its version, its features in the model's order, its
    input and prediction ids (new ones unless given), `queued`."""
    item["version"] = model["version"]
    item["features"] = ordered_features(model, item["features"])
    item["_id"] = input_id or ObjectId()
    item["prediction"] = prediction_id or ObjectId()
    item["status"] = QUEUED
    return item


def store_predictions(db: Database[Any], items: list[InputItem], stamp: datetime,
                      chunk_size: int, answers: list[Result | None] | None = None,
                      models: list[ModelDocument] | None = None) -> list[Chunk]:
    """Cut the items into their jobs' chunks and store each row's `queued` prediction;
    an item with an answer from the result cache (answers, with each item's model) is
    stored `done` instead, and gets no job. Returns the chunks, to be enqueued once the
    inputs are stored too."""
    answers = answers or [None] * len(items)
    documents = []
    for index, (item, answer) in enumerate(zip(items, answers)):
        if answer is not None and models is not None:
            model = models[index]
            item["status"] = DONE
            documents.append(answered_document(item, answer, stamp,
                                               model.get("review_threshold")))
    chunks = plan_chunks([item for item, answer in zip(items, answers) if answer is None],
                         chunk_size)
    documents += [prediction_document(item, job_id, stamp)
                  for job_id, _, _, chunk in chunks for item in chunk]
    db.predictions.insert_many(documents, ordered=False)
    return chunks


def client_name() -> str | None:
    """The caller's token name, for the audit log and the jobs' meta."""
    account = g.get("account")
    return account["name"] if account else None


def enqueue(queue: Queue, chunks: list[Chunk], turns: Turns | None = None,
            answer: bool = False) -> None:
    """Queue the chunks' jobs in one Redis pipeline, with the request's id and client
    (answer: the request waits for its rows' answers, which the workers then announce)."""
    queues().enqueue_chunks(queue, chunks, request_id=g.get("request_id"),
                            client=client_name(), turns=turns, answer=answer)
