"""The figures of live quality and drift, from the counts of hour buckets added up
(core/quality.py: totals): what GET /models/{id}/quality and /drift answer, what the
pages draw, and how a training scores champion and challenger on its holdout rows.

Quality equals sklearn.metrics on the labelled rows: accuracy, log_loss (the
probabilities as given, clipped as sklearn clips them), brier (brier_score_loss: for two
classes the mean over both, for more the sum over the classes), precision, recall and f1
per class (0 where sklearn's zero_division gives 0), the confusion matrix (rows actual,
columns predicted); mae, rmse, r2 for a regressor. A figure with no rows is null.

Drift: for each feature and for the prediction, the window's shares per bin against the
reference's, their PSI, and the p-value of a chi-square test of the window's counts per
bin against the reference's shares (core/profiles.py). A feature drifts when both say
so: PSI at or over the version's threshold and p below P_VALUE_BELOW, so that a handful
of rows, whose PSI is large by chance alone, is not drift."""
import math
from collections.abc import Mapping
from typing import Any

from . import profiles
from .types import Slicer

DEFAULT_DRIFT_THRESHOLD = 0.2
P_VALUE_BELOW = 0.01
Totals = Mapping[str, float]


def ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def classification(model: Mapping[str, Any], totals: Totals) -> dict[str, Any]:
    classes, labelled = model["classes"], totals.get("labelled", 0)
    matrix = [[int(totals.get(f"c_{i}_{j}", 0)) for j in range(len(classes))]
              for i in range(len(classes))]
    figures: dict[str, Any] = {
        "accuracy": None, "log_loss": None, "brier": None, "per_class": None,
        "confusion": {"labels": classes, "matrix": matrix},
        "estimated_accuracy": ratio(totals.get("top", 0), totals.get("n", 0))}
    if not labelled:
        return figures
    per_class = {}
    for i, name in enumerate(classes):
        true_positive = matrix[i][i]
        predicted = sum(row[i] for row in matrix)
        support = sum(matrix[i])
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / support if support else 0.0
        f1 = 2 * true_positive / (predicted + support) if predicted + support else 0.0
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1,
                           "support": support}
    halves = 2 if len(classes) == 2 else 1  # sklearn's brier_score_loss(scale_by_half="auto")
    return {**figures, "accuracy": sum(matrix[i][i] for i in range(len(classes))) / labelled,
            "log_loss": totals.get("ll", 0) / labelled,
            "brier": totals.get("br", 0) / labelled / halves, "per_class": per_class}


def regression(totals: Totals) -> dict[str, Any]:
    labelled = totals.get("labelled", 0)
    if not labelled:
        return {"mae": None, "rmse": None, "r2": None}
    squared = totals.get("se", 0)
    spread = totals.get("yy", 0) - totals.get("y", 0) ** 2 / labelled
    if spread > 0:
        r2 = 1 - squared / spread
    else:  # constant targets: sklearn's r2_score with force_finite
        r2 = 1.0 if squared == 0 else 0.0
    return {"mae": totals.get("ae", 0) / labelled, "rmse": math.sqrt(squared / labelled),
            "r2": r2}


def quality_of(model: Mapping[str, Any], totals: Totals) -> dict[str, Any]:
    """The version's quality over the rows the totals count, beside its held-out metrics."""
    figures = classification(model, totals) if model["task"] == "classification" \
        else regression(totals)
    return {"predictions": int(totals.get("n", 0)), "labelled": int(totals.get("labelled", 0)),
            **figures, "held_out": model.get("metrics")}


def compared(slicer: Slicer, totals: Totals, prefix: str, binned: float,
             threshold: float) -> dict[str, Any]:
    """One feature's (or the prediction's) shares, PSI, p-value and verdict."""
    counts = [totals.get(f"{prefix}{b}", 0) for b in range(profiles.slot_count(slicer))]
    reference = slicer.get("reference") or []
    live = [count / binned for count in counts] if binned else None
    psi = profiles.psi(reference, live) if live else None
    p_value = profiles.p_value(reference, counts) if binned else None
    drifted = psi is not None and p_value is not None and psi >= threshold \
        and p_value < P_VALUE_BELOW
    return {**profiles.labels_of(slicer), "reference": reference, "live": live, "psi": psi,
            "p_value": p_value, "drifted": drifted}


def drift_of(model: Mapping[str, Any], totals: Totals) -> dict[str, Any]:
    """Each feature's (and the prediction's) reference and live shares, PSI and p-value."""
    profile = model.get("reference")
    binned = totals.get("binned", 0)
    threshold = model.get("drift_threshold") or DEFAULT_DRIFT_THRESHOLD
    answer: dict[str, Any] = {"predictions": int(binned), "drift_threshold": threshold,
                              "reference": None, "features": {}, "prediction": None,
                              "drifted": []}
    if not profile:
        return answer
    answer["reference"] = {"source": profile["source"], "rows": profile["rows"]}
    answer["features"] = {feature["name"]: compared(feature, totals, f"f_{index}_", binned,
                                                    threshold)
                          for index, feature in enumerate(profile["features"])}
    answer["prediction"] = compared(profile["prediction"], totals, "p_", binned, threshold)
    answer["drifted"] = [name for name, figures in answer["features"].items()
                         if figures["drifted"]]
    return answer
