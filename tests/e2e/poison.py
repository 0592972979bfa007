"""A model that raises for any row with a negative value: the poison input of the
fault tests. Importable by the workers, which unpickle it from the test's artifacts."""
import numpy as np
from sklearn.linear_model import LogisticRegression

from bench.slow_model import Delayed


class RaisesOnNegative:
    classes_ = np.array([0, 1])

    def predict_proba(self, X):
        X = np.asarray(X)
        if (X < 0).any():
            raise ValueError("poison: a feature is negative")
        return np.tile([0.25, 0.75], (len(X), 1))

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class Slow:
    """Takes SECONDS per call: a worker killed while it runs is surely mid-chunk."""
    classes_ = np.array([0, 1])
    SECONDS = 3

    def predict_proba(self, X):
        import time
        time.sleep(self.SECONDS)
        return np.tile([0.25, 0.75], (len(np.asarray(X)), 1))

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class Paced(Delayed):
    """Another model's answers, SECONDS later: a worker is surely inside the model call
    for that long (tests/e2e/test_scale_out.py cuts a host's link there)."""

    def __init__(self, inner, seconds):
        super().__init__(inner)
        self.seconds = seconds

    def wait(self, rows):
        import time
        time.sleep(self.seconds)


class SlowToFit(LogisticRegression):
    """A classifier whose every fit takes FIT_SECONDS more (its clone's too): a worker
    killed while it retrains is surely mid-fit."""

    def __init__(self, max_iter=300, fit_seconds=0.0):
        super().__init__(max_iter=max_iter)
        self.fit_seconds = fit_seconds

    def fit(self, X, y, sample_weight=None):
        import time
        time.sleep(self.fit_seconds)
        return super().fit(X, y, sample_weight)
