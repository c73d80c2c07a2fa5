"""The gateway service's Prometheus metrics.

The HTTP server answers ``GET /metrics`` (open, like ``/healthz``): requests by route template,
method and status, and their duration (a submission's is ``route="/v1/inference", method="POST"``).
gunicorn runs several processes behind one port, so with ``PROMETHEUS_MULTIPROC_DIR`` set
(``gateway-server`` makes one) each process keeps its figures in files there and a scrape, whichever
process answers it, adds them all up. The method label is one of the methods the API knows, else
``other``: a client cannot make new series by inventing methods.

The dispatcher serves its own on ``METRICS_PORT`` (``inference_core.metrics``): outcomes stored by
action and status, duplicates ignored, each request's time from accepted to stored by action and
model version, and, read from PostgreSQL when Prometheus scrapes, the outbox's pending events and
the oldest one's age, each action's latest worker heartbeat and unfinished requests, and each
model's latest drift verdict; and every queue's depth, read from SQS (``gateway.dispatcher``). These
are the alert rules' inputs (``helm/inference-platform/files/alerts.yaml``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, Response, g, request
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.unit_of_work import Finished
from inference_core.events import InferenceCompleted, utcnow

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
END_TO_END_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)

HTTP_REQUESTS = Counter(
    "gateway_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_SECONDS = Histogram(
    "gateway_http_request_seconds",
    "Time to answer an HTTP request, by route template and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)


def instrument(app: Flask) -> None:
    """Count and time every request the app answers."""

    @app.before_request
    def _start_clock() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _record(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        method = request.method if request.method in _METHODS else "other"
        HTTP_REQUESTS.labels(route, method, str(response.status_code)).inc()
        started = g.get("metrics_started")
        if started is not None:
            HTTP_SECONDS.labels(route, method).observe(time.perf_counter() - started)
        return response


def exposition(multiprocess_dir: Path | None) -> bytes:
    """The text a scrape gets: every gunicorn process's figures when they share `multiprocess_dir`."""
    if multiprocess_dir is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(multiprocess_dir))
    return generate_latest(registry)


class DispatcherMetrics:
    """What the dispatcher applies (an ``handlers.OutcomesObserver``) and how far behind its relay is."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._stored = Counter(
            "gateway_outcomes_stored",
            "Requests finished by an outcome the dispatcher stored, by action and status.",
            ["action", "status"],
            registry=self.registry,
        )
        self._duplicates = Counter(
            "gateway_duplicate_outcomes",
            "Outcomes ignored because their request had finished (at-least-once delivery).",
            registry=self.registry,
        )
        self._end_to_end = Histogram(
            "gateway_request_seconds",
            "From the gateway accepting a request to its outcome being stored, by action and model version.",
            ["action", "model_version"],
            buckets=END_TO_END_BUCKETS,
            registry=self.registry,
        )

    def applied(self, outcomes: Sequence[InferenceCompleted], finished: Sequence[Finished]) -> None:
        self._duplicates.inc(len(outcomes) - len(finished))
        for done in finished:
            self._stored.labels(done.action, done.status).inc()
            if done.submitted_at is not None:  # stored now: the whole path, the dispatcher's leg included
                seconds = (utcnow() - done.submitted_at).total_seconds()
                self._end_to_end.labels(done.action, done.model_version or "").observe(max(0.0, seconds))

    def watch(self, read: Callable[[], PlatformState]) -> None:
        """Report what `read` finds in PostgreSQL at each scrape (one short transaction)."""
        self.registry.register(_PlatformStateCollector(read))


@dataclass(frozen=True)
class PlatformState:
    """What the database says at a scrape: the outbox's pending events and the oldest one's age, each
    action's latest worker heartbeat (its age in seconds; infinite if none ever came), each model's
    latest monitoring verdict (model, version, drift or not), and each action's requests waiting for an
    answer (queued or running: how many, and the oldest one's age; an action with none is absent)."""

    outbox_pending: int
    outbox_oldest_seconds: float
    heartbeat_age_seconds: dict[tuple[str, str], float]  # (action, model) -> seconds
    latest_verdicts: list[tuple[str, str, bool]]
    unfinished: dict[str, tuple[int, float]] = field(default_factory=dict)  # action -> (requests, oldest's age)


class _PlatformStateCollector(Collector):
    def __init__(self, read: Callable[[], PlatformState]) -> None:
        self._read = read

    def describe(self) -> Iterable[Metric]:  # the names, without a query when registered
        return self._families()

    def collect(self) -> Iterable[Metric]:
        up, pending, oldest, heartbeat, drift, waiting, waiting_oldest = families = self._families()
        try:
            state = self._read()
        except Exception as exc:  # the database down: the rest of the scrape still answers, and says so
            log.warning("could not read the platform's state for metrics: %s", exc)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        pending.add_metric([], state.outbox_pending)
        oldest.add_metric([], state.outbox_oldest_seconds)
        for (action, model), age in state.heartbeat_age_seconds.items():
            heartbeat.add_metric([action, model], age)
        for model, version, drifted in state.latest_verdicts:
            drift.add_metric([model, version], 1.0 if drifted else 0.0)
        known = {action for action, _ in state.heartbeat_age_seconds} | state.unfinished.keys()
        for action in sorted(known):  # every registered action, 0 when none waits
            count, age = state.unfinished.get(action, (0, 0.0))
            waiting.add_metric([action], count)
            waiting_oldest.add_metric([action], age)
        return families

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                "gateway_platform_state_up", "Whether PostgreSQL answered this scrape's reads (1) or not (0)."
            ),
            GaugeMetricFamily("gateway_outbox_pending_events", "Events stored but not yet published to SNS."),
            GaugeMetricFamily(
                "gateway_outbox_oldest_pending_seconds", "Age of the oldest event not yet published (0: none)."
            ),
            GaugeMetricFamily(
                "gateway_action_heartbeat_age_seconds",
                "Seconds since a worker serving the action last announced itself (+Inf: never).",
                labels=["action", "model"],
            ),
            GaugeMetricFamily(
                "monitoring_drift_detected",
                "Whether the model's latest monitoring run found drift (1) or not (0), by the version it judged.",
                labels=["model", "version"],
            ),
            GaugeMetricFamily(
                "gateway_unfinished_requests",
                "Requests accepted and not yet finished (queued or running), by action.",
                labels=["action"],
            ),
            GaugeMetricFamily(
                "gateway_oldest_unfinished_request_seconds",
                "Age of the action's oldest unfinished request (0: none).",
                labels=["action"],
            ),
        ]
