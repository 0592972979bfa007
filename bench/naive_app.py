"""The baseline most tutorials teach: a synchronous Flask `/predict` endpoint that runs
the model inside the request and stores nothing. Served by gunicorn (sync workers) with
the same worker count as the service; the models load at import, once per process.

POST /predict {"model": "iris", "rows": [[...], ...]} -> [result, ...]"""
from flask import Flask, jsonify, request

from core.inference import compute
from service.models.catalog import load_model

from .workload import shipped_models

MODELS = {entry["name"]: load_model(entry["name"], entry["version"])
          for entry in shipped_models()}

app = Flask(__name__)


@app.post("/predict")
def predict():
    body = request.get_json()
    entry, estimator = MODELS[body["model"]]
    return jsonify(compute(entry, estimator, body["rows"]))
