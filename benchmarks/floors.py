"""The floor under bench-compare's targets: what the AWS hops of one request cost on this machine.

Ten requests (the SQS and SNS batch limit) go through the calls the platform makes for them, made
with the platform's own adapters and payloads, on queues of their own (own resource prefix):

    relay      sns.PublishBatch   10 inference_request events
    worker     sqs.ReceiveMessage 10, sns.PublishBatch 1 inference_batch_started,
               s3.PutObject       the batch's features (and its results, when a full worker batch of
                                  them goes by reference), sns.PublishBatch 1 inference_batch_response
                                  (the ten answers), sqs.DeleteMessageBatch 10
    dispatcher sqs.ReceiveMessage 2 (started + answers), s3.GetObject the results (by reference only),
               sqs.DeleteMessageBatch 2, sns.PublishBatch 10 job_completed

* client CPU: this thread's CPU time around each call (botocore builds, signs, sends and parses;
  LocalStack's side of the call is not in it), the mean over ``rounds`` batches. Divided by ten it is
  what the AWS client alone costs a request at the largest batch AWS allows, whatever else is cut;
  on AWS it stays on the machine, LocalStack's own CPU does not.
* hop latency: a request event published to the topic until a long poll on the model's queue
  (subscribed with its filter policy, as provisioned) returns it; and one S3 PutObject. A request
  answered alone crosses two hops (request, answer) and one write, one after the other.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from pydantic_core import to_json

from inference_core.aws.clients import aws_client
from inference_core.aws.limits import MAX_SNS_BODY_BYTES
from inference_core.aws.provision import ModelRoute, provision
from inference_core.aws.s3 import S3Store
from inference_core.aws.sns import SnsPublisher
from inference_core.aws.sqs import SqsQueue
from inference_core.events import (
    InferenceBatchStarted,
    InferenceCompleted,
    InferenceRequested,
    JobCompleted,
    ResultRef,
    encode,
    encode_outcomes,
    utcnow,
)
from inference_core.settings import AwsSettings, Env
from model_runtime.features import FeatureStore
from model_runtime.settings import RuntimeSettings

BATCH = 10  # SQS's and SNS's batch limit
# Made once per worker batch, however large (the worker's batch is up to WORKER_BATCH_SIZE, not ten),
# and with no part that grows with the batch. The answers' publish and the dispatcher's receive are
# one call per worker batch too, but carry every answer, so they stay counted per ten requests.
PER_WORKER_BATCH = (
    "worker sns.PublishBatch(started)",
    "worker s3.PutObject",
    "worker s3.PutObject(results)",
    "dispatcher s3.GetObject(results)",
    "dispatcher sqs.DeleteMessageBatch",
)


@dataclasses.dataclass
class Floors:
    cpu_ms: dict[str, float]  # "role service.Operation" -> client CPU ms for a batch of ten requests
    hop_ms: float  # p50: publish -> a waiting long poll returns the message
    put_ms: float  # p50: one S3 PutObject (a batch's features)

    def aws_cpu_per_request(self, worker_batch: float = BATCH) -> float:
        """At most ten requests per SQS/SNS call, `worker_batch` per worker batch."""
        return sum(ms / (worker_batch if call in PER_WORKER_BATCH else BATCH) for call, ms in self.cpu_ms.items())

    def latency(self) -> float:
        """What a request answered alone spends in LocalStack at least: two hops and one write."""
        return 2 * self.hop_ms + self.put_ms

    def print(self) -> None:
        print(
            f"  AWS client floor: {self.aws_cpu_per_request():.2f} ms CPU per request at batch {BATCH} "
            "(ms per batch: " + ", ".join(f"{call} {ms:.2f}" for call, ms in self.cpu_ms.items()) + ")"
        )
        print(
            f"  LocalStack latency floor: {self.latency():.0f} ms per request answered alone "
            f"(publish -> long poll returns {self.hop_ms:.1f} ms p50, twice; S3 PutObject {self.put_ms:.1f} ms p50)"
        )


def measure(
    model: str,
    action: str,
    predict: Callable[[list[str]], Any],
    version: str,
    worker: RuntimeSettings,
    rounds: int = 30,
) -> Floors:
    """`predict` gives the model's real answers and features, so the payloads are the platform's; the
    results go by reference when a full worker batch of them would (``worker.inline_results_bytes``)."""
    settings = AwsSettings.from_env(Env({**os.environ, "RESOURCE_PREFIX": f"floor{uuid.uuid4().hex[:6]}-"}))
    sns, sqs, s3 = (aws_client(service, settings) for service in ("sns", "sqs", "s3"))
    topology = provision(sns, sqs, s3, settings.names, [ModelRoute(model, action)])
    publisher = SnsPublisher(sns, topology.topic_arn)
    model_queue = SqsQueue(sqs, topology.model_queue_urls[model])
    gateway_queue = SqsQueue(sqs, topology.gateway_queue_url)
    objects = S3Store(s3, topology.bucket)
    features = FeatureStore(objects)
    output = predict([f"a text to answer, number {i}" for i in range(BATCH)])
    encoded_results = to_json(output.results)
    by_reference = len(encoded_results) * worker.batch_size / BATCH > worker.inline_results_bytes
    cpu: dict[str, list[float]] = {}

    def publish_answers(answers: list[InferenceCompleted]) -> list[int]:
        return publisher.publish([message for message, _ in encode_outcomes(action, answers, MAX_SNS_BODY_BYTES)])

    def timed(call: str, work: Callable[..., Any], *args: Any) -> Any:
        begin = time.thread_time()
        result = work(*args)
        cpu.setdefault(call, []).append((time.thread_time() - begin) * 1000)
        return result

    try:
        for _ in range(rounds):
            requests = [
                InferenceRequested(request_id=uuid.uuid4(), action=action, text=f"text {i}", submitted_at=utcnow())
                for i in range(BATCH)
            ]
            timed("relay sns.PublishBatch", publisher.publish, [encode(r) for r in requests])
            received = _receive_all(
                model_queue, BATCH, partial(timed, "worker sqs.ReceiveMessage", model_queue.receive)
            )
            started = InferenceBatchStarted(
                request_ids=[r.request_id for r in requests],
                action=action,
                model_name=model,
                model_version=version,
                started_at=utcnow(),
            )
            timed("worker sns.PublishBatch(started)", publisher.publish, [encode(started)])
            uri = timed("worker s3.PutObject", features.save_batch, model, version, np.asarray(output.features))
            results_uri = (
                timed("worker s3.PutObject(results)", features.save_results, model, version, encoded_results)
                if by_reference
                else None
            )
            answers = [
                InferenceCompleted(
                    request_id=r.request_id,
                    action=action,
                    status="succeeded",
                    model_name=model,
                    model_version=version,
                    result=None if results_uri else output.results[i],
                    result_ref=ResultRef(uri=results_uri, row=i) if results_uri else None,
                    features_uri=uri,
                    features_row=i,
                    started_at=started.started_at,
                    completed_at=utcnow(),
                )
                for i, r in enumerate(requests)
            ]
            timed("worker sns.PublishBatch(answers)", publish_answers, answers)
            timed("worker sqs.DeleteMessageBatch", model_queue.delete, received)
            events = _receive_all(
                gateway_queue, 2, partial(timed, "dispatcher sqs.ReceiveMessage", gateway_queue.receive)
            )
            if results_uri:
                timed("dispatcher s3.GetObject(results)", objects.get, results_uri)
            timed("dispatcher sqs.DeleteMessageBatch", gateway_queue.delete, events)
            completed = [
                JobCompleted(
                    request_id=r.request_id,
                    action=action,
                    status="succeeded",
                    model_name=model,
                    model_version=version,
                    completed_at=utcnow(),
                )
                for r in requests
            ]
            timed("relay sns.PublishBatch(job_completed)", publisher.publish, [encode(c) for c in completed])
        # per round (a receive may take several calls when LocalStack hands the messages over in parts)
        per_batch = {call: sum(values) / rounds for call, values in cpu.items()}
        return Floors(per_batch, _hop_ms(publisher, model_queue, action, rounds), _put_ms(features, model, version))
    finally:
        for url in (topology.gateway_queue_url, *topology.model_queue_urls.values()):
            sqs.purge_queue(QueueUrl=url)


def _receive_all(queue: SqsQueue, count: int, receive: Callable[[], list[Any]]) -> list[Any]:
    received: list[Any] = []
    deadline = time.monotonic() + 30
    while len(received) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(received)} of {count} messages reached {queue.url} within 30 s")
        received += receive()
    return received


def _hop_ms(publisher: SnsPublisher, queue: SqsQueue, action: str, rounds: int) -> float:
    latencies = []
    for _ in range(rounds):
        arrived: list[float] = []
        poll = threading.Thread(target=_arrival, args=(queue, arrived))
        poll.start()
        time.sleep(0.05)  # the long poll is waiting, as a worker's is
        event = InferenceRequested(request_id=uuid.uuid4(), action=action, text="one", submitted_at=utcnow())
        sent = time.perf_counter()
        publisher.publish([encode(event)])
        poll.join(30)
        latencies.append((arrived[0] - sent) * 1000)
    return statistics.median(latencies)


def _arrival(queue: SqsQueue, arrived: list[float]) -> None:
    while not (messages := queue.receive(1, 20)):
        continue
    arrived.append(time.perf_counter())
    queue.delete(messages)


def _put_ms(features: FeatureStore, model: str, version: str, rounds: int = 30) -> float:
    row = np.zeros((1, 384), dtype=np.float32)
    latencies = []
    for _ in range(rounds):
        begin = time.perf_counter()
        features.save_batch(model, version, row)
        latencies.append((time.perf_counter() - begin) * 1000)
    return statistics.median(latencies)
