"""MLflow adapter: log training runs, register versions, resolve the version to serve by alias.

Registry stages are deprecated upstream; the platform uses aliases (``champion``).
A registered version's source is the run's ``model/`` artifact folder, which the
model's ``load`` reads back after ``download``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.artifacts import download_artifacts
from mlflow.exceptions import MlflowException, RestException

from inference_core.model_registry import CHAMPION

__all__ = ["CHALLENGER", "CHAMPION", "PREVIOUS_CHAMPION", "ModelRegistry", "ModelVersionRef"]
CHALLENGER = "challenger"
# Where champion pointed before the last promotion; `rollback` moves champion back there.
PREVIOUS_CHAMPION = "previous-champion"
MODEL_ARTIFACT_PATH = "model"


@dataclass(frozen=True)
class ModelVersionRef:
    name: str
    version: str
    run_id: str | None
    source: str


class ModelRegistry:
    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def by_alias(self, name: str, alias: str = CHAMPION) -> ModelVersionRef | None:
        try:
            version = self._client.get_model_version_by_alias(name, alias)
        except (RestException, MlflowException) as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
                return None
            raise
        return ModelVersionRef(name, str(version.version), version.run_id, str(version.source))

    def version(self, name: str, version: str) -> ModelVersionRef:
        found = self._client.get_model_version(name, version)
        return ModelVersionRef(name, str(found.version), found.run_id, str(found.source))

    def resolve(self, name: str, version_or_alias: str) -> ModelVersionRef:
        """A version number ("3") or an alias ("champion")."""
        if version_or_alias.isdigit():
            return self.version(name, version_or_alias)
        ref = self.by_alias(name, version_or_alias)
        if ref is None:
            raise LookupError(f"{name} has no version aliased {version_or_alias!r}")
        return ref

    def delete_alias(self, name: str, alias: str) -> None:
        self._client.delete_registered_model_alias(name, alias)

    def tag_version(self, ref: ModelVersionRef, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self._client.set_model_version_tag(ref.name, ref.version, key, value)

    def version_tags(self, ref: ModelVersionRef) -> dict[str, str]:
        return dict(self._client.get_model_version(ref.name, ref.version).tags)

    def download(self, ref: ModelVersionRef, destination: Path) -> Path:
        destination.mkdir(parents=True, exist_ok=True)
        return Path(
            download_artifacts(artifact_uri=ref.source, dst_path=str(destination), tracking_uri=self.tracking_uri)
        )

    def log_run(
        self,
        experiment: str,
        params: dict[str, Any],
        metrics: dict[str, float],
        artifacts_dir: Path | None = None,
        tags: dict[str, str] | None = None,
    ) -> str:
        """Record a finished run (training, evaluation, a promotion decision); returns its id."""
        experiment_id = self._experiment_id(experiment)
        run = self._client.create_run(experiment_id, tags=tags or {})
        run_id = run.info.run_id
        try:
            for key, value in params.items():
                self._client.log_param(run_id, key, value)
            for key, value in metrics.items():
                self._client.log_metric(run_id, key, value)
            if artifacts_dir is not None:
                self._client.log_artifacts(run_id, str(artifacts_dir), MODEL_ARTIFACT_PATH)
        except Exception:
            self._client.set_terminated(run_id, status="FAILED")
            raise
        self._client.set_terminated(run_id)
        return str(run_id)

    def restore_artifacts(self, run_id: str, artifacts_dir: Path) -> None:
        """Upload a run's model artifacts again (after the artifact store lost them)."""
        self._client.log_artifacts(run_id, str(artifacts_dir), MODEL_ARTIFACT_PATH)

    def register(self, name: str, run_id: str) -> ModelVersionRef:
        try:
            self._client.create_registered_model(name)
        except (RestException, MlflowException) as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        artifact_uri = self._client.get_run(run_id).info.artifact_uri
        version = self._client.create_model_version(name, f"{artifact_uri}/{MODEL_ARTIFACT_PATH}", run_id=run_id)
        return ModelVersionRef(name, str(version.version), run_id, str(version.source))

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self._client.set_registered_model_alias(name, alias, version)

    def run_metrics(self, run_id: str) -> dict[str, float]:
        return dict(self._client.get_run(run_id).data.metrics)

    def run_tags(self, run_id: str) -> dict[str, str]:
        return dict(self._client.get_run(run_id).data.tags)

    def runs(self, experiment: str) -> list[str]:
        """Run ids of an experiment, newest first."""
        found = self._client.get_experiment_by_name(experiment)
        if found is None:
            return []
        runs = self._client.search_runs([found.experiment_id], order_by=["attributes.start_time DESC"])
        return [run.info.run_id for run in runs]

    def _experiment_id(self, name: str) -> str:
        experiment = self._client.get_experiment_by_name(name)
        if experiment is not None:
            return str(experiment.experiment_id)
        return str(self._client.create_experiment(name))
