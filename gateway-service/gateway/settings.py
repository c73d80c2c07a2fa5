"""The gateway's settings, read once from the environment by each composition root."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gateway.callbacks import CallbackSettings
from inference_core.aws.limits import MAX_SNS_MESSAGE_BYTES
from inference_core.metrics import MetricsSettings
from inference_core.settings import AwsSettings, Env, database_url

# Requests a gateway process serves at once (gunicorn threads): a ?wait=N request holds one while it
# waits. Its database pool holds as many connections, so a busy process never opens and closes them.
THREADS_PER_PROCESS = 16
# prometheus_client's own setting: where each process of a multi-process server writes its metrics
# (read by prometheus_client when first imported; gunicorn_config sets it before that).
MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

# Leave room in the SNS message for the envelope and attributes around the request text.
_MAX_BODY_CEILING = MAX_SNS_MESSAGE_BYTES // 2


@dataclass(frozen=True)
class Settings:
    database_url: str
    aws: AwsSettings
    max_body_bytes: int = 64 * 1024
    max_wait_seconds: int = 30
    # How long one GET .../events stream lasts before the server ends it (the client's EventSource
    # reconnects and is sent the current status): a stream holds one of the process's threads.
    max_stream_seconds: int = 300
    # A worker that has not announced itself for this long is shown as not serving.
    serving_ttl_seconds: int = 90
    consumer_wait_seconds: int = 20
    consumer_backoff_base_seconds: int = 2
    # How long a process trusts an API key it has found (and its tenant's rate limit): a revoked key is
    # refused, and a changed limit applies, within this time.
    key_cache_seconds: int = 5
    redis_url: str = "redis://127.0.0.1:6379/0"  # the rate limits' buckets
    # Callbacks (gateway.callbacks): may they go to loopback, private and link-local addresses (no:
    # SSRF), and how long after its request finished one is retried before it is given up.
    callbacks: CallbackSettings = field(default_factory=CallbackSettings)
    # The dispatcher's /metrics port (METRICS_PORT, METRICS_ADDRESS); the HTTP server answers /metrics itself.
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    # Where gunicorn's processes keep their metrics for a scrape to add up (PROMETHEUS_MULTIPROC_DIR,
    # which gateway-server makes when unset); None in a single process.
    metrics_multiprocess_dir: Path | None = None
    # The model folders (MODELS_DIR): the dispatcher reports every model's queues' depth, so that a
    # model scaled to zero still shows its backlog and dead letters. None: the gateway's queue only.
    models_dir: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = Env(environ)
        return cls(
            database_url=database_url(env),
            aws=AwsSettings.from_env(env),
            max_body_bytes=env.integer("GATEWAY_MAX_BODY_BYTES", 64 * 1024, minimum=1024, maximum=_MAX_BODY_CEILING),
            max_wait_seconds=env.integer("GATEWAY_MAX_WAIT_SECONDS", 30, minimum=0, maximum=30),
            max_stream_seconds=env.integer(
                "GATEWAY_MAX_STREAM_SECONDS", cls.max_stream_seconds, minimum=1, maximum=3600
            ),
            serving_ttl_seconds=env.integer("GATEWAY_SERVING_TTL_SECONDS", 90, minimum=1),
            consumer_wait_seconds=env.integer("GATEWAY_CONSUMER_WAIT_SECONDS", 20, minimum=0, maximum=20),
            consumer_backoff_base_seconds=env.integer("GATEWAY_CONSUMER_BACKOFF_SECONDS", 2, minimum=0),
            key_cache_seconds=env.integer("GATEWAY_KEY_CACHE_SECONDS", 5, minimum=0, maximum=300),
            redis_url=env.text("REDIS_URL", "redis://127.0.0.1:6379/0"),
            callbacks=CallbackSettings(
                allow_private_networks=env.flag("CALLBACK_ALLOW_PRIVATE_NETWORKS", False),
                max_seconds=env.integer(
                    "CALLBACK_MAX_SECONDS", CallbackSettings.max_seconds, minimum=1, maximum=86_400
                ),
            ),
            metrics=MetricsSettings.from_env(env),
            metrics_multiprocess_dir=Path(d) if (d := env.optional(MULTIPROCESS_DIR_VARIABLE)) else None,
            models_dir=Path(d) if (d := env.optional("MODELS_DIR")) else None,
        )
