"""Train a model, record the run in MLflow, register the version, and point an alias at it."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from model_runtime.base import TrainOptions
from model_runtime.catalog import ModelSpec, load_class
from model_runtime.registry import CHAMPION, ModelRegistry, ModelVersionRef

log = logging.getLogger(__name__)


def train_and_register(
    spec: ModelSpec,
    registry: ModelRegistry,
    options: TrainOptions,
    alias: str | None = None,
    cache_dir: Path | None = None,
) -> ModelVersionRef:
    """Train, log the run, register a version; keep a copy of its artifacts in `cache_dir` if given."""
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
        if cache_dir is not None:
            shutil.copytree(artifacts, cache_dir / spec.name / run_id, dirs_exist_ok=True)
    version = registry.register(spec.name, run_id)
    if alias:
        registry.set_alias(spec.name, alias, version.version)
        log.info("%s version %s is now @%s", spec.name, version.version, alias)
    return version


def ensure_champion(
    spec: ModelSpec, registry: ModelRegistry, options: TrainOptions, cache_dir: Path | None = None
) -> ModelVersionRef:
    """Make sure `spec` has a champion whose artifacts can be downloaded.

    LocalStack keeps no state across restarts, so the registry (in PostgreSQL) can name a
    champion whose artifacts (in S3) are gone: they are restored from `cache_dir` when it
    holds a copy, and otherwise a new version is trained.
    """
    ref = registry.by_alias(spec.name, CHAMPION)
    if ref is not None and _downloadable(registry, ref):
        log.info("%s@%s is version %s; not training", spec.name, CHAMPION, ref.version)
        return ref
    cached = cache_dir / spec.name / ref.run_id if cache_dir and ref and ref.run_id else None
    if ref is not None and cached is not None and cached.is_dir():
        log.info("%s@%s (v%s): restoring its artifacts from %s", spec.name, CHAMPION, ref.version, cached)
        registry.restore_artifacts(str(ref.run_id), cached)
        if _downloadable(registry, ref):
            return ref
    log.info("%s has no servable @%s; training one (a few minutes on two cores)", spec.name, CHAMPION)
    return train_and_register(spec, registry, options, CHAMPION, cache_dir)


def _downloadable(registry: ModelRegistry, ref: ModelVersionRef) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            registry.download(ref, Path(tmp))
        except Exception as exc:
            log.warning("%s v%s cannot be downloaded: %s", ref.name, ref.version, exc)
            return False
    return True
