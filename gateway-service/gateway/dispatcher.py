"""The gateway's event process: publishes the outbox and applies the workers' events.

``gateway-dispatcher`` runs three loops in one process: the outbox relay and the callback deliverer
(threads) and the consumer of the gateway queue (the main thread, so SIGTERM reaches it).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from gateway.callbacks import CallbackDeliverer, UrllibPoster
from gateway.handlers import apply_worker_events
from gateway.metrics import DispatcherMetrics, PlatformState
from gateway.outbox import OutboxRelay
from gateway.settings import Settings
from gateway.store import SqlCallbacks, SqlUnitOfWork, platform_state
from inference_core import logs, tracing
from inference_core.aws.clients import aws_client
from inference_core.aws.consumer import ConsumerSettings, QueueConsumer
from inference_core.aws.s3 import S3Store
from inference_core.aws.sns import SnsPublisher, find_topic_arn
from inference_core.aws.sqs import QueueByName, SqsQueue
from inference_core.catalog import discover
from inference_core.db.engine import make_engine
from inference_core.metrics import serve_metrics, watch_queues
from inference_core.settings import Env, ResourceNames

log = logging.getLogger(__name__)

APPLY_BATCH_SIZE = 100
APPLY_BATCH_WAIT_SECONDS = 0.005  # at most, after its first event, while the queue has more behind


@dataclass
class Dispatcher:
    relay: OutboxRelay
    consumer: QueueConsumer
    callbacks: CallbackDeliverer

    def run(self) -> None:
        stop = threading.Event()
        loops = [
            threading.Thread(target=self.relay.run, args=(stop,), name="outbox-relay", daemon=True),
            threading.Thread(target=self.callbacks.run, args=(stop,), name="callbacks", daemon=True),
        ]
        for loop in loops:
            loop.start()
        try:
            self.consumer.run()
        finally:
            stop.set()
            for loop in loops:
                loop.join(timeout=10)


def build_dispatcher(settings: Settings, metrics: DispatcherMetrics) -> Dispatcher:
    engine = make_engine(settings.database_url)

    def state() -> PlatformState:
        with engine.connect() as conn:
            return platform_state(conn)

    metrics.watch(state)
    sns = aws_client("sns", settings.aws)
    sqs = aws_client("sqs", settings.aws)
    publisher = SnsPublisher(sns, find_topic_arn(sns, settings.aws.names.topic))
    stored_results = S3Store(aws_client("s3", settings.aws), settings.aws.names.bucket)
    queue = SqsQueue.named(sqs, settings.aws.names.gateway_queue)
    watch_queues(metrics.registry, watched_queues(sqs, settings.aws.names, settings.models_dir))
    consumer = QueueConsumer(
        queue,
        partial(apply_worker_events, SqlUnitOfWork(engine), stored_results, observer=metrics),
        ConsumerSettings(
            wait_seconds=settings.consumer_wait_seconds,
            backoff_base_seconds=settings.consumer_backoff_base_seconds,
            # Events from several receives applied in one transaction (handlers.apply_worker_events).
            # One long poll (the default): a poll still in flight when the process stops may take
            # messages on the queue's side that come back only after the visibility timeout.
            batch_size=APPLY_BATCH_SIZE,
            batch_wait_seconds=APPLY_BATCH_WAIT_SECONDS,
        ),
    )
    callbacks = CallbackDeliverer(SqlCallbacks(engine), UrllibPoster(), settings.callbacks)
    return Dispatcher(OutboxRelay(engine, publisher, settings.database_url), consumer, callbacks)


def watched_queues(sqs: Any, names: ResourceNames, models_dir: Path | None) -> list[QueueByName]:
    """The queues whose depth the dispatcher reports: the gateway's, and each model folder's queue and
    high-priority lane, each with its DLQ. A model's workers may be scaled to zero: its backlog and dead
    letters must still show (a queue not provisioned yet is left out of a scrape, not fatal)."""
    lanes = [names.gateway_queue]
    for spec in discover(models_dir) if models_dir is not None else []:
        lanes += [names.model_queue(spec.name), names.priority_queue(spec.name)]
    return [QueueByName(sqs, name) for lane in lanes for name in (lane, names.dead_letter_queue(lane))]


def main() -> None:
    logs.configure("inference-dispatcher", Env())
    settings = Settings.from_env()
    tracing.configure("inference-dispatcher", Env())
    metrics = DispatcherMetrics()
    dispatcher = build_dispatcher(settings, metrics)
    dispatcher.consumer.install_signal_handlers()
    serve_metrics(metrics.registry, settings.metrics)
    log.info("gateway dispatcher running")
    dispatcher.run()
    log.info("gateway dispatcher stopped")


if __name__ == "__main__":
    main()
