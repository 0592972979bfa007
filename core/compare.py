"""Champion and shadow on the same rows: the paired counts that `compare` reads.

A version with a shadow (PATCH /models/{id} {"shadow": n}) has each row it answers also
answered by version n in the same job (jobs/predict.py). When such a row is labelled,
the champion's hour bucket (core/quality.py) gains the pair's terms, keyed by the shadow's
version number, so that comparing the two over a window is a sum of a few buckets:

  classification: x<n>_rr both right, x<n>_rw only the champion, x<n>_wr only the
                  shadow, x<n>_ww both wrong
  regression:     x<n>_n rows, x<n>_ae / x<n>_se the champion's |error| and error²,
                  x<n>_sae / x<n>_sse the shadow's, x<n>_cc the champion closer,
                  x<n>_sc the shadow closer (a tie is neither)

McNemar's exact test is the binomial test of the discordant pairs (only one right) at
one half; the sign test of a regressor's closer counts is the same test."""
import math
from typing import Any

from scipy.stats import binomtest

from .types import ModelDocument, Result

PAIR_PREFIX = "x"


def prefix(shadow_version: int) -> str:
    return f"{PAIR_PREFIX}{shadow_version}_"


def pair_terms(task: str, champion: Result, shadow: Result, shadow_version: int,
               actual: Any) -> dict[str, float]:
    """What one labelled row answered by both adds to the champion's bucket."""
    key = prefix(shadow_version)
    if task == "classification":
        right = (champion["label"] == actual, shadow["label"] == actual)
        name = {(True, True): "rr", (True, False): "rw", (False, True): "wr",
                (False, False): "ww"}[right]
        return {key + name: 1}
    error, shadow_error = abs(float(actual) - champion["value"]), abs(float(actual) - shadow["value"])
    terms = {key + "n": 1, key + "ae": error, key + "se": error * error,
             key + "sae": shadow_error, key + "sse": shadow_error * shadow_error}
    if error < shadow_error:
        terms[key + "cc"] = 1
    elif shadow_error < error:
        terms[key + "sc"] = 1
    return terms


def p_value(successes: int, trials: int) -> float | None:
    """The two-sided binomial test at one half; None with no trials."""
    if trials <= 0:
        return None
    return float(binomtest(successes, trials, 0.5).pvalue)


def oriented(totals: dict[str, float], key: str, as_champion: bool) -> dict[str, float]:
    """The pair counts of `totals` under `key`, named from the side of `this`: as the
    champion they are as stored; as the shadow, the two sides swap."""
    counts = {name[len(key):]: value for name, value in totals.items() if name.startswith(key)}
    if as_champion:
        return counts
    swap = {"rw": "wr", "wr": "rw", "ae": "sae", "sae": "ae", "se": "sse", "sse": "se",
            "cc": "sc", "sc": "cc"}
    return {swap.get(name, name): value for name, value in counts.items()}


def combined(this: ModelDocument, other: ModelDocument, this_totals: dict[str, float],
             other_totals: dict[str, float]) -> dict[str, float]:
    """The pair counts of the rows both answered, whichever was the shadow of the other,
    named from `this`'s side."""
    summed: dict[str, float] = {}
    for counts in (oriented(this_totals, prefix(other["version"]), True),
                   oriented(other_totals, prefix(this["version"]), False)):
        for name, value in counts.items():
            summed[name] = summed.get(name, 0) + value
    return summed


def figures(task: str, counts: dict[str, float]) -> dict[str, Any]:
    """The compare answer's figures from the pair counts (named from `this`'s side)."""
    if task == "classification":
        both, only_this, only_other, neither = (int(counts.get(k, 0))
                                                for k in ("rr", "rw", "wr", "ww"))
        rows = both + only_this + only_other + neither
        return {"rows": rows,
                "accuracy": {"this": (both + only_this) / rows if rows else None,
                             "other": (both + only_other) / rows if rows else None},
                "both_right": both, "only_this_right": only_this,
                "only_other_right": only_other, "both_wrong": neither,
                "p_value": p_value(only_this, only_this + only_other)}
    rows = int(counts.get("n", 0))
    closer, other_closer = int(counts.get("cc", 0)), int(counts.get("sc", 0))

    def mean(name: str) -> float | None:
        return counts.get(name, 0) / rows if rows else None

    def root(name: str) -> float | None:
        value = mean(name)
        return None if value is None else math.sqrt(value)
    return {"rows": rows, "mae": {"this": mean("ae"), "other": mean("sae")},
            "rmse": {"this": root("se"), "other": root("sse")},
            "this_closer": closer, "other_closer": other_closer,
            "p_value": p_value(closer, closer + other_closer)}


def relabel_pair_terms(task: str, champion: Result, shadow: Result, shadow_version: int,
                       old: Any, new: Any) -> dict[str, float]:
    """What changing a paired row's label from `old` (None: none yet) to `new` adds."""
    terms = pair_terms(task, champion, shadow, shadow_version, new)
    if old is not None:
        for key, value in pair_terms(task, champion, shadow, shadow_version, old).items():
            terms[key] = terms.get(key, 0) - value
    return {key: value for key, value in terms.items() if value != 0}
