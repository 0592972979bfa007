"""Configuration is read one way: the API from app.config, so that what create_app's
`overrides` say governs every request (the queues and their jobs included); the workers
from the settings module. No module of service/ but the factory reads `settings`."""
import ast
from pathlib import Path

import mongomock
from rq.job import Job

from service.app import create_app
from service.tokens import create_token
from tests.conftest import MongomockData

ROOT = Path(__file__).resolve().parents[2]
IRIS_ROW = [5.1, 3.5, 1.4, 0.2]


def app_with(redis, redis_url, **overrides):
    MongomockData.client = mongomock.MongoClient()
    app = create_app(overrides={"MONGO_URI": "mongodb://127.0.0.1:1/test",
                                "REDIS_URL": redis_url, "TESTING": True, **overrides},
                     data=MongomockData, redis=redis)
    token = create_token(MongomockData.client["test"], "client", "alice")
    return app.test_client(), {"Authorization": f"Bearer {token}"}


def test_overrides_reach_the_queues_and_the_jobs_the_api_enqueues(redis, redis_url):
    client, headers = app_with(redis, redis_url, INTERACTIVE_MAX_ROWS=3, CHUNK_SIZE=2,
                               QUEUE_NAME="files-here", INTERACTIVE_QUEUE_NAME="small-here",
                               JOB_TIMEOUT_SECONDS=7, JOB_RETRY_INTERVALS=[2, 3])
    small = client.post("/api/v1/inputs", headers=headers,
                        json=[{"model": "iris", "features": IRIS_ROW}] * 3)
    large = client.post("/api/v1/inputs", headers=headers,
                        json=[{"model": "iris", "features": IRIS_ROW}] * 5)
    assert small.status_code == large.status_code == 201
    assert redis.llen("rq:queue:small-here") == 2  # 3 rows in chunks of 2
    assert redis.llen("rq:queue:files-here") == 3  # 5 rows in chunks of 2
    job = Job.fetch(redis.lindex("rq:queue:small-here", 0).decode(), connection=redis)
    assert job.timeout == 7 and job.retries_left == 2 and job.retry_intervals == [2, 3]


def test_overrides_reach_the_model_upload(redis, redis_url):
    client, _ = app_with(redis, redis_url, MODEL_UPLOAD_MAX_MB=0)
    admin = create_token(MongomockData.client["test"], "admin", "root")
    answer = client.post("/api/v1/models", headers={"Authorization": f"Bearer {admin}"},
                         data={"name": "m", "artifact": (b"x" * 100, "m.joblib")},
                         content_type="multipart/form-data")
    assert answer.status_code == 413


def test_no_module_of_the_api_but_its_factory_and_the_shipped_catalog_reads_settings():
    """models/catalog.py keeps settings.ARTIFACTS_DIR as the default of its file-based
    functions, for training and tests; the API passes app.config's."""
    readers = set()
    for path in (ROOT / "service").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            if "settings" in names:
                readers.add(str(path.relative_to(ROOT)))
    assert readers == {"service/app.py", "service/models/catalog.py"}
