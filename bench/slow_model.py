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


class Delayed:
    """`inner`'s answers, after `wait(rows)`: a model as slow as a benchmark or a test
    needs (subclasses say how it waits)."""

    def __init__(self, inner):
        self.inner = inner

    @property
    def classes_(self):
        return self.inner.classes_

    def predict_proba(self, X):
        self.wait(len(X))
        return self.inner.predict_proba(X)

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class CpuPerRow(Delayed):
    """`inner`'s answers, after spinning `ms_per_row` of CPU for each row."""

    def __init__(self, inner, ms_per_row):
        super().__init__(inner)
        self.ms_per_row = ms_per_row

    def wait(self, rows):
        deadline = time.process_time() + rows * self.ms_per_row / 1000
        while time.process_time() < deadline:
            pass


def add_model(directory, name, estimator, entry):
    """Adds `estimator` to an artifacts directory as `name` v1, its manifest entry's other
    fields (task, features, classes, ...) from `entry`."""
    directory = Path(directory)
    path = directory / name / "1" / "model.joblib"
    path.parent.mkdir(parents=True)
    joblib.dump(estimator, path)
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["models"].append({
        **entry, "name": name, "version": 1, "metrics": {},
        "artifact": {"path": f"{name}/1/model.joblib", "sha256": sha256_of(path.read_bytes())}})
    (directory / "manifest.json").write_text(json.dumps(manifest))


def artifacts_with_slow_model(directory, ms_per_row):
    """A copy of the shipped artifacts with NAME v1 added: iris v1 wrapped in CpuPerRow."""
    shutil.copytree(ARTIFACTS_DIR, directory)
    iris = manifest_entry("iris", 1)
    add_model(directory, NAME,
              CpuPerRow(joblib.load(Path(ARTIFACTS_DIR) / iris["artifact"]["path"]), ms_per_row),
              {key: iris[key] for key in ("task", "features", "classes", "trained_at",
                                           "sklearn_version")})
    return Path(directory)
