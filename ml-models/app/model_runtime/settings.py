"""The model service's settings, read once from the environment."""

from __future__ import annotations

import getpass
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from inference_core.metrics import MetricsSettings
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
    half_precision: str = "auto"  # auto: on CUDA only
    threads: int | None = None
    wait_seconds: int = 20
    backoff_base_seconds: int = 2
    heartbeat_seconds: int = 30
    alias_poll_seconds: float = 30.0  # how soon a moved champion is noticed
    batch_size: int = 128  # texts per predict call at most, gathered across receives
    # How long a batch may wait to fill after its first message, while the queue has more behind (a
    # lone request, whose receive came back short, does not wait). Under load the inbox fills while
    # the previous batch is predicted anyway: keep it short.
    batch_wait_seconds: float = 0.005
    receivers: int = 4  # long polls in flight (10 messages each)
    # inference_batch_started events let clients see "running"; they cost one more publish per batch
    # (and the dispatcher's receive and delete of it), so only a batch still predicting after
    # started_after_seconds is announced.
    announce_started: bool = True
    started_after_seconds: float = 0.1
    # A batch's results up to this size (JSON bytes) travel in their answers; a larger batch's go to S3
    # as one object and the answers carry references. botocore percent-encodes every byte of an SNS
    # message in Python (~0.2 ms of CPU per KB here), against ~8 ms for one S3 write and its read.
    inline_results_bytes: int = 65536
    concurrency: int = 2  # batches in hand: one predicting while the other is stored and answered
    # A local copy of trained artifacts, to restore a champion whose artifact store was wiped.
    artifact_cache_dir: Path | None = None
    # Who promotes or rolls back, as recorded in MLflow (CI sets it to the pipeline and run).
    decided_by: str = "unknown"
    # Where people's labels are (the platform's database): training adds them, promotion checks them.
    database_url: str | None = None
    human_held_out_min: int = 30  # fewer held-out human labels than this do not gate a promotion
    metrics: MetricsSettings = field(default_factory=MetricsSettings)  # the worker's /metrics port

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
            half_precision=env.text("MODEL_HALF_PRECISION", "auto"),
            threads=threads or None,
            wait_seconds=env.integer("WORKER_WAIT_SECONDS", 20, minimum=0, maximum=20),
            backoff_base_seconds=env.integer("WORKER_BACKOFF_SECONDS", 2, minimum=0),
            heartbeat_seconds=env.integer("WORKER_HEARTBEAT_SECONDS", 30, minimum=1),
            alias_poll_seconds=env.integer("WORKER_ALIAS_POLL_SECONDS", 30, minimum=1),
            batch_size=env.integer("WORKER_BATCH_SIZE", 128, minimum=1, maximum=1024),
            batch_wait_seconds=env.integer(
                "WORKER_BATCH_WAIT_MS", round(cls.batch_wait_seconds * 1000), minimum=0, maximum=10_000
            )
            / 1000,
            receivers=env.integer("WORKER_RECEIVERS", 4, minimum=1, maximum=64),
            concurrency=env.integer("WORKER_CONCURRENCY", 2, minimum=1, maximum=16),
            announce_started=env.flag("WORKER_ANNOUNCE_STARTED", True),
            started_after_seconds=env.integer(
                "WORKER_STARTED_AFTER_MS", round(cls.started_after_seconds * 1000), minimum=0, maximum=60_000
            )
            / 1000,
            inline_results_bytes=env.integer("WORKER_INLINE_RESULTS_BYTES", cls.inline_results_bytes, minimum=0),
            decided_by=env.text("PROMOTED_BY", f"{getpass.getuser()}@{socket.gethostname()}"),
            artifact_cache_dir=Path(cache) if (cache := env.optional("MODEL_ARTIFACT_CACHE_DIR")) else None,
            database_url=env.optional("DATABASE_URL"),
            human_held_out_min=env.integer("HUMAN_HELD_OUT_MIN", 30, minimum=1),
            metrics=MetricsSettings.from_env(env),
        )
