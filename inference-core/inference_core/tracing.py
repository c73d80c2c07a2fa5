"""One OpenTelemetry trace per request, across the gateway, the model worker and the dispatcher.

The trace starts at ``POST /v1/inference``. Its context, as a W3C ``traceparent``, travels with the
request: in the ``inference_request`` event (a field, and the message attribute of that name on SNS
and SQS) and stored with the request in PostgreSQL. The worker's predict and the dispatcher's apply
are spans of that trace, made after the fact from their own start and end times (a batch serves
requests of many traces: each request gets its own span).

Spans are exported by OTLP over HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (the exporter reads
the ``OTEL_EXPORTER_OTLP_*`` settings itself), and to nothing otherwise: without a provider nothing
is recorded and no ``traceparent`` is made, at no cost. Tests install an in-memory exporter with
``use``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from inference_core.settings import Env

TRACEPARENT = "traceparent"
_PROPAGATOR = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None
_tracer: trace.Tracer = trace.NoOpTracer()


def configure(service_name: str, env: Env) -> None:
    """Export this process's spans by OTLP when an endpoint is configured; otherwise record none."""
    if env.optional("OTEL_EXPORTER_OTLP_ENDPOINT") is None:
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    use(provider)


def use(provider: TracerProvider | None) -> None:
    """Record spans with `provider` from now on (None: record none)."""
    global _provider, _tracer
    _provider = provider
    _tracer = provider.get_tracer("inference-platform") if provider is not None else trace.NoOpTracer()


def enabled() -> bool:
    return _provider is not None


@contextmanager
def server_span(name: str, attributes: Mapping[str, Any] | None = None) -> Iterator[trace.Span]:
    """A span that starts a trace (the gateway's handling of a submission)."""
    with _tracer.start_as_current_span(name, kind=trace.SpanKind.SERVER, attributes=attributes) as span:
        yield span


def annotate(attributes: Mapping[str, Any]) -> None:
    """Add `attributes` to the current span (nothing when none is recorded)."""
    trace.get_current_span().set_attributes(attributes)


def current_traceparent() -> str | None:
    """The current span's context as a W3C ``traceparent``, for what carries the request on; None
    when nothing is recorded."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get(TRACEPARENT)


def record_span(
    name: str,
    traceparent: str | None,
    start_ns: int,
    end_ns: int,
    attributes: Mapping[str, Any] | None = None,
    kind: trace.SpanKind = trace.SpanKind.CONSUMER,
) -> None:
    """A finished span of the trace `traceparent` names (nothing if it is None or nothing is recorded)."""
    if _provider is None or traceparent is None:
        return
    parent = _PROPAGATOR.extract({TRACEPARENT: traceparent})
    span = _tracer.start_span(name, context=parent, kind=kind, attributes=attributes, start_time=start_ns)
    span.end(end_time=end_ns)
