"""The README's worked example: a notebook's pipeline, saved for the service.

    .venv/bin/python docs/examples/parcels.py      # writes parcels.skops

A pandas frame with a string, two numbers and a boolean; OneHotEncoder for the string
and the boolean, StandardScaler for the numbers, LogisticRegression; saved with skops
(a format that runs no code of the file's choosing when loaded)."""
import numpy as np
import pandas as pd
import skops.io
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def parcels(n, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"color": rng.choice(["red", "green", "blue"], n),
                         "size": rng.normal(10, 3, n).round(3),
                         "weight": rng.normal(50, 10, n).round(3),
                         "fragile": rng.choice([True, False], n)})


def train(seed=0):
    frame = parcels(300, seed)
    labels = np.where((frame["size"] > 10) ^ (frame["color"] == "red"), "keep", "return")
    prepare = ColumnTransformer([
        ("categories", OneHotEncoder(handle_unknown="ignore"), ["color", "fragile"]),
        ("numbers", StandardScaler(), ["size", "weight"])])
    model = Pipeline([("prepare", prepare),
                      ("classify", LogisticRegression(max_iter=1000, C=0.5 + seed))])
    return model.fit(frame, labels)


ROW = {"color": "red", "size": 12.5, "weight": 48.0, "fragile": True}  # the README's input

if __name__ == "__main__":
    pipeline = train()
    skops.io.dump(pipeline, "parcels.skops")
    probabilities = pipeline.predict_proba(pd.DataFrame([ROW]))[0]
    print("parcels.skops written; for", ROW, "the pipeline gives",
          {str(c): float(p) for c, p in zip(pipeline.classes_, probabilities)})
