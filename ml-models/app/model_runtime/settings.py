"""The model service's settings, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from inference_core.settings import AwsSettings, Env

DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"


@dataclass(frozen=True)
class RuntimeSettings:
    models_dir: Path
    tracking_uri: str
    aws: AwsSettings
    model_name: str | None = None
    alias: str = "champion"
    device: str = "auto"
    threads: int | None = None
    wait_seconds: int = 20
    backoff_base_seconds: int = 2
    heartbeat_seconds: int = 30
    # A local copy of trained artifacts, to restore a champion whose artifact store was wiped.
    artifact_cache_dir: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RuntimeSettings:
        env = Env(environ)
        threads = env.integer("TORCH_THREADS", 0, minimum=0)
        return cls(
            models_dir=Path(env.text("MODELS_DIR", str(DEFAULT_MODELS_DIR))),
            tracking_uri=env.text("MLFLOW_TRACKING_URI"),
            aws=AwsSettings.from_env(env),
            model_name=env.optional("MODEL_NAME"),
            alias=env.text("MODEL_ALIAS", "champion"),
            device=env.text("MODEL_DEVICE", "auto"),
            threads=threads or None,
            wait_seconds=env.integer("WORKER_WAIT_SECONDS", 20, minimum=0, maximum=20),
            backoff_base_seconds=env.integer("WORKER_BACKOFF_SECONDS", 2, minimum=0),
            heartbeat_seconds=env.integer("WORKER_HEARTBEAT_SECONDS", 30, minimum=1),
            artifact_cache_dir=Path(cache) if (cache := env.optional("MODEL_ARTIFACT_CACHE_DIR")) else None,
        )
