"""The model worker's Prometheus metrics: what it received, how it batched and predicted, how each
request ended, the version it serves and how deep its queues are.

Outcomes (``inference_worker_requests_total{outcome}``), one per message handled: ``succeeded``
(answered), ``expired`` (answered without being computed, past its deadline), ``failed`` (not
answered this time: it comes back after its visibility timeout) and, among those, ``dead_lettered``
(failed on its last receive: SQS moves it to the dead-letter queue, and the gateway is told it failed).
The version it serves, and its queues' depth (``inference_core.metrics.watch_queues``), are read when
Prometheus scrapes, not kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from model_runtime.worker import ServedModel

BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
PREDICT_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
OUTCOMES = ("succeeded", "expired", "failed", "dead_lettered")


class WorkerMetrics:
    def __init__(self, model: str, registry: CollectorRegistry | None = None) -> None:
        self.model = model
        self.registry = registry if registry is not None else CollectorRegistry()
        registry = self.registry
        self._received = Counter(
            "inference_worker_messages_received", "Messages received from its queues.", ["model"], registry=registry
        ).labels(model)
        self._batch_size = Histogram(
            "inference_worker_batch_size",
            "Requests predicted in one batch.",
            ["model"],
            buckets=BATCH_SIZE_BUCKETS,
            registry=registry,
        ).labels(model)
        self._predict_seconds = Histogram(
            "inference_worker_predict_seconds",
            "The model's time for one batch.",
            ["model"],
            buckets=PREDICT_SECONDS_BUCKETS,
            registry=registry,
        ).labels(model)
        requests = Counter(
            "inference_worker_requests", "Requests handled, by outcome.", ["model", "outcome"], registry=registry
        )
        self._outcomes = {outcome: requests.labels(model, outcome) for outcome in OUTCOMES}

    def received(self, messages: int) -> None:
        self._received.inc(messages)

    def predicted(self, batch_size: int, seconds: float) -> None:
        self._batch_size.observe(batch_size)
        self._predict_seconds.observe(seconds)

    def handled(self, outcome: str, requests: int) -> None:
        if requests:
            self._outcomes[outcome].inc(requests)

    def watch(self, served: Callable[[], ServedModel]) -> None:
        """Report the version `served` returns at every scrape."""
        self.registry.register(_Serving(self.model, served))


class _Serving(Collector):
    def __init__(self, model: str, served: Callable[[], ServedModel]) -> None:
        self._model, self._served = model, served

    def describe(self) -> Iterable[Metric]:
        return [self._info()]

    def collect(self) -> Iterable[Metric]:
        served = self._served()
        info = self._info()
        info.add_metric([self._model, served.version, served.action], 1)
        return [info]

    @staticmethod
    def _info() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "inference_worker_model_info", "The version it serves (value 1).", labels=["model", "version", "action"]
        )
