"""Train a model, record the run in MLflow, register the version, and point an alias at it."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from model_runtime.base import TrainOptions
from model_runtime.catalog import ModelSpec, load_class
from model_runtime.registry import CHAMPION, ModelRegistry, ModelVersionRef

log = logging.getLogger(__name__)


def train_and_register(
    spec: ModelSpec, registry: ModelRegistry, options: TrainOptions, alias: str | None = None
) -> ModelVersionRef:
    model_class = load_class(spec)
    with tempfile.TemporaryDirectory(prefix=f"train-{spec.name}-") as workdir:
        artifacts = Path(workdir) / "model"
        output = model_class.train(artifacts, options)
        log.info("%s trained: %s", spec.name, output.metrics)
        run_id = registry.log_run(
            experiment=spec.name,
            params={**output.params, "device": str(options.device), "limit": options.limit or "all"},
            metrics=output.metrics,
            artifacts_dir=artifacts,
            tags={"model": spec.name, "action": spec.action},
        )
    version = registry.register(spec.name, run_id)
    if alias:
        registry.set_alias(spec.name, alias, version.version)
        log.info("%s version %s is now @%s", spec.name, version.version, alias)
    return version


def champion_is_servable(spec: ModelSpec, registry: ModelRegistry) -> bool:
    """A champion exists and its artifacts can still be downloaded.

    LocalStack keeps no state across restarts, so the registry (in PostgreSQL) can name a
    champion whose artifacts (in S3) are gone; such a champion must be trained again.
    """
    ref = registry.by_alias(spec.name, CHAMPION)
    if ref is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        try:
            registry.download(ref, Path(tmp))
        except Exception as exc:
            log.warning("%s@%s (v%s) cannot be downloaded: %s", spec.name, CHAMPION, ref.version, exc)
            return False
    return True
