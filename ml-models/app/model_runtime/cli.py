"""``model-runtime``: the one command line behind the model service and its jobs.

    model-runtime serve                                     # the worker for $MODEL_NAME (composition root)
    model-runtime train --model sentiment                   # train (with people's labels), register as @challenger
    model-runtime eval --model sentiment --version 3        # score a version (a number or an alias)
    model-runtime promote --model sentiment --margin 0.005  # challenger -> champion only if better by the margin
    model-runtime rollback --model sentiment                # champion -> the version it replaced
    model-runtime ensure-champions                          # a servable champion for every model (make up)

The shell scripts in ml-models/app/jobs/ call these, the way a CI pipeline would.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from inference_core import logs
from inference_core.settings import Env, job_settings
from model_runtime.settings import RuntimeSettings

if TYPE_CHECKING:
    from model_runtime.base import TrainOptions
    from model_runtime.catalog import ModelSpec
    from model_runtime.human_labels import HumanSplit

log = logging.getLogger("model_runtime")


def main(argv: Sequence[str] | None = None) -> None:
    logs.configure("model-runtime", Env())
    parser = argparse.ArgumentParser(prog="model-runtime", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the worker for $MODEL_NAME")
    train = commands.add_parser("train", help="train one model and register a new version")
    train.add_argument("--model", required=True)
    train.add_argument("--limit", type=int, default=None, help="train on at most N examples")
    train.add_argument("--alias", default="challenger", help="alias for the new version ('' for none)")
    evaluate = commands.add_parser("eval", help="score a version on the model's held-out data")
    evaluate.add_argument("--model", required=True)
    evaluate.add_argument("--version", default="challenger", help="a version number or an alias")
    evaluate.add_argument("--limit", type=int, default=None)
    promote = commands.add_parser("promote", help="make the challenger champion if it is better")
    promote.add_argument("--model", required=True)
    promote.add_argument("--margin", type=float, default=0.0, help="required gain on the declared metric")
    promote.add_argument("--limit", type=int, default=None)
    rollback = commands.add_parser("rollback", help="move champion back to the previous champion")
    rollback.add_argument("--model", required=True)
    ensure = commands.add_parser("ensure-champions", help="train models that have no servable champion")
    ensure.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)

    settings = job_settings(RuntimeSettings.from_env, "model-runtime")
    if args.command == "serve":
        serve(settings)
    elif args.command == "ensure-champions":
        ensure_champions(settings, args.limit)
    else:
        run_job(settings, args)


def run_job(settings: RuntimeSettings, args: argparse.Namespace) -> None:
    from model_runtime import lifecycle
    from model_runtime.catalog import find
    from model_runtime.registry import ModelRegistry

    registry = ModelRegistry(settings.tracking_uri)
    spec = find(settings.models_dir, args.model)
    human = _human_split(settings, spec) if args.command in ("train", "eval", "promote") else None
    scored_on = human.gate(settings.human_held_out_min) if human else []
    if args.command == "train":
        options = _options(settings, args.limit)
        version = lifecycle.train_and_register(
            spec, registry, options, args.alias or None, settings.artifact_cache_dir, human
        )
        print(
            f"registered {spec.name} version {version.version}"
            + (f" as @{args.alias}" if args.alias else "")
            + (f" ({len(human.train)} human labels in training, {len(human.held_out)} held out)" if human else "")
        )
    elif args.command == "eval":
        result = lifecycle.evaluate(
            spec, registry, registry.resolve(spec.name, args.version), _options(settings, args.limit), scored_on
        )
        print(
            f"{spec.name} v{result.ref.version}: "
            + ", ".join(f"{k}={v:.4f}" for k, v in sorted(result.metrics.items()))
        )
    elif args.command == "promote":
        decision = lifecycle.promote(
            spec, registry, _options(settings, args.limit), args.margin, settings.decided_by, scored_on
        )
        verdict = "PROMOTED" if decision.promoted else "REFUSED"
        print(f"{verdict}: {spec.name} v{decision.challenger.ref.version} ({decision.reason})")
    elif args.command == "rollback":
        previous = lifecycle.rollback(spec, registry, settings.decided_by)
        print(f"{spec.name}@champion is back to version {previous.version}")


def _human_split(settings: RuntimeSettings, spec: ModelSpec) -> HumanSplit | None:
    """People's labels of the model, split; None for a model whose results are not labels, or
    where no database is configured."""
    from inference_core.db.engine import make_engine
    from inference_core.db.labels import PostgresLabels
    from model_runtime.human_labels import split

    if not spec.labels:
        return None
    if settings.database_url is None:
        log.info("DATABASE_URL is not set: %s trains and is scored without people's labels", spec.name)
        return None
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        return split(PostgresLabels(engine).labelled(spec.name), spec.labels)
    finally:
        engine.dispose()


def _options(settings: RuntimeSettings, limit: int | None) -> TrainOptions:
    from model_runtime.base import TrainOptions
    from model_runtime.device import configure_threads, select_device

    configure_threads(settings.threads)
    return TrainOptions(device=select_device(settings.device), limit=limit)


def ensure_champions(settings: RuntimeSettings, limit: int | None) -> None:
    from model_runtime.catalog import discover
    from model_runtime.lifecycle import ensure_champion
    from model_runtime.registry import ModelRegistry

    registry = ModelRegistry(settings.tracking_uri)
    for spec in discover(settings.models_dir):
        ensure_champion(spec, registry, _options(settings, limit), settings.artifact_cache_dir)


def serve(settings: RuntimeSettings) -> None:
    from inference_core import tracing
    from inference_core.aws.clients import aws_client
    from inference_core.aws.consumer import ConsumerSettings, Intake, QueueConsumer, max_receive_count
    from inference_core.aws.s3 import S3Store
    from inference_core.aws.sns import SnsPublisher, find_topic_arn
    from inference_core.aws.sqs import SqsQueue
    from inference_core.metrics import serve_metrics
    from model_runtime.catalog import find
    from model_runtime.device import configure_threads, select_device, use_half_precision
    from model_runtime.features import FeatureStore
    from model_runtime.hot_swap import ChampionWatcher, load_version
    from model_runtime.metrics import WorkerMetrics
    from model_runtime.periodic import Periodic
    from model_runtime.registry import ModelRegistry
    from model_runtime.worker import InferenceWorker, ModelSlot

    if not settings.model_name:
        raise SystemExit("MODEL_NAME must be set to the model this worker serves")
    tracing.configure(f"inference-worker-{settings.model_name}", Env())
    started = time.monotonic()
    spec = find(settings.models_dir, settings.model_name)
    device = select_device(settings.device)
    threads = configure_threads(settings.threads)
    half = use_half_precision(device, settings.half_precision)

    registry = ModelRegistry(settings.tracking_uri)
    ref = registry.by_alias(spec.name, settings.alias)
    if ref is None:
        raise SystemExit(f"no {spec.name}@{settings.alias} in the MLflow registry; train one first")
    slot = ModelSlot(load_version(spec, registry, ref, device, half))

    sns, sqs = aws_client("sns", settings.aws), aws_client("sqs", settings.aws)
    names = settings.aws.names
    lanes = (names.model_queue(spec.name), names.priority_queue(spec.name))
    queue, high_priority = (SqsQueue.named(sqs, name) for name in lanes)  # the high-priority lane is drained first
    metrics = WorkerMetrics(spec.name)
    metrics.watch(lambda: slot.current)  # its queues' depth: the dispatcher's metrics (also at zero workers)
    intake = Intake()  # the next batch is formed when the model is free
    worker = InferenceWorker(
        slot,
        SnsPublisher(sns, find_topic_arn(sns, settings.aws.names.topic)),
        FeatureStore(S3Store(aws_client("s3", settings.aws), settings.aws.names.bucket)),
        max_receive_count(sqs, queue.url),
        settings.announce_started,
        settings.started_after_seconds,
        settings.inline_results_bytes,
        metrics,
        intake,
    )
    consumer = QueueConsumer(
        queue,
        worker.handle,
        ConsumerSettings(
            wait_seconds=settings.wait_seconds,
            backoff_base_seconds=settings.backoff_base_seconds,
            batch_size=settings.batch_size,
            batch_wait_seconds=settings.batch_wait_seconds,
            receivers=settings.receivers,
            concurrency=settings.concurrency,
        ),
        priority_lane=high_priority,
        intake=intake,
    )
    consumer.install_signal_handlers()
    heartbeat = Periodic("heartbeat", worker.announce_serving, settings.heartbeat_seconds, run_first=True)
    watcher = ChampionWatcher(
        spec,
        registry,
        settings.alias,
        device,
        slot,
        settings.alias_poll_seconds,
        lambda _: worker.announce_serving(),
        half,
    )
    heartbeat.start()
    watcher.start()
    serve_metrics(metrics.registry, settings.metrics)
    log.info(
        "serving %s v%s for action %r on %s%s (%d threads, batches of up to %d), ready in %.1fs",
        spec.name,
        ref.version,
        spec.action,
        device,
        " in half precision" if half else "",
        threads,
        settings.batch_size,
        time.monotonic() - started,
    )
    try:
        consumer.run()
    finally:
        watcher.stop()
        heartbeat.stop()
    log.info("worker for %s stopped", spec.name)
