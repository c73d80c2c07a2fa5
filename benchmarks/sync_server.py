"""The server a user would write instead of the platform: Flask, the model in memory, one request
at a time per process (gunicorn's sync workers, one per core). ``benchmarks/compare.py`` runs it.

    gunicorn --workers 2 --chdir benchmarks 'sync_server:create_app("sentiment")'

POST /predict {"text": "..."} -> the model's result for that text, computed in the request.
Reads MLFLOW_TRACKING_URI and MODELS_DIR like the worker, and serves the same champion version.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, jsonify, request


def create_app(model_name: str) -> Flask:
    from model_runtime.catalog import find
    from model_runtime.device import configure_threads, select_device
    from model_runtime.hot_swap import load_version
    from model_runtime.registry import ModelRegistry

    configure_threads(1)  # one process per core, each on its own core
    registry = ModelRegistry(os.environ["MLFLOW_TRACKING_URI"])
    spec = find(Path(os.environ["MODELS_DIR"]), model_name)
    ref = registry.by_alias(spec.name)
    if ref is None:
        raise SystemExit(f"no {spec.name}@champion in MLflow: run make up first")
    model = load_version(spec, registry, ref, select_device("cpu")).model

    app = Flask(__name__)

    @app.post("/predict")
    def predict():  # type: ignore[no-untyped-def]
        text = request.get_json()["text"]
        return jsonify(model.predict([text]).results[0])

    return app
