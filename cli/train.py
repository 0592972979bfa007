"""Trains the shipped models reproducibly from scikit-learn's bundled datasets.

`python -m service train` writes artifacts/<name>/<version>/model.joblib and
artifacts/manifest.json (sha256, held-out metrics, feature names, classes, versions)."""
import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn import datasets
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch

from core import profiles
from core.inference import compute
from core.training import as_csv
from core.types import Task
from service.models.catalog import ARTIFACTS_DIR, MANIFEST, load_model, read_manifest, sha256_of

from .endpoints import StrPath

SEED = 0
VERSION = 1


def classifier() -> RandomForestClassifier:
    return RandomForestClassifier(n_estimators=100, random_state=SEED)


def regressor() -> GradientBoostingRegressor:
    return GradientBoostingRegressor(random_state=SEED)


# name -> (dataset loader, task, estimator factory)
SPECS: dict[str, tuple[Callable[[], Bunch], Task, Callable[[], Any]]] = {
    "iris": (datasets.load_iris, "classification", classifier),
    "breast_cancer": (datasets.load_breast_cancer, "classification", classifier),
    "diabetes": (datasets.load_diabetes, "regression", regressor),
}


def feature_names(dataset: Bunch) -> list[str]:
    """sklearn's names with units dropped and spaces as underscores:
    'sepal length (cm)' -> 'sepal_length', 'mean radius' -> 'mean_radius'."""
    return [str(n).replace(" (cm)", "").replace(" ", "_") for n in dataset.feature_names]


def held_out_metrics(task: Task, estimator: Any, X_test: np.ndarray, y_test: np.ndarray) -> dict[str, float]:
    predicted = estimator.predict(X_test)
    if task == "classification":
        return {"accuracy": round(float(accuracy_score(y_test, predicted)), 6),
                "f1_macro": round(float(f1_score(y_test, predicted, average="macro")), 6)}
    return {"r2": round(float(r2_score(y_test, predicted)), 6),
            "mae": round(float(mean_absolute_error(y_test, predicted)), 6)}


def split(name: str) -> tuple[Bunch, list[np.ndarray]]:
    """The shipped model's training and held-out rows (seed 0, a quarter held out)."""
    load, task, _ = SPECS[name]
    dataset = load()
    return dataset, train_test_split(
        dataset.data, dataset.target, test_size=0.25, random_state=SEED,
        stratify=dataset.target if task == "classification" else None)


def write_reference(entry: dict[str, Any], estimator: Any, X_train: np.ndarray,
                    artifacts_dir: StrPath) -> None:
    """The version's reference profile (core/profiles.py) from its training rows, next
    to its artifact; the manifest names it."""
    rows = X_train.tolist()
    profile = profiles.build(entry, rows, compute(entry, estimator, rows), "training")
    relative = f"{entry['name']}/{entry['version']}/reference.json"
    (Path(artifacts_dir) / relative).write_text(json.dumps(profile) + "\n")
    entry["reference"] = relative


def write_training(entry: dict[str, Any], dataset: Bunch, X_train: np.ndarray,
                   y_train: np.ndarray, artifacts_dir: StrPath) -> None:
    """The version's training rows as its training file (core/training.py: the feature
    columns and `target`, a class by its name), next to its artifact; the manifest names
    it, and a retraining of the version starts from it."""
    targets = [str(dataset.target_names[y]) for y in y_train] \
        if entry["task"] == "classification" else [float(y) for y in y_train]
    relative = f"{entry['name']}/{entry['version']}/training.csv"
    (Path(artifacts_dir) / relative).write_bytes(as_csv(entry, X_train.tolist(), targets))
    entry["training"] = relative


def train_one(name: str, artifacts_dir: StrPath) -> dict[str, Any]:
    _, task, make_estimator = SPECS[name]
    dataset, (X_train, X_test, y_train, y_test) = split(name)
    estimator = make_estimator().fit(X_train, y_train)
    relative = f"{name}/{VERSION}/model.joblib"
    path = Path(artifacts_dir) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(estimator, path, compress=3)
    entry: dict[str, Any] = {
        "name": name, "version": VERSION, "task": task,
        "features": feature_names(dataset),
        "metrics": held_out_metrics(task, estimator, X_test, y_test),
        "artifact": {"path": relative, "sha256": sha256_of(path.read_bytes())},
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "sklearn_version": sklearn.__version__,
        "seed": SEED,
    }
    if task == "classification":
        entry["classes"] = [str(c) for c in dataset.target_names[estimator.classes_]]
    write_reference(entry, estimator, X_train, artifacts_dir)
    write_training(entry, dataset, X_train, y_train, artifacts_dir)
    return entry


def write_manifest(entries: list[dict[str, Any]], artifacts_dir: StrPath) -> None:
    with open(Path(artifacts_dir) / MANIFEST, "w") as f:
        json.dump({"models": entries}, f, indent=2)
        f.write("\n")


def train_all(artifacts_dir: StrPath = ARTIFACTS_DIR) -> list[dict[str, Any]]:
    entries = [train_one(name, artifacts_dir) for name in SPECS]
    write_manifest(entries, artifacts_dir)
    return entries


def references_all(artifacts_dir: StrPath = ARTIFACTS_DIR) -> list[dict[str, Any]]:
    """The shipped models' reference profiles and training files from their training
    rows, for artifacts trained before either existed (the models are not touched)."""
    entries: list[dict[str, Any]] = read_manifest(artifacts_dir)
    for entry in entries:
        dataset, (X_train, _, y_train, _) = split(entry["name"])
        estimator = load_model(entry["name"], entry["version"], artifacts_dir)[1]
        write_reference({**entry, "feature_types": None}, estimator, X_train, artifacts_dir)
        entry["reference"] = f"{entry['name']}/{entry['version']}/reference.json"
        write_training(entry, dataset, X_train, y_train, artifacts_dir)
    write_manifest(entries, artifacts_dir)
    return entries
