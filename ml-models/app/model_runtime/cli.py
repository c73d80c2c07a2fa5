"""``model-runtime``: the one command line behind the model service and its jobs.

model-runtime serve                       # the worker for $MODEL_NAME (composition root)
model-runtime train --model sentiment     # train, log to MLflow, register (optionally alias)
model-runtime ensure-champions            # train+register+alias every model lacking a servable champion
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from model_runtime.settings import RuntimeSettings

if TYPE_CHECKING:
    from model_runtime.base import TrainOptions

log = logging.getLogger("model_runtime")


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="model-runtime", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the worker for $MODEL_NAME")
    train = commands.add_parser("train", help="train one model and register a new version")
    train.add_argument("--model", required=True)
    train.add_argument("--limit", type=int, default=None, help="train on at most N examples")
    train.add_argument("--alias", default=None, help="point this alias at the new version")
    ensure = commands.add_parser("ensure-champions", help="train models that have no servable champion")
    ensure.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)

    settings = RuntimeSettings.from_env()
    if args.command == "serve":
        serve(settings)
    elif args.command == "train":
        train_one(settings, args.model, args.limit, args.alias)
    else:
        ensure_champions(settings, args.limit)


def _options(settings: RuntimeSettings, limit: int | None) -> TrainOptions:
    from model_runtime.base import TrainOptions
    from model_runtime.device import configure_threads, select_device

    configure_threads(settings.threads)
    return TrainOptions(device=select_device(settings.device), limit=limit)


def train_one(settings: RuntimeSettings, name: str, limit: int | None, alias: str | None) -> None:
    from model_runtime.catalog import find
    from model_runtime.lifecycle import train_and_register
    from model_runtime.registry import ModelRegistry

    registry = ModelRegistry(settings.tracking_uri)
    spec = find(settings.models_dir, name)
    version = train_and_register(spec, registry, _options(settings, limit), alias)
    print(f"registered {name} version {version.version}" + (f" as @{alias}" if alias else ""))


def ensure_champions(settings: RuntimeSettings, limit: int | None) -> None:
    from model_runtime.catalog import discover
    from model_runtime.lifecycle import ensure_champion
    from model_runtime.registry import ModelRegistry

    registry = ModelRegistry(settings.tracking_uri)
    for spec in discover(settings.models_dir):
        ensure_champion(spec, registry, _options(settings, limit), settings.artifact_cache_dir)


def serve(settings: RuntimeSettings) -> None:
    from inference_core.aws.clients import aws_client
    from inference_core.aws.consumer import ConsumerSettings, QueueConsumer, max_receive_count
    from inference_core.aws.s3 import S3Store
    from inference_core.aws.sns import SnsPublisher, find_topic_arn
    from inference_core.aws.sqs import SqsQueue
    from model_runtime.catalog import find, load_class
    from model_runtime.device import configure_threads, select_device
    from model_runtime.features import FeatureStore
    from model_runtime.registry import ModelRegistry
    from model_runtime.worker import Heartbeat, InferenceWorker, ServedModel

    if not settings.model_name:
        raise SystemExit("MODEL_NAME must be set to the model this worker serves")
    started = time.monotonic()
    spec = find(settings.models_dir, settings.model_name)
    device = select_device(settings.device)
    threads = configure_threads(settings.threads)

    registry = ModelRegistry(settings.tracking_uri)
    ref = registry.by_alias(spec.name, settings.alias)
    if ref is None:
        raise SystemExit(f"no {spec.name}@{settings.alias} in the MLflow registry; train one first")
    with tempfile.TemporaryDirectory(prefix=f"{spec.name}-v{ref.version}-") as tmp:
        model = load_class(spec).load(registry.download(ref, Path(tmp)), device)
    served = ServedModel(spec.name, ref.version, spec.action, model)

    sns, sqs = aws_client("sns", settings.aws), aws_client("sqs", settings.aws)
    queue = SqsQueue.named(sqs, settings.aws.names.model_queue(spec.name))
    worker = InferenceWorker(
        served,
        SnsPublisher(sns, find_topic_arn(sns, settings.aws.names.topic)),
        FeatureStore(S3Store(aws_client("s3", settings.aws), settings.aws.names.bucket)),
        max_receive_count(sqs, queue.url),
    )
    consumer = QueueConsumer(
        queue,
        worker.handle,
        ConsumerSettings(wait_seconds=settings.wait_seconds, backoff_base_seconds=settings.backoff_base_seconds),
    )
    consumer.install_signal_handlers()
    heartbeat = Heartbeat(worker, settings.heartbeat_seconds)
    heartbeat.start()
    log.info(
        "serving %s v%s for action %r on %s (%d threads), ready in %.1fs",
        spec.name,
        ref.version,
        spec.action,
        device,
        threads,
        time.monotonic() - started,
    )
    try:
        consumer.run()
    finally:
        heartbeat.stop()
    log.info("worker for %s stopped", spec.name)
