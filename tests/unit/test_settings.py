"""Settings read from the environment (settings.py), as a process started with them
sees them."""
import os
import subprocess
import sys

from devstack.services import ROOT


def setting_in_a_process(name: str, environment: dict[str, str]) -> str:
    """settings.NAME as a process started with `environment` (and nothing else) reads it."""
    done = subprocess.run([sys.executable, "-c", f"import settings; print(settings.{name})"],
                          cwd=ROOT, env=environment, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_worker_alive_seconds_is_read_from_the_environment():
    """How long a silent worker is taken for alive (core/liveness.py): 10 s, or
    WORKER_ALIVE_SECONDS (the fault tests take 4, to see a killed worker sooner)."""
    path = {"PATH": os.environ["PATH"]}
    assert setting_in_a_process("WORKER_ALIVE_SECONDS", path) == "10"
    assert setting_in_a_process("WORKER_ALIVE_SECONDS", {**path, "WORKER_ALIVE_SECONDS": "4"}) == "4"
