"""POST /api/v1/batches/{id}/cancel: the rows not started yet are cancelled
(core/batches.py: cancel); a finished batch is answered as it is."""
import logging

from eve.auth import requires_auth
from eve.render import send_response
from flask import g
from werkzeug.wrappers import Response

from core import batches as counters
from core.documents import UNFINISHED
from core.logs import audit

from .. import context
from ..queues import queues
from .common import caller_batch, owner, shown

log = logging.getLogger(__name__)


@requires_auth("item")
def cancel(resource: str, batch_id: str) -> Response:
    batch = caller_batch(batch_id)
    if batch["status"] in UNFINISHED:
        batch = counters.cancel(context.db(), queues(), batch)
        audit(log, "batch_cancelled", request_id=g.get("request_id"), client=owner(),
              batch=batch["_id"], cancelled=batch["cancelled"])
    return send_response("batches", (shown(batch), None, batch["_etag"], 200))
