"""The OpenAPI document as client generators read it: openapi-python-client, run as a new
user would on the live document, drops no schema and reports nothing, and its client
POSTs an input and reads back the input and its prediction."""
import importlib
import re
import subprocess
import sys
import time
from pathlib import Path

import requests

IRIS_ROW = [5.1, 3.5, 1.4, 0.2]
# text/csv (POST /batches) is a body the generator has no type for: it is sent as bytes
CONFIG = "content_type_overrides:\n  text/csv: application/octet-stream\n"


def generate(stack, where):
    document = where / "openapi.json"
    document.write_bytes(requests.get(f"{stack.url}/api/v1/openapi.json", timeout=30).content)
    (where / "config.yml").write_text(CONFIG)
    generator = Path(sys.executable).with_name("openapi-python-client")
    run = subprocess.run([str(generator), "generate", "--path", str(document),
                          "--config", str(where / "config.yml"), "--output-path",
                          str(where / "client")],
                         capture_output=True, text=True, timeout=300, cwd=where,
                         env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"})
    return run


def input_class(package_dir):
    """The generated class of an iris input that names no version or alias."""
    for path in sorted((package_dir / "models").glob("inputs_write_type_*.py")):
        text = path.read_text()
        if 'model: Literal["iris"]' in text and not re.search(r"^\s+(version|alias):", text,
                                                                re.MULTILINE):
            module = importlib.import_module(f"prediction_service_client.models.{path.stem}")
            return next(getattr(module, name) for name in dir(module)
                        if name.startswith("InputsWriteType"))
    raise AssertionError("no generated class for an iris input")


def test_a_generated_client_posts_an_input_and_reads_it_and_its_prediction(
        stack, new_client, tmp_path):
    run = generate(stack, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Warning" not in run.stdout + run.stderr, run.stdout + run.stderr
    sys.path.insert(0, str(tmp_path / "client"))
    try:
        client_module = importlib.import_module("prediction_service_client")
        from prediction_service_client.api.default import get_inputs_id, get_predictions_id, post_inputs
        from prediction_service_client.models import Inputs, Predictions
        token = new_client().session.headers["Authorization"].split()[1]
        client = client_module.AuthenticatedClient(base_url=f"{stack.url}/api/v1",
                                                   token=token)
        body = input_class(Path(client_module.__file__).parent)(model="iris", features=IRIS_ROW)
        posted = post_inputs.sync_detailed(client=client, body=body)
        assert posted.status_code == 201, posted.content
        created = posted.parsed.to_dict()
        stored = get_inputs_id.sync(created["_id"], client=client)
        assert isinstance(stored, Inputs), stored
        assert stored.model == "iris" and stored.features == IRIS_ROW
        deadline = time.monotonic() + 30
        while True:
            prediction = get_predictions_id.sync(created["prediction"], client=client)
            assert isinstance(prediction, Predictions), prediction
            if prediction.status.value == "done" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert prediction.status.value == "done"
        assert prediction.result.to_dict()["label"] == "setosa"
    finally:
        sys.path.remove(str(tmp_path / "client"))
        for name in [m for m in sys.modules if m.startswith("prediction_service_client")]:
            del sys.modules[name]
