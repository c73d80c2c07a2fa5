"""Benchmark the model worker against the model alone, side by side in one run.

Needs LocalStack and MLflow with a sentiment champion (``make up`` running, or the same
settings in the environment). Uses its own resource prefix, so a running platform is not
disturbed (its workers never see these queues).

    .venv/bin/python benchmarks/worker.py [--backlog 5000] [--memory-drain 20000] [--threads N]

Prints:
* model-only throughput at batch sizes 1, 8, 32, 128 (texts/s, this process, same threads);
* the worker draining a backlog of ``--backlog`` queued requests (dynamic batching), and a
  one-message-at-a-time worker draining a tenth of that, with the ratios the issue asks for;
* resident memory sampled over a ``--memory-drain`` drain (first vs. last 10% of samples);
* cold start: a ``model-runtime serve`` process, from exec to its first answer published.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from texts import TEXTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backlog", type=int, default=5000)
    parser.add_argument("--memory-drain", type=int, default=20000, help="0 to skip")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: the worker's)")
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    os.environ.setdefault("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    for key, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"), ("AWS_REGION", "us-east-1")):
        os.environ.setdefault(key, value)
    os.environ["RESOURCE_PREFIX"] = f"bench{uuid.uuid4().hex[:6]}-"

    from inference_core.aws.clients import aws_client
    from inference_core.aws.provision import ModelRoute, provision
    from model_runtime.catalog import find
    from model_runtime.device import configure_threads, select_device
    from model_runtime.hot_swap import load_version
    from model_runtime.registry import ModelRegistry
    from model_runtime.settings import RuntimeSettings

    settings = RuntimeSettings.from_env()
    threads = configure_threads(args.threads or settings.threads)
    device = select_device(settings.device)
    registry = ModelRegistry(settings.tracking_uri)
    spec = find(settings.models_dir, "sentiment")
    ref = registry.by_alias("sentiment")
    if ref is None:
        raise SystemExit("no sentiment@champion in MLflow: run make up first")
    served = load_version(spec, registry, ref, device)
    topology = provision(
        aws_client("sns", settings.aws),
        aws_client("sqs", settings.aws),
        aws_client("s3", settings.aws),
        settings.aws.names,
        [ModelRoute("sentiment", "sentiment")],
    )
    print(f"sentiment v{ref.version} on {device}, {threads} torch threads, prefix {settings.aws.names.prefix}")

    texts = [f"{TEXTS[i % len(TEXTS)]} #{i}" for i in range(1024)]
    served.model.predict(texts[:32])  # warm-up
    print("model alone:")
    model_best = 0.0
    for batch in (1, 8, 32, 128):
        count = 128 if batch == 1 else 512
        start = time.perf_counter()
        for i in range(0, count, batch):
            served.model.predict(texts[i : i + batch])
        rate = count / (time.perf_counter() - start)
        model_best = max(model_best, rate)
        print(f"  batch {batch:3d}: {rate:8.1f} texts/s")

    queue_url = topology.model_queue_urls["sentiment"]
    print(
        f"worker, dynamic batching (batch {args.batch_size}, 4 receivers, 2 batches in hand), draining {args.backlog}:"
    )
    batched = drain(settings, served, queue_url, args.backlog, batch_size=args.batch_size, receivers=4, concurrency=2)
    print(f"  {batched:8.1f} requests/s = {batched / model_best:.0%} of the model's best batch")
    single_count = max(100, args.backlog // 10)
    print(f"worker, one message at a time, draining {single_count}:")
    single = drain(settings, served, queue_url, single_count, batch_size=1, receivers=1, max_messages=1, concurrency=1)
    print(f"  {single:8.1f} requests/s; dynamic batching is {batched / single:.1f}x faster")

    if args.memory_drain:
        print(f"memory over a {args.memory_drain}-message drain:")
        samples: list[int] = []
        drain(
            settings,
            served,
            queue_url,
            args.memory_drain,
            batch_size=args.batch_size,
            receivers=4,
            concurrency=2,
            rss=samples,
        )
        tenth = max(1, len(samples) // 10)
        early, late = sum(samples[:tenth]) / tenth, sum(samples[-tenth:]) / tenth
        print(f"  RSS first 10%: {early / 2**20:7.1f} MiB, last 10%: {late / 2**20:7.1f} MiB ({late / early - 1:+.1%})")

    cold = cold_start(settings.aws.names.prefix, queue_url, topology.gateway_queue_url)
    print(f"cold start (exec -> first answer published, model pulled from MLflow): {cold:.1f} s")


def drain(
    settings: object,
    served: object,
    queue_url: str,
    count: int,
    batch_size: int,
    receivers: int,
    max_messages: int = 10,
    concurrency: int = 1,
    rss: list[int] | None = None,
    action: str = "sentiment",
) -> float:
    """Fill the queue with `count` requests, then time an in-process worker draining it."""
    from inference_core.aws.clients import aws_client
    from inference_core.aws.consumer import ConsumerSettings, Intake, QueueConsumer
    from inference_core.aws.s3 import S3Store
    from inference_core.aws.sns import SnsPublisher, find_topic_arn
    from inference_core.aws.sqs import SqsQueue
    from model_runtime.features import FeatureStore
    from model_runtime.worker import InferenceWorker, ModelSlot

    aws = settings.aws  # type: ignore[attr-defined]
    sqs, sns = aws_client("sqs", aws), aws_client("sns", aws)
    fill(sqs, queue_url, count, action)
    processed = 0
    done = threading.Event()
    intake = Intake()
    worker = InferenceWorker(
        ModelSlot(served),  # type: ignore[arg-type]
        SnsPublisher(sns, find_topic_arn(sns, aws.names.topic)),
        FeatureStore(S3Store(aws_client("s3", aws), aws.names.bucket)),
        None,
        # the worker as `model-runtime serve` builds it from its settings
        settings.announce_started,  # type: ignore[attr-defined]
        settings.started_after_seconds,  # type: ignore[attr-defined]
        settings.inline_results_bytes,  # type: ignore[attr-defined]
        intake=intake,
    )

    def counting(messages):  # type: ignore[no-untyped-def]
        nonlocal processed
        failures = worker.handle(messages)
        processed += len(messages) - len(failures)
        if rss is not None:
            rss.append(_rss_bytes())
        if processed >= count:
            done.set()
            consumer.stop()
        return failures

    consumer = QueueConsumer(
        SqsQueue(sqs, queue_url),
        counting,
        ConsumerSettings(
            max_messages=max_messages,
            wait_seconds=1,
            batch_size=batch_size,
            batch_wait_seconds=0.02,
            receivers=receivers,
            concurrency=concurrency,
        ),
        intake=intake,
    )
    start = time.perf_counter()
    consumer.run()
    return processed / (time.perf_counter() - start)


def fill(sqs: object, queue_url: str, count: int, action: str = "sentiment") -> None:
    from concurrent.futures import ThreadPoolExecutor

    from inference_core.events import InferenceRequested, encode, utcnow

    def send(start: int) -> None:
        entries = [
            {
                "Id": str(i),
                "MessageBody": encode(
                    InferenceRequested(
                        request_id=uuid.uuid4(),
                        action=action,
                        text=f"{TEXTS[i % len(TEXTS)]} #{i}",
                        submitted_at=utcnow(),
                    )
                ).body,
            }
            for i in range(start, min(start + 10, count))
        ]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)  # type: ignore[attr-defined]

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, range(0, count, 10)))


def cold_start(prefix: str, queue_url: str, gateway_queue_url: str) -> float:
    from inference_core.aws.clients import aws_client
    from inference_core.aws.sqs import SqsQueue
    from inference_core.settings import AwsSettings, Env

    aws = AwsSettings.from_env(Env())
    sqs = aws_client("sqs", aws)
    sqs.purge_queue(QueueUrl=gateway_queue_url)
    time.sleep(1)
    fill(sqs, queue_url, 1)
    env = {**os.environ, "MODEL_NAME": "sentiment", "RESOURCE_PREFIX": prefix, "WORKER_WAIT_SECONDS": "1"}
    start = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "model-runtime"), "serve"], env=env, stdout=log, stderr=log
        )
        responses = SqsQueue(sqs, gateway_queue_url)
        try:
            while time.perf_counter() - start < 180:
                for message in responses.receive(10, 1):
                    if json.loads(message.body)["event_type"] == "inference_batch_response":
                        return time.perf_counter() - start
            raise SystemExit("the worker answered nothing within 180 s")
        finally:
            process.terminate()
            process.wait(30)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


if __name__ == "__main__":
    main()
