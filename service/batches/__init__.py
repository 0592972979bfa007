"""Files of rows, /api/v1/batches, one module per route as Eve keeps one per method:
upload.py (POST /batches), export.py (GET /batches/{id}/results), cancel.py (POST
/batches/{id}/cancel), labels.py (POST /batches/{id}/feedback); files.py reads and
validates a file whole before anything is stored; common.py is what they share.
GET /batches and /batches/{id} are Eve's own (settings.py)."""
from flask import Blueprint, Flask

from ..errors import api_prefix
from .cancel import cancel
from .export import results
from .labels import label_batch
from .upload import create


def attach(app: Flask) -> None:
    blueprint = Blueprint("batches", __name__)
    item = {"resource": "batches"}
    blueprint.add_url_rule("/batches", view_func=create, methods=["POST"])
    blueprint.add_url_rule("/batches/<batch_id>/feedback", view_func=label_batch,
                           methods=["POST"], defaults=item)
    blueprint.add_url_rule("/batches/<batch_id>/results", view_func=results, methods=["GET"],
                           defaults=item)
    blueprint.add_url_rule("/batches/<batch_id>/cancel", view_func=cancel, methods=["POST"],
                           defaults=item)
    app.register_blueprint(blueprint, url_prefix=api_prefix(app.config))
