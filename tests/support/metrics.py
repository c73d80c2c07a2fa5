"""The metric families the platform's processes expose, for checks of what reads them (alert rules,
the Grafana dashboard): a name no process exposes would leave an alert silent or a panel empty."""

from __future__ import annotations

import re

from gateway.metrics import HTTP_REQUESTS, HTTP_SECONDS, DispatcherMetrics, PlatformState
from inference_core.metrics import watch_queues
from model_runtime.metrics import WorkerMetrics
from model_runtime.worker import ServedModel

SAMPLE_SUFFIXES = ("", "_total", "_bucket", "_sum", "_count")
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "le", "bool"}


def exposed_families(*, http: bool = True) -> set[str]:
    """The dispatcher's and a worker's families, and the gateway HTTP server's when `http`."""
    dispatcher, worker = DispatcherMetrics(), WorkerMetrics("m")
    dispatcher.watch(lambda: PlatformState(0, 0.0, {}, []))
    watch_queues(dispatcher.registry, [])
    worker.watch(lambda: ServedModel("m", "1", "a", model=None))  # type: ignore[arg-type]
    names = {family.name for registry in (dispatcher.registry, worker.registry) for family in registry.collect()}
    if http:
        names |= {metric._name for metric in (HTTP_REQUESTS, HTTP_SECONDS)}
    return names


def metrics_read_by(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not its functions, label names or grouping)."""
    without_groupings = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)
    without_matchers = re.sub(r"\{[^}]*\}", "{}", without_groupings)
    words = re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b\s*(\{|\[|\)|$|\s*[/*+-]|\s*[<>=!])", without_matchers)
    return {w for w, _ in words if "_" in w and w not in PROMQL_WORDS}


def is_exposed(sample: str, families: set[str]) -> bool:
    return any(sample == family + suffix for family in families for suffix in SAMPLE_SUFFIXES)
