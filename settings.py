"""Eve settings and the DOMAIN: everything the service does over HTTP is declared here.

Values that differ between machines come from the environment (see README, Configuration).
"""
import os

MONGO_URI = os.environ.get("MONGO_URI", "mongodb://127.0.0.1:27017/predictions")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
# The result cache (core/cache.py): a Redis of its own, never the queue's, bounded to
# CACHE_MAX_MB with least-recently-used eviction (`make run` starts one so; unset: no
# cache, every row a miss).
CACHE_URL = os.environ.get("CACHE_URL") or None
CACHE_MAX_MB = int(os.environ.get("CACHE_MAX_MB", "256"))

# Bounded timeouts: with a store down, requests answer 503 in about 2 s instead of hanging.
MONGO_OPTIONS = {
    "serverSelectionTimeoutMS": 2000,
    "connectTimeoutMS": 2000,
    "socketTimeoutMS": 30000,
    "tz_aware": True,
}
REDIS_TIMEOUT_SECONDS = 2

URL_PREFIX = "api"
API_VERSION = "v1"

# Rows per RQ job: a bulk POST of N inputs makes ceil(N / CHUNK_SIZE) jobs per model.
CHUNK_SIZE = int(os.environ.get("CHUNK_SIZE", "500"))
# Files take turns (core/queue.py: Turns): at most this many of a file's chunks wait in
# the queue at a time; each further one is queued when the one this many before it
# ends, behind what other files queued meanwhile. 0: a file's chunks all at once.
FILE_CHUNKS_QUEUED = int(os.environ.get("FILE_CHUNKS_QUEUED", "8"))
# Workers count each model call's rows into live quality and drift (jobs/monitoring.py);
# QUALITY_COUNTS=0 turns that off (the benchmark's side by side).
QUALITY_COUNTS = os.environ.get("QUALITY_COUNTS", "1") != "0"
MAX_BULK_ITEMS = 1000
MAX_CONTENT_LENGTH = 8 * 1024 * 1024  # Flask answers 413 past this
QUEUE_NAME = "predictions"
# Submissions of at most INTERACTIVE_MAX_ROWS rows go to a queue of their own, which
# every worker takes before the other: one row never waits behind a file's.
INTERACTIVE_QUEUE_NAME = "predictions-interactive"
INTERACTIVE_MAX_ROWS = int(os.environ.get("INTERACTIVE_MAX_ROWS", "100"))
# A client's unfinished rows at most (service/limits.py: 429 past it).
MAX_PENDING_ROWS = int(os.environ.get("MAX_PENDING_ROWS", "2000000"))
JOB_TIMEOUT_SECONDS = int(os.environ.get("JOB_TIMEOUT_SECONDS", "60"))  # a chunk takes < 1 s
# Settings renamed, {old name: new name}: the old environment name is still read for a
# release, and the workers log a deprecation line when it is set (jobs/worker.py).
RENAMED = {"BATCH_MAX_ROWS": "COALESCE_MAX_ROWS",
           "BATCH_LOOKAHEAD_JOBS": "COALESCE_LOOKAHEAD_JOBS",
           "BATCH_WAIT_MS": "COALESCE_WAIT_MS"}


def from_env(name: str, default: str) -> str:
    """The environment's value of a setting, under its name or the name it had before."""
    old = next((old for old, new in RENAMED.items() if new == name), None)
    return os.environ.get(name) or (old and os.environ.get(old)) or default


# Coalescing (jobs/coalescing.py; "batch" means a file of rows): a worker runs the jobs
# queued behind the one it took, for the same model version, in one model call, up to
# this many rows in all, looking this far down the queue for them.
COALESCE_MAX_ROWS = int(from_env("COALESCE_MAX_ROWS", "1000"))
COALESCE_LOOKAHEAD_JOBS = int(from_env("COALESCE_LOOKAHEAD_JOBS", "64"))
# ... and, for a call of fewer rows than a chunk while another prediction job is
# running, waits this long once for more rows (0: never waits).
COALESCE_WAIT_MS = float(from_env("COALESCE_WAIT_MS", "10"))
# A model call marks its rows `running` only when it runs longer than this: a quicker
# one takes them from `queued` to their final status in one write (jobs/writeback.py).
RUNNING_AFTER_SECONDS = float(os.environ.get("RUNNING_AFTER_SECONDS", "0.25"))
JOB_RETRY_INTERVALS = [1, 5, 15, 30]
# A training (jobs/training.py) is stopped, and ends `failed`, past this many seconds.
TRAINING_TIMEOUT_SECONDS = int(os.environ.get("TRAINING_TIMEOUT_SECONDS", "1800"))
# ... and sends RQ's heartbeats every this many seconds while it fits: a worker killed
# mid-training has its training retried (or failed) within a few of them (jobs/worker.py).
TRAINING_HEARTBEAT_SECONDS = int(os.environ.get("TRAINING_HEARTBEAT_SECONDS", "10"))

# Callbacks (jobs/callbacks.py): the body is signed with CALLBACK_SECRET; only URLs on
# the hosts of CALLBACK_ALLOWED_HOSTS (comma-separated host[:port]) are accepted, and
# none while either is empty. A delivery is retried after each of these intervals.
CALLBACK_SECRET = os.environ.get("CALLBACK_SECRET", "")
CALLBACK_ALLOWED_HOSTS = [h.strip() for h in os.environ.get("CALLBACK_ALLOWED_HOSTS", "")
                          .split(",") if h.strip()]
CALLBACK_TIMEOUT_SECONDS = float(os.environ.get("CALLBACK_TIMEOUT_SECONDS", "5"))
CALLBACK_RETRY_INTERVALS = [1, 2, 4, 8, 16]
DATE_FORMAT = "%a, %d %b %Y %H:%M:%S GMT"  # Eve's, also in callback bodies

# Workers: how often each runs RQ's maintenance and the reconciler, how long its
# liveness key outlives it, and when a queued/running prediction counts as stale.
MAINTENANCE_SECONDS = int(os.environ.get("MAINTENANCE_SECONDS", "30"))
# Finished rows, feedback and batches older than this many days (fractions allowed) are
# deleted by the workers (jobs/retention.py); unset: kept for ever.
RETENTION_DAYS = float(os.environ["RETENTION_DAYS"]) if os.environ.get("RETENTION_DAYS") else None
# ... each pass (a thread of the workers, one at a time) deleting until nothing expired is
# left, or for this long at most, the next pass at once when more is left.
RETENTION_PASS_SECONDS = float(os.environ.get("RETENTION_PASS_SECONDS", "20"))
# How long RQ keeps a job's result and a failed job (jobs/ hold no data of their own:
# the predictions do): a day of each for the dashboard.
JOB_RESULT_TTL = int(os.environ.get("JOB_RESULT_TTL", "86400"))
JOB_FAILURE_TTL = int(os.environ.get("JOB_FAILURE_TTL", "86400"))
WORKER_ALIVE_SECONDS = int(os.environ.get("WORKER_ALIVE_SECONDS", "10"))
RECONCILE_STALE_SECONDS = int(os.environ.get("RECONCILE_STALE_SECONDS", "60"))

# The /ui/ pages (service/ui/): a signed session cookie, only on /ui/, sent only to
# this site (SameSite=Strict), never to scripts (HttpOnly), only over HTTPS when the
# page was (service/ui/session.py); its key is SECRET_KEY, or else one kept in Redis
# for every API process. Form CSRF tokens live as long as the session.
SECRET_KEY = os.environ.get("SECRET_KEY") or None
SESSION_COOKIE_NAME = "prediction_ui"
SESSION_COOKIE_PATH = "/ui"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Strict"
PERMANENT_SESSION_LIFETIME = 12 * 3600
WTF_CSRF_TIME_LIMIT = None
UI_REVIEW_PAGE_ROWS = 50

# Uploaded models: the largest file POST /models takes, and what each worker keeps
# loaded (least recently used first out) by artifact bytes and by count.
MODEL_UPLOAD_MAX_MB = int(os.environ.get("MODEL_UPLOAD_MAX_MB", "512"))
MODEL_CACHE_MB = int(os.environ.get("MODEL_CACHE_MB", "1024"))
MODEL_CACHE_MODELS = int(os.environ.get("MODEL_CACHE_MODELS", "32"))

ARTIFACTS_DIR = os.environ.get("ARTIFACTS_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "artifacts")

# Per-token request budget (Redis-backed, fixed window); 429 with Retry-After past it.
RATE_LIMIT_REQUESTS = int(os.environ.get("RATE_LIMIT_REQUESTS", "6000"))
RATE_LIMIT_WINDOW_SECONDS = 60

PAGINATION_DEFAULT = 25
PAGINATION_LIMIT = 1000  # page-size cap for max_results
MONGO_QUERY_BLACKLIST = [
    "$where", "$regex", "$function", "$accumulator", "$expr", "$jsonSchema", "$text",
]
ALLOW_UNKNOWN = False
# ETags are checked when a client sends If-Match, not required: `DELETE /tokens/{id}`
# and `PATCH /models/{id}` work as plain requests.
ENFORCE_IF_MATCH = False
X_DOMAINS = None
EXTRA_RESPONSE_FIELDS = ["prediction", "status"]

# Roles (service/roles.py): who may call what, per resource and method. A client works
# with its own documents; a reviewer reads every client's predictions and inputs and
# labels them; an analyst reads everything but tokens and writes nothing; an admin does
# all. The OpenAPI document states each operation's roles as `x-roles`.
ROLES = ["admin", "client", "reviewer", "analyst"]
ADMIN = ["admin"]
CLIENT_OR_ADMIN = ["admin", "client"]
EVERYONE = ROLES
READERS = ["admin", "client", "analyst"]  # a client its own, the others everyone's
# A resource whose documents belong to the client that made them: a client reads its own
# (Eve's auth_field filters every query of a client by `owner`); the other roles read all.
OWNED_BY_CLIENTS = {"allowed_read_roles": READERS, "allowed_item_read_roles": READERS,
                    "allowed_write_roles": CLIENT_OR_ADMIN,
                    "allowed_item_write_roles": CLIENT_OR_ADMIN, "auth_field": "owner"}

features_schema = {"type": ["list", "dict"], "required": True, "model_features": True}

# as MLflow and SageMaker users name models: fraud-detector, churn.v2
MODEL_NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
ALIAS = {"type": "string", "regex": "^[a-z][a-z0-9_-]{0,63}$"}

# Written by POST /api/v1/models (service/models/uploads.py: multipart, not Eve's JSON POST)
# and at the first start for the shipped models; a PATCH changes aliases and retired.
models = {
    "item_title": "model",
    "resource_methods": ["GET"],
    "item_methods": ["GET", "PATCH", "DELETE"],
    "allowed_read_roles": EVERYONE,
    "allowed_write_roles": ADMIN,
    "allowed_item_read_roles": EVERYONE,
    "allowed_item_write_roles": ADMIN,
    "mongo_indexes": {"name_version": ([("name", 1), ("version", 1)], {"unique": True}),
                      "name_aliases": [("name", 1), ("aliases", 1)]},
    "schema": {
        "name": {"type": "string", "readonly": True},
        "version": {"type": "integer", "readonly": True},
        "task": {"type": "string", "readonly": True, "allowed": ["classification", "regression"]},
        "features": {"type": "list", "readonly": True, "schema": {"type": "string"}},
        "feature_types": {"type": "list", "readonly": True,
                          "schema": {"type": "string", "allowed": ["number", "string", "boolean"]}},
        "classes": {"type": "list", "readonly": True, "schema": {"type": "string"}},
        "metrics": {"type": "dict", "readonly": True, "valuesrules": {"type": "number"}},
        "artifact": {"type": "dict", "readonly": True, "schema": {
            "sha256": {"type": "string"}, "size": {"type": "integer"},
            "format": {"type": "string"}, "path": {"type": "string"}}},
        "trained_at": {"type": "datetime", "readonly": True},
        "sklearn_version": {"type": "string", "readonly": True},
        "aliases": {"type": "list", "schema": ALIAS, "maxlength": 16},
        "retired": {"type": "boolean"},
        # live quality and drift (service/models/quality.py): a feature drifts at a PSI of
        # drift_threshold or more; a classifier's answer less sure than review_threshold
        # waits for a person in the review queue (null: no queue)
        "drift_threshold": {"type": "number", "min": 1e-9, "max": 1e6},
        "review_threshold": {"type": "number", "min": 0, "max": 1, "nullable": True},
        "reference": {"type": "dict", "readonly": True, "nullable": True},
        # the version that also answers every row this one answers (service/validation.py:
        # another version of the same name), and how long its answers are kept for rows
        # sent again (core/cache.py; 0: not at all)
        "shadow": {"type": "integer", "min": 1, "max": 2**31 - 1, "nullable": True,
                   "shadow_version": True},
        "cache_seconds": {"type": "integer", "min": 0, "max": 604800},
        "training": {"type": "dict", "readonly": True, "schema": {
            "sha256": {"type": "string"}, "rows": {"type": "integer"}, "size": {"type": "integer"}}},
        "trained_from": {"type": "dict", "readonly": True, "schema": {
            "training": {"type": "objectid"}, "version": {"type": "integer"},
            "rows": {"type": "integer"}}},
    },
}

inputs = {
    "item_title": "input",
    "resource_methods": ["GET", "POST"],
    "item_methods": ["GET"],
    **OWNED_BY_CLIENTS,
    # reviewers read the inputs of the predictions they label
    "allowed_read_roles": EVERYONE,
    "allowed_item_read_roles": EVERYONE,
    # See the predictions' indexes.
    "mongo_indexes": {"ref_owner_created": [("ref", 1), ("owner", 1), ("_created", -1)],
                      "owner_created": [("owner", 1), ("_created", -1)],
                      "created": [("_created", -1)]},
    "schema": {
        "model": {"type": "string", "required": True, "registered_model": True},
        "version": {"type": "integer", "min": 1, "max": 2**31 - 1},
        "alias": ALIAS,
        "features": features_schema,
        "ref": {"type": "string", "maxlength": 128},
        "callback_url": {"type": "string", "maxlength": 2048, "allowed_callback": True},
        "prediction": {"type": "objectid", "readonly": True},
        "status": {"type": "string", "readonly": True},
        "batch": {"type": "objectid", "readonly": True},
    },
}

CALLBACK = {"type": "dict", "readonly": True, "schema": {
    "status": {"type": "string", "allowed": ["pending", "delivered", "failed"]},
    "attempts": {"type": "integer"},
    "last_error": {"type": "string", "nullable": True}}}

STATUSES = ["queued", "running", "done", "failed", "cancelled"]

predictions = {
    "item_title": "prediction",
    "resource_methods": ["GET", "DELETE"],
    "item_methods": ["GET", "DELETE"],
    "allowed_read_roles": EVERYONE,
    "allowed_item_read_roles": EVERYONE,
    "allowed_write_roles": ADMIN,
    "allowed_item_write_roles": ADMIN,
    "auth_field": "owner",
    # Indexes as a client's queries use them: Eve adds the owner to each of its filters,
    # and its lists sort by -_created, so the indexes lead with owner (then the filtered
    # field) and end in _created: a page and its count read one index. No index on
    # `owner` alone: those led by it serve it, and each index costs every write. (The
    # development database needs the same ones: docs/ferretdb.md.)
    "mongo_indexes": {
        "owner_status_created": [("owner", 1), ("status", 1), ("_created", -1)],
        "model_owner_created": [("model", 1), ("owner", 1), ("_created", -1)],
        "owner_created": [("owner", 1), ("_created", -1)],
        "created": [("_created", -1)],
        "status_queued_at": [("status", 1), ("queued_at", 1)],
        "review_created": [("review", 1), ("_created", -1)],
        "input": [("input", 1)],
        "batch_created": [("batch", 1), ("_created", -1)],
        # retention's slices and a rerun's count of another worker's write (jobs/)
        "status_finished": [("status", 1), ("finished_at", 1)],
    },
    "schema": {
        "input": {"type": "objectid", "readonly": True},
        "model": {"type": "string", "readonly": True},
        "version": {"type": "integer", "readonly": True},
        "status": {"type": "string", "allowed": STATUSES, "readonly": True},
        "result": {"type": "dict", "readonly": True},
        "error": {"type": "dict", "readonly": True},
        "attempts": {"type": "integer", "readonly": True},
        "job": {"type": "string", "readonly": True},
        "queued_at": {"type": "datetime", "readonly": True},
        "started_at": {"type": "datetime", "readonly": True},
        "finished_at": {"type": "datetime", "readonly": True},
        "worker": {"type": "string", "readonly": True},  # host:pid that wrote the result
        "batch": {"type": "objectid", "readonly": True},
        "callback_url": {"type": "string", "readonly": True},
        "callback": CALLBACK,
        # ground truth (feedback) and the review queue
        "actual": {"type": ["string", "number"], "readonly": True},
        "feedback_at": {"type": "datetime", "readonly": True},
        "review": {"type": "string", "allowed": ["pending", "done"], "readonly": True},
        "reviewed_by": {"type": "string", "readonly": True},
        # the shadow version's answer to the same row (never the result, a callback's or
        # an export's), and whether the result came from the cache (core/cache.py)
        "shadow": {"type": "dict", "readonly": True, "schema": {
            "version": {"type": "integer"}, "result": {"type": "dict"}}},
        "cached": {"type": "boolean", "readonly": True},
    },
}

# Ground truth: the outcome a prediction should have had (service/feedback.py). Every
# submission is kept; the prediction shows the latest as `actual`.
feedback = {
    "item_title": "feedback",
    "resource_methods": ["GET", "POST"],
    "item_methods": ["GET"],
    **OWNED_BY_CLIENTS,
    "allowed_write_roles": ["admin", "client", "reviewer"],  # a reviewer labels any row
    "mongo_indexes": {"owner_created": [("owner", 1), ("_created", -1)],
                      "created": [("_created", -1)],
                      "prediction": [("prediction", 1)]},
    "schema": {
        "prediction": {"type": "objectid", "required": True, "feedback_prediction": True},
        "actual": {"type": ["string", "number"], "required": True, "feedback_actual": True},
        "note": {"type": "string", "maxlength": 1000},
        "model": {"type": "string", "readonly": True},
        "version": {"type": "integer", "readonly": True},
        "by": {"type": "string", "readonly": True},
    },
}

# Files of rows (service/batches/: POST, /results, /cancel, /feedback; GET is Eve's). Written by
# the API and the workers only; the counters are kept by the workers (core/batches.py).
batches = {
    "item_title": "batch",
    "resource_methods": ["GET"],
    "item_methods": ["GET"],
    **OWNED_BY_CLIENTS,
    "mongo_indexes": {"owner_created": [("owner", 1), ("_created", -1)],
                      "created": [("_created", -1)],
                      "status_updated": [("status", 1), ("_updated", 1)]},
    "schema": {
        "model": {"type": "string", "readonly": True},
        "version": {"type": "integer", "readonly": True},
        "status": {"type": "string", "readonly": True,
                   "allowed": ["queued", "running", "done", "cancelled"]},
        "total": {"type": "integer", "readonly": True},
        "done": {"type": "integer", "readonly": True},
        "failed": {"type": "integer", "readonly": True},
        "cancelled": {"type": "integer", "readonly": True},
        "created": {"type": "datetime", "readonly": True},
        "finished_at": {"type": "datetime", "readonly": True, "nullable": True},
        "ref_column": {"type": "string", "readonly": True},
        "callback_url": {"type": "string", "readonly": True},
        "callback": CALLBACK,
    },
}

# API tokens (admin only). `_id` is the sha256 of the secret (service/tokens.py); the
# secret itself is never stored and is shown once, in the POST's answer.
tokens = {
    "item_title": "token",
    "resource_methods": ["GET", "POST"],
    "item_methods": ["GET", "DELETE"],
    "allowed_roles": ADMIN,
    "allowed_item_roles": ADMIN,
    "item_url": 'regex("[0-9a-f]{64}")',
    "extra_response_fields": ["name", "role"],
    "schema": {
        "_id": {"type": "string", "readonly": True},
        "name": {"type": "string", "required": True, "minlength": 1, "maxlength": 128},
        "role": {"type": "string", "required": True, "allowed": ROLES},
        "last_used": {"type": "datetime", "readonly": True},
    },
}

# Retraining a version from its labels (service/trainings.py: POST /models/{id}/retrain;
# jobs/training.py). Written by the API and the workers only.
TRAINING_STATUSES = ["queued", "running", "done", "failed"]
trainings = {
    "item_title": "training",
    "resource_methods": ["GET"],
    "item_methods": ["GET"],
    "allowed_read_roles": ["admin", "analyst"],
    "allowed_item_read_roles": ["admin", "analyst"],
    "mongo_indexes": {"created": [("_created", -1)], "model_created": [("model", 1), ("_created", -1)],
                      "status_updated": [("status", 1), ("_updated", 1)]},
    "schema": {
        "model": {"type": "objectid", "readonly": True},
        "name": {"type": "string", "readonly": True},
        "source_version": {"type": "integer", "readonly": True},
        "status": {"type": "string", "readonly": True, "allowed": TRAINING_STATUSES},
        "window": {"type": "string", "readonly": True},
        "holdout": {"type": "number", "readonly": True},
        "seed": {"type": "integer", "readonly": True},
        "rows": {"type": "integer", "readonly": True, "nullable": True},
        "holdout_rows": {"type": "integer", "readonly": True, "nullable": True},
        "labelled_rows": {"type": "integer", "readonly": True, "nullable": True},
        "file_rows": {"type": "integer", "readonly": True, "nullable": True},
        "version": {"type": "integer", "readonly": True, "nullable": True},
        "metrics": {"type": "dict", "readonly": True, "nullable": True},
        "error": {"type": "dict", "readonly": True, "nullable": True},
        "attempts": {"type": "integer", "readonly": True},
        "started_at": {"type": "datetime", "readonly": True, "nullable": True},
        "finished_at": {"type": "datetime", "readonly": True, "nullable": True},
    },
}

DOMAIN = {"models": models, "inputs": inputs, "predictions": predictions, "batches": batches,
          "tokens": tokens, "feedback": feedback, "trainings": trainings}
