"""One trace per request across the gateway, the worker and the dispatcher, with an in-memory exporter:
the trace id the gateway's span starts is the one the worker's predict and the dispatcher's apply carry."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.app import create_app
from gateway.auth import Authenticator, hash_key
from gateway.handlers import apply_worker_events
from gateway.settings import Settings
from gateway.tokens import TokenEstimator
from gateway.unit_of_work import Caller
from inference_core import tracing
from inference_core.events import InferenceRequested, encode
from model_runtime.worker import InferenceWorker, ModelSlot, ServedModel
from support.fakes import EchoModel, FakeFeatureSink, FakePublisher, FakeRateLimiter, FakeUnitOfWork, raw_message

KEY = "ik_acme-key-0123456789abcdefghijklmnop"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use(provider)
    yield exporter
    tracing.use(None)


def test_a_requests_spans_on_the_gateway_the_worker_and_the_dispatcher_share_its_trace(
    spans: InMemorySpanExporter,
) -> None:
    uow = FakeUnitOfWork()
    uow.add_action("sentiment", "sentiment")
    uow.tables.keys = {hash_key(KEY): Caller("acme", 1)}
    app = create_app(Settings.from_env({"DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/unused"}))
    app.extensions["gateway"] = dataclasses.replace(
        app.extensions["gateway"],
        uow=uow,
        authenticator=Authenticator(uow, 0),
        rate_limiter=FakeRateLimiter(),
        token_estimator=TokenEstimator(uow),
    )
    submitted = app.test_client().post(
        "/v1/inference", json={"action": "sentiment", "text": "fine"}, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert submitted.status_code == 202
    request_id = submitted.get_json()["request_id"]
    (event,) = [e for e in uow.tables.published if isinstance(e, InferenceRequested)]
    assert event.traceparent is not None and encode(event).attributes["traceparent"] == event.traceparent

    publisher = FakePublisher()
    worker = InferenceWorker(
        ModelSlot(ServedModel("echo", "7", "sentiment", EchoModel())), publisher, FakeFeatureSink(), 3, False
    )
    assert worker.handle([raw_message(encode(event).body)]) == {}
    answers = [raw_message(m.body) for m in publisher.sent]
    assert apply_worker_events(uow, FakeFeatureSink(), answers) == {}

    by_name = {span.name: span for span in spans.get_finished_spans()}
    gateway, predict, apply = by_name["POST /v1/inference"], by_name["inference.predict"], by_name["inference.apply"]
    assert gateway.parent is None  # the trace starts at the gateway
    assert predict.context.trace_id == apply.context.trace_id == gateway.context.trace_id
    assert predict.parent.span_id == apply.parent.span_id == gateway.context.span_id
    assert gateway.attributes["inference.request_id"] == request_id
    assert predict.attributes["inference.request_id"] == apply.attributes["inference.request_id"] == request_id
    assert predict.attributes["inference.model_version"] == "7" and apply.attributes["inference.status"] == "succeeded"
    assert predict.start_time <= predict.end_time <= apply.end_time


def test_without_a_tracer_nothing_is_recorded_and_no_traceparent_is_made() -> None:
    tracing.use(None)
    with tracing.server_span("POST /v1/inference"):
        assert tracing.current_traceparent() is None
    tracing.record_span("inference.apply", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", 0, 1)
