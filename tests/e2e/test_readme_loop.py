"""The README's "Is it still right?" example, command by command, on a stack of its own
(so that the iris version's hour holds only the example's rows): a file of rows, its
labels from a CSV, the quality and drift answers; then the rows with petal_length + 2,
and only petal_length flagged."""
import json
import subprocess
import sys

import pytest

from devstack.services import ROOT

from .conftest import running_stack
from .test_cli import cli


@pytest.fixture(scope="module")
def loop_stack(tmp_path_factory):
    with running_stack(tmp_path_factory, workers=1) as stack:
        yield stack


def test_the_readme_loop_flags_the_shifted_feature_and_not_the_others(loop_stack, tmp_path):
    admin = loop_stack.create_token("admin", "readme")
    subprocess.run([sys.executable, str(ROOT / "docs/examples/iris_files.py")], cwd=tmp_path,
                   check=True, capture_output=True)
    submitted = cli(loop_stack, admin, "submit", str(tmp_path / "iris.csv"), "--model", "iris",
                    "--wait")
    batch = submitted.stdout.split()[0]
    labelled = cli(loop_stack, admin, "feedback", str(tmp_path / "labels.csv"), "--batch", batch)
    assert json.loads(labelled.stdout) == {"labelled": 150}

    quality = json.loads(cli(loop_stack, admin, "quality", "iris", "--window", "1h").stdout)
    assert quality["predictions"] == 150 and quality["labelled"] == 150
    assert quality["accuracy"] == pytest.approx(148 / 150, abs=1e-9)  # as in the README
    assert quality["held_out"]["accuracy"] == 0.947368
    calm = json.loads(cli(loop_stack, admin, "drift", "iris", "--window", "1h").stdout)
    assert calm["reference"] == {"source": "training", "rows": 112} and calm["drifted"] == []

    cli(loop_stack, admin, "submit", str(tmp_path / "shifted.csv"), "--model", "iris", "--wait")
    drift = json.loads(cli(loop_stack, admin, "drift", "iris", "--window", "1h").stdout)
    assert drift["predictions"] == 300 and drift["drifted"] == ["petal_length"]
    assert drift["features"]["petal_length"]["psi"] > 0.2 > max(
        figures["psi"] for name, figures in drift["features"].items() if name != "petal_length")
