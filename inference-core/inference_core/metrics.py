"""A process's Prometheus metrics on a small HTTP port of its own (the workers, the dispatcher).

``METRICS_PORT`` (0: no port) and ``METRICS_ADDRESS`` (every interface by default, for Prometheus in
the cluster to scrape; ``make up`` binds 127.0.0.1) are read once, by ``MetricsSettings.from_env``.
Each process keeps its metrics in a registry of its own, passed to what records them, so a test
reads one process's figures without another's. The gateway's HTTP server serves its own at
``/metrics`` instead (``gateway.metrics``: several gunicorn processes behind one port).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from inference_core.settings import Env

log = logging.getLogger(__name__)

DEFAULT_PORT = 9100  # each pod has its own; `make up` gives each process a free one


@dataclass(frozen=True)
class MetricsSettings:
    port: int = DEFAULT_PORT  # 0: no port
    address: str = "0.0.0.0"

    @classmethod
    def from_env(cls, env: Env) -> MetricsSettings:
        return cls(
            port=env.integer("METRICS_PORT", cls.port, minimum=0, maximum=65_535),
            address=env.text("METRICS_ADDRESS", cls.address),
        )


def serve_metrics(registry: CollectorRegistry, settings: MetricsSettings) -> None:
    """Serve `registry` at ``http://<address>:<port>/metrics`` from a daemon thread (not when the port is 0)."""
    if settings.port == 0:
        return
    start_http_server(settings.port, settings.address, registry)
    log.info("metrics on http://%s:%d/metrics", settings.address, settings.port)


class Queue(Protocol):
    @property
    def name(self) -> str: ...

    def approximate_depth(self) -> int: ...


def watch_queues(registry: CollectorRegistry, queues: Sequence[Queue]) -> None:
    """Report each queue's depth, by its name, at every scrape: ``inference_queue_messages{queue=...}``
    (a dead-letter queue's name ends in ``-dlq``: the alert on messages a person must look at)."""
    registry.register(_QueueDepths(queues))


class _QueueDepths(Collector):
    def __init__(self, queues: Sequence[Queue]) -> None:
        self._queues = queues

    def describe(self) -> Iterable[Metric]:  # the name, without calling SQS when registered
        return [self._family()]

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        for queue in self._queues:
            name = queue.name
            try:
                family.add_metric([name], queue.approximate_depth())
            except Exception as exc:  # SQS unreachable: the scrape still answers, without this figure
                log.warning("could not read the depth of %s: %s", name, exc)
        return [family]

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "inference_queue_messages",
            "Messages in the queue, waiting or in flight (SQS's approximate counts).",
            labels=["queue"],
        )
