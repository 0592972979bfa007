"""docker-compose.yml is valid (no Docker engine runs here: `config` needs none) and
shaped as promised: official images, a scalable worker, the dashboard as a service."""
import os
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def compose(*args):
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is not installed: `make test` installs it"
    return subprocess.run([binary, "-f", str(ROOT / "docker-compose.yml"), *args], check=True,
                          capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "RQ_DASHBOARD_PASSWORD": "secret"}).stdout


def test_compose_file_is_valid_and_has_every_service():
    assert set(compose("config", "--services").split()) == {
        "mongo", "redis", "cache", "api", "worker", "interactive-worker", "callback-worker",
        "dashboard"}


def test_the_result_cache_is_a_redis_of_its_own_bounded_with_lru_eviction():
    services = yaml.safe_load(compose("config"))["services"]
    command = services["cache"]["command"]
    assert services["cache"]["image"] == "redis:7.2"
    assert command[command.index("--maxmemory-policy") + 1] == "allkeys-lru"
    assert command[command.index("--maxmemory") + 1] == "256mb"
    for name in ("api", "worker"):
        assert services[name]["environment"]["CACHE_URL"] == "redis://cache:6379/0"


def test_compose_uses_official_images_and_workers_can_scale():
    services = yaml.safe_load(compose("config"))["services"]
    assert services["mongo"]["image"] == "mongo:7.0"
    assert services["redis"]["image"] == "redis:7.2"
    worker = services["worker"]
    assert worker["command"] == ["python", "-m", "jobs.worker"]
    assert "container_name" not in worker and "ports" not in worker  # --scale worker=N
    for name in ("api", "worker", "dashboard"):
        assert services[name]["restart"] == "unless-stopped"
        assert services[name]["environment"]["MONGO_URI"] == "mongodb://mongo:27017/predictions"
