"""Schemathesis (all checks, fixed seed) against the service's own OpenAPI document, on a
stack of its own (the admin run deletes models and predictions), once with a client
token and once with an admin token: the document and the service must agree."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import running_stack

SEED = 1
CONFIG = Path(__file__).with_name("schemathesis.toml")  # what a file upload needs
# per operation and phase (25: every operation is still tested in each phase, and the
# coverage phase's cases, 5,000 or more a run, do not depend on it)
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "25"))


@pytest.fixture(scope="module")
def conformance_stack(tmp_path_factory):
    """A run sends 7,000 requests or more with one token, in about a minute: past the
    default rate limit (6,000 a minute) on a quick machine, and a 429 to a valid
    request fails its positive-data check. The limit is raised here; its own tests are
    in tests/unit/test_api.py."""
    with running_stack(tmp_path_factory, workers=1,
                       extra_env={"RATE_LIMIT_REQUESTS": "1000000"}) as stack:
        yield stack


@pytest.mark.parametrize("role", ["client", "admin"])
def test_schemathesis_finds_nothing(conformance_stack, role, tmp_path):
    token = conformance_stack.create_token(role, f"schemathesis-{role}")
    st = Path(sys.executable).with_name("st")
    run = subprocess.run(
        [str(st), "--config-file", str(CONFIG), "run",
         f"{conformance_stack.url}/api/v1/openapi.json", "--checks", "all",
         "--seed", str(SEED), "--max-examples", str(EXAMPLES), "--workers", "1",
         "--header", f"Authorization: Bearer {token}", "--output-truncate", "true"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    summary = re.search(r"(\d+) generated, (.*)", run.stdout)
    print(f"schemathesis as {role}: {summary.group(0) if summary else run.stdout[-2000:]}")
    assert run.returncode == 0, run.stdout[-20000:]
    generated, rest = int(summary.group(1)), summary.group(2)
    assert generated > 500 and f"{generated} passed" in rest
