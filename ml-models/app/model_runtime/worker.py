"""The model service: poll the model's queue, predict in batches, store features, answer.

For each batch (assembled by the poll loop from several receives, when the model is free: the
worker gives the poll loop's ``Intake`` back as soon as the batch is predicted): announce
``inference_batch_started`` (one event for the batch, published while the batch is predicted, once
it has run ``started_after_seconds``:
a quicker batch goes straight to its answers, and saves the publish), run ``predict`` once
for the batch (falling back to one by one if the batch fails, so one bad input does not
fail its neighbours), save the features to S3, publish the batch's answers (``inference_batch_response``:
one message for the batch, or a few if it does not fit one), and only then let the poll loop delete
the messages. A batch whose results total more
than ``inline_results_bytes`` (embeddings under load) saves them to S3 too, one JSON array, and its
answers carry references: botocore percent-encodes every byte of an SNS message in Python, which
for a large batch of embeddings costs more CPU than one S3 write and read. A small batch (a lone
request) keeps its results inline: no S3 round trips on its path. A message that fails on
its last allowed receive is answered as ``failed`` and then left to move to the DLQ.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate
from typing import Any, Protocol
from uuid import UUID

import numpy as np
from pydantic_core import to_json

from inference_core import tracing
from inference_core.aws.consumer import Failures, Intake
from inference_core.aws.limits import MAX_SNS_BODY_BYTES
from inference_core.aws.sns import Publisher
from inference_core.aws.sqs import ReceivedMessage
from inference_core.events import (
    ErrorInfo,
    InferenceBatchStarted,
    InferenceCompleted,
    InferenceRequested,
    MalformedEvent,
    ModelServing,
    OutcomeStatus,
    ResultRef,
    Usage,
    decode,
    encode,
    encode_outcomes,
    request_id_of,
    utcnow,
)
from model_runtime.base import AbstractModel, BatchOutput
from model_runtime.metrics import WorkerMetrics
from model_runtime.settings import RuntimeSettings

log = logging.getLogger(__name__)


class FeatureSink(Protocol):
    """Where a batch's features (and large results) go: FeatureStore (S3) here, fakes in unit tests."""

    def save_batch(self, model_name: str, model_version: str, features: np.ndarray) -> str: ...

    def save_results(self, model_name: str, model_version: str, results: bytes) -> str: ...


@dataclass(frozen=True)
class _Row:
    result: dict[str, Any]
    features: np.ndarray
    input_tokens: int | None = None


@dataclass(frozen=True)
class ServedModel:
    name: str
    version: str
    action: str
    model: AbstractModel


class ModelSlot:
    """The model version being served; swapped whole between batches, never during one."""

    def __init__(self, served: ServedModel) -> None:
        self._served = served

    @property
    def current(self) -> ServedModel:
        return self._served

    def swap(self, served: ServedModel) -> None:
        self._served = served  # one reference assignment: atomic for the readers


class InferenceWorker:
    def __init__(
        self,
        slot: ModelSlot,
        publisher: Publisher,
        features: FeatureSink,
        max_receive_count: int | None,
        announce_started: bool = True,
        started_after_seconds: float = RuntimeSettings.started_after_seconds,
        inline_results_bytes: int = RuntimeSettings.inline_results_bytes,
        metrics: WorkerMetrics | None = None,
        intake: Intake | None = None,
    ) -> None:
        self._slot = slot
        self.metrics = metrics if metrics is not None else WorkerMetrics(slot.current.name)
        # One predict at a time: with batches handled concurrently, one batch's S3 and SNS
        # calls overlap the next batch's compute instead of competing with it for the cores.
        self._predict_lock = threading.Lock()
        # Shared with the consumer: the next batch is formed once this one is predicted (not before),
        # so that it takes whatever arrived while the model was busy.
        self._intake = intake
        self._publisher = publisher
        self._features = features
        self._max_receive_count = max_receive_count
        self._announce_started_events = announce_started
        self._started_after_seconds = started_after_seconds
        self._inline_results_bytes = inline_results_bytes
        # The start is announced while the batch is predicted, not before: one SNS round trip less per answer.
        self._announcer = ThreadPoolExecutor(1, thread_name_prefix="announce-started")

    def handle(self, messages: Sequence[ReceivedMessage]) -> Failures:
        served = self._slot.current  # the whole batch is served, and recorded, by one version
        self.metrics.received(len(messages))
        failures: dict[str, Exception] = {}
        requests: list[tuple[ReceivedMessage, InferenceRequested]] = []
        for message in messages:
            try:
                event = decode(message.body)
                if not isinstance(event, InferenceRequested):
                    raise MalformedEvent(f"expected an inference_request, got {type(event).__name__}")
                requests.append((message, event))
            except MalformedEvent as exc:
                failures[message.message_id] = exc
        expired = {m.message_id for m, r in requests if _past_deadline(m, r)}
        if expired:  # answered without being computed (or, if that answer fails, retried and expired then)
            failures.update(self._answer_expired(served, [(m, r) for m, r in requests if m.message_id in expired]))
            requests = [(m, r) for m, r in requests if m.message_id not in expired]

        if requests:
            predicted = threading.Event()
            announced = (
                self._announcer.submit(self._announce_started, served, [r for _, r in requests], predicted)
                if self._announce_started_events
                else None
            )
            clock = time.time_ns()
            try:
                started_at, outputs = self._predict(served, [r.text for _, r in requests])
            finally:
                predicted.set()
                if self._intake is not None:
                    self._intake.computed()
            if announced is not None:
                announced.result()  # the start goes out before the answers (it never raises)
            succeeded = [(m, r, o) for (m, r), o in zip(requests, outputs, strict=True) if not isinstance(o, Exception)]
            for (message, _), output in zip(requests, outputs, strict=True):
                if isinstance(output, Exception):
                    failures[message.message_id] = output
            if succeeded:
                try:
                    failures.update(self._answer(served, succeeded, started_at))
                except Exception as exc:  # S3 or SNS down: the whole batch is retried later
                    failures.update({m.message_id: exc for m, _, _ in succeeded})
            _trace_predicted(served, requests, failures, clock)

        dead_lettered = self._answer_final_failures(served, messages, failures)
        answered_expired = len(expired - failures.keys())
        self.metrics.handled("expired", answered_expired)
        self.metrics.handled("succeeded", len(messages) - len(failures) - answered_expired)
        self.metrics.handled("failed", len(failures))
        self.metrics.handled("dead_lettered", dead_lettered)
        return failures

    def announce_serving(self) -> None:
        served = self._slot.current
        event = ModelServing(action=served.action, model_name=served.name, model_version=served.version, at=utcnow())
        self._publisher.publish([encode(event)])

    def _announce_started(
        self, served: ServedModel, requests: list[InferenceRequested], predicted: threading.Event
    ) -> None:
        # Best effort: status "running" is informative; the answer is what matters. A batch predicted
        # within `started_after_seconds` is not announced: its answers follow at once.
        if predicted.wait(self._started_after_seconds):
            return
        started = InferenceBatchStarted(
            request_ids=[r.request_id for r in requests],
            action=served.action,
            model_name=served.name,
            model_version=served.version,
            started_at=utcnow(),
        )
        try:
            self._publisher.publish([encode(started)])
        except Exception as exc:
            log.warning("could not announce started: %s", exc)

    def _predict(self, served: ServedModel, texts: list[str]) -> tuple[datetime, list[_Row | Exception]]:
        """When the model took the batch, and per text its result and features, or the exception it raised."""
        with self._predict_lock:
            started_at, clock = utcnow(), time.perf_counter()
            rows = self._predict_unlocked(served, texts)
            self.metrics.predicted(len(texts), time.perf_counter() - clock)
            return started_at, rows

    def _predict_unlocked(self, served: ServedModel, texts: list[str]) -> list[_Row | Exception]:
        try:
            return self._rows(served.model.predict(texts))
        except Exception as batch_error:
            if len(texts) == 1:
                return [batch_error]
            log.warning("batch of %d failed (%s); retrying one by one", len(texts), batch_error)
        rows: list[_Row | Exception] = []
        for text in texts:
            try:
                rows.extend(self._rows(served.model.predict([text])))
            except Exception as exc:
                rows.append(exc)
        return rows

    @staticmethod
    def _rows(output: BatchOutput) -> list[_Row | Exception]:
        tokens = output.input_tokens
        return [
            _Row(result, output.features[i], None if tokens is None else int(tokens[i]))
            for i, result in enumerate(output.results)
        ]

    def _answer(
        self, served: ServedModel, done: list[tuple[ReceivedMessage, InferenceRequested, _Row]], started_at: datetime
    ) -> Failures:
        features = np.stack([row.features for _, _, row in done])
        uri = self._features.save_batch(served.name, served.version, features)
        results = [
            _features_pointer(uri, i, row) if request.metadata.get("features_only") is True else row.result
            for i, (_, request, row) in enumerate(done)
        ]
        encoded = to_json(results)
        by_reference = len(encoded) > self._inline_results_bytes
        results_uri = self._features.save_results(served.name, served.version, encoded) if by_reference else ""
        completed_at = utcnow()
        outcomes = [
            InferenceCompleted(
                request_id=request.request_id,
                action=request.action,
                status="succeeded",
                model_name=served.name,
                model_version=served.version,
                result=None if by_reference else result,
                result_ref=ResultRef(uri=results_uri, row=i) if by_reference else None,
                features_uri=uri,
                features_row=i,
                started_at=started_at,
                completed_at=completed_at,
                usage=None if row.input_tokens is None else Usage(input_tokens=row.input_tokens),
            )
            for i, ((_, request, row), result) in enumerate(zip(done, results, strict=True))
        ]
        rejected = self._publish_outcomes(served.action, outcomes)
        return {done[i][0].message_id: RuntimeError("SNS rejected the response") for i in rejected}

    def _publish_outcomes(self, action: str, outcomes: list[InferenceCompleted]) -> list[int]:
        """Publish outcomes in as few messages as fit; the indexes of the outcomes SNS refused."""
        messages = encode_outcomes(action, outcomes, MAX_SNS_BODY_BYTES)
        offsets = [0, *accumulate(len(carried) for _, carried in messages)]
        rejected = self._publisher.publish([message for message, _ in messages])
        return [i for m in rejected for i in range(offsets[m], offsets[m + 1])]

    def _answer_expired(
        self, served: ServedModel, expired: list[tuple[ReceivedMessage, InferenceRequested]]
    ) -> Failures:
        """Requests that waited in the queue past their deadlines end `expired`, not computed."""
        outcomes = [
            _unanswered(
                served,
                request.request_id,
                "expired",
                ErrorInfo(
                    code="deadline_exceeded",
                    message=f"waited {_queued_seconds(message):.1f} s in the queue, past its deadline "
                    f"of {request.deadline_seconds} s; not computed",
                ),
            )
            for message, request in expired
        ]
        try:
            rejected = self._publish_outcomes(served.action, outcomes)
        except Exception as exc:  # SNS down: answered on a later receive (expired still)
            return {m.message_id: exc for m, _ in expired}
        return {expired[i][0].message_id: RuntimeError("SNS rejected the answer") for i in rejected}

    def _answer_final_failures(
        self, served: ServedModel, messages: Sequence[ReceivedMessage], failures: Failures
    ) -> int:
        """On the last receive before the DLQ, tell the gateway the request failed for good; how many
        messages go to the DLQ."""
        if self._max_receive_count is None:
            return 0
        final = [m for m in messages if m.message_id in failures and m.receive_count >= self._max_receive_count]
        answers: list[InferenceCompleted] = []
        for message in final:
            request_id = request_id_of(message.body)
            if request_id is None:
                log.error("message %s is unreadable and has no request id; leaving it to the DLQ", message.message_id)
                continue
            error = failures[message.message_id]
            message_text = f"failed {message.receive_count} times, last: {type(error).__name__}: {error}"
            answers.append(
                _unanswered(served, request_id, "failed", ErrorInfo(code="processing_failed", message=message_text))
            )
        if answers:
            try:
                self._publish_outcomes(served.action, answers)
            except Exception as exc:
                log.error("could not publish %d final failures: %s", len(answers), exc)
        return len(final)


def _trace_predicted(
    served: ServedModel,
    requests: list[tuple[ReceivedMessage, InferenceRequested]],
    failures: Failures,
    started_ns: int,
) -> None:
    """One span per request of the batch, in the request's own trace: from the batch's predict to its answer."""
    if not tracing.enabled():
        return
    ended = time.time_ns()
    for message, request in requests:
        attributes = {
            "inference.request_id": str(request.request_id),
            "inference.model": served.name,
            "inference.model_version": served.version,
            "inference.batch_size": len(requests),
            "inference.answered": message.message_id not in failures,
        }
        tracing.record_span("inference.predict", request.traceparent, started_ns, ended, attributes)


def _unanswered(served: ServedModel, request_id: UUID, status: OutcomeStatus, error: ErrorInfo) -> InferenceCompleted:
    """The outcome of a request that ends without a result: it failed for good, or it expired."""
    return InferenceCompleted(
        request_id=request_id,
        action=served.action,
        status=status,
        model_name=served.name,
        model_version=served.version,
        error=error,
        completed_at=utcnow(),
    )


def _queued_seconds(message: ReceivedMessage) -> float:
    """How long the message has been in its queue (the queue's clock: when SQS got it); 0 when unknown."""
    return (utcnow() - message.sent_at).total_seconds() if message.sent_at is not None else 0.0


def _past_deadline(message: ReceivedMessage, request: InferenceRequested) -> bool:
    """The request waited in its queue longer than its deadline."""
    return request.deadline_seconds is not None and _queued_seconds(message) > request.deadline_seconds


def _features_pointer(uri: str, row_index: int, row: _Row) -> dict[str, Any]:
    """The answer for a caller who asked for features only: where to read them."""
    return {"dim": int(row.features.shape[-1]), "features_uri": uri, "features_row": row_index}
