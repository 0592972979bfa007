"""A model slower than the service can drain a file: iris's answers, after a set CPU time
per row (`python -m bench.mixed --model-ms-per-row 8`). The workers unpickle it from the
artifacts directory the benchmark writes, so it lives in an importable module."""
import json
import shutil
import time
from pathlib import Path

import joblib

from core.artifacts import sha256_of
from service.models.catalog import ARTIFACTS_DIR, manifest_entry

NAME = "iris_slow"


class CpuPerRow:
    """`inner`'s answers, after spinning `ms_per_row` of CPU for each row."""

    def __init__(self, inner, ms_per_row):
        self.inner, self.ms_per_row = inner, ms_per_row

    @property
    def classes_(self):
        return self.inner.classes_

    def predict_proba(self, X):
        answers = self.inner.predict_proba(X)
        deadline = time.process_time() + len(answers) * self.ms_per_row / 1000
        while time.process_time() < deadline:
            pass
        return answers

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def artifacts_with_slow_model(directory, ms_per_row):
    """A copy of the shipped artifacts with NAME v1 added: iris v1 wrapped in CpuPerRow."""
    directory = Path(directory)
    shutil.copytree(ARTIFACTS_DIR, directory)
    iris = manifest_entry("iris", 1)
    path = directory / NAME / "1" / "model.joblib"
    path.parent.mkdir(parents=True)
    joblib.dump(CpuPerRow(joblib.load(Path(ARTIFACTS_DIR) / iris["artifact"]["path"]),
                          ms_per_row), path)
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["models"].append({
        **{key: iris[key] for key in ("task", "features", "classes")},
        "name": NAME, "version": 1, "metrics": {}, "trained_at": iris["trained_at"],
        "sklearn_version": iris["sklearn_version"],
        "artifact": {"path": f"{NAME}/1/model.joblib", "sha256": sha256_of(path.read_bytes())}})
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory
