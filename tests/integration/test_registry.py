"""The MLflow adapter against a real MLflow server (registry in PostgreSQL, artifacts in S3)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from model_runtime.registry import ModelRegistry
from support.stack import Stack

pytestmark = pytest.mark.integration


def test_a_logged_run_registers_resolves_by_alias_and_downloads(stack: Stack, tmp_path: Path) -> None:
    registry = ModelRegistry(stack.config.mlflow_uri)
    name = f"model-{uuid.uuid4().hex[:6]}"
    artifacts = tmp_path / "out"
    artifacts.mkdir()
    (artifacts / "weights.bin").write_bytes(b"\x00\x01weights")

    assert registry.by_alias(name) is None
    run_id = registry.log_run(name, {"lr": 0.1}, {"val_accuracy": 0.75}, artifacts)
    first = registry.register(name, run_id)
    second = registry.register(name, registry.log_run(name, {"lr": 0.2}, {"val_accuracy": 0.8}, artifacts))
    registry.set_alias(name, "champion", first.version)

    resolved = registry.by_alias(name)
    assert resolved is not None and resolved.version == first.version != second.version
    assert registry.run_metrics(run_id) == {"val_accuracy": 0.75}
    downloaded = registry.download(resolved, tmp_path / "download")
    assert (downloaded / "weights.bin").read_bytes() == b"\x00\x01weights"

    registry.set_alias(name, "champion", second.version)
    moved = registry.by_alias(name)
    assert moved is not None and moved.version == second.version
