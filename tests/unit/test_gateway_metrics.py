"""The gateway service's metrics on fakes: the HTTP server's by route and status, the dispatcher's by outcome."""

from __future__ import annotations

import dataclasses
import math

from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from devstack import MODELS_DIR
from gateway.app import create_app
from gateway.dispatcher import watched_queues
from gateway.handlers import apply_worker_events, submit
from gateway.metrics import DispatcherMetrics, PlatformState
from gateway.settings import Settings
from gateway.unit_of_work import Caller
from gateway.validation import parse_submission
from inference_core.catalog import discover
from inference_core.events import InferenceBatchCompleted, InferenceCompleted, encode, utcnow
from inference_core.metrics import watch_queues
from inference_core.settings import ResourceNames
from support.fakes import FakeFeatureSink, FakeUnitOfWork, raw_message


def outcome(request_id: object, status: str = "succeeded") -> InferenceCompleted:
    return InferenceCompleted(
        request_id=request_id,  # type: ignore[arg-type]
        action="sentiment",
        status=status,  # type: ignore[arg-type]
        model_name="sentiment",
        model_version="3",
        result={"label": "positive"} if status == "succeeded" else None,
        completed_at=utcnow(),
    )


def test_the_dispatcher_counts_stored_outcomes_duplicates_and_times_each_request_end_to_end() -> None:
    uow, metrics = FakeUnitOfWork(), DispatcherMetrics()
    uow.add_action("sentiment", "sentiment")
    ids = [
        submit(uow, Caller("acme", 1), parse_submission({"action": "sentiment", "text": f"t{i}"}, None), 5).request_id
        for i in range(3)
    ]
    batch = InferenceBatchCompleted(action="sentiment", outcomes=[outcome(ids[0]), outcome(ids[1], "failed")])
    again = outcome(ids[0])  # redelivered: a duplicate
    uow.unstorable = {ids[2]}  # its transaction fails: counted by nobody until it is stored
    messages = [raw_message(encode(e).body) for e in (batch, again, outcome(ids[2]))]
    failures = apply_worker_events(uow, FakeFeatureSink(), messages, observer=metrics)
    assert list(failures) == [messages[2].message_id]
    value = metrics.registry.get_sample_value
    assert value("gateway_outcomes_stored_total", {"action": "sentiment", "status": "succeeded"}) == 1
    assert value("gateway_outcomes_stored_total", {"action": "sentiment", "status": "failed"}) == 1
    assert value("gateway_duplicate_outcomes_total") == 1
    assert value("gateway_request_seconds_count", {"action": "sentiment", "model_version": "3"}) == 2
    assert 0 <= value("gateway_request_seconds_sum", {"action": "sentiment", "model_version": "3"}) < 60


def test_the_platforms_state_is_read_from_the_database_when_scraped() -> None:
    metrics, reads = DispatcherMetrics(), []

    def read() -> PlatformState:
        reads.append(1)
        return PlatformState(
            42,
            12.5,
            {("embed", "embedding"): 3.0, ("sentiment", "sentiment"): math.inf},
            [("sentiment", "4", True)],
            {"sentiment": (7, 95.0)},
        )

    metrics.watch(read)
    assert reads == []  # registering does not query
    value = metrics.registry.get_sample_value
    assert value("gateway_platform_state_up") == 1
    assert value("gateway_outbox_pending_events") == 42
    assert value("gateway_outbox_oldest_pending_seconds") == 12.5
    assert value("gateway_action_heartbeat_age_seconds", {"action": "embed", "model": "embedding"}) == 3.0
    assert value("gateway_action_heartbeat_age_seconds", {"action": "sentiment", "model": "sentiment"}) == math.inf
    assert value("monitoring_drift_detected", {"model": "sentiment", "version": "4"}) == 1
    assert value("gateway_unfinished_requests", {"action": "sentiment"}) == 7
    assert value("gateway_oldest_unfinished_request_seconds", {"action": "sentiment"}) == 95.0
    assert value("gateway_unfinished_requests", {"action": "embed"}) == 0  # every registered action


def scraped(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def test_the_http_server_counts_requests_by_route_method_and_status_and_times_them() -> None:
    app = create_app(Settings.from_env({"DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/unused"}))
    app.extensions["gateway"] = dataclasses.replace(app.extensions["gateway"], uow=FakeUnitOfWork())
    client = app.test_client()
    healthz = ("gateway_http_requests_total", (("method", "GET"), ("route", "/healthz"), ("status", "200")))
    unauthorized = (
        "gateway_http_requests_total",
        (("method", "GET"), ("route", "/v1/inference/<request_id>"), ("status", "401")),
    )
    unmatched = ("gateway_http_requests_total", (("method", "GET"), ("route", "unmatched"), ("status", "404")))
    timed = ("gateway_http_request_seconds_count", (("method", "GET"), ("route", "/healthz")))
    before = scraped(client)
    for _ in range(3):
        client.get("/healthz")
    client.get("/v1/inference/1d0f6a4e-0b5c-4c39-9d47-0e8f2b0d9d11")
    client.get("/no/such/route")
    after = scraped(client)
    for key, added in ((healthz, 3), (unauthorized, 1), (unmatched, 1), (timed, 3)):
        assert after[key] - before.get(key, 0) == added, key


def test_a_database_that_does_not_answer_is_reported_and_the_rest_of_the_scrape_still_answers() -> None:
    metrics = DispatcherMetrics()

    def unreachable() -> PlatformState:
        raise ConnectionError("PostgreSQL unreachable")

    metrics.watch(unreachable)
    value = metrics.registry.get_sample_value
    assert value("gateway_platform_state_up") == 0
    assert value("gateway_outbox_pending_events") is None
    assert value("gateway_duplicate_outcomes_total") == 0  # the dispatcher's own figures are still there


class FakeSqs:
    """get_queue_url and get_queue_attributes of the queues in `depths`; any other queue does not exist."""

    def __init__(self, depths: dict[str, int]) -> None:
        self.depths, self.lookups = depths, 0

    def get_queue_url(self, QueueName: str) -> dict[str, str]:
        self.lookups += 1
        if QueueName not in self.depths:
            raise LookupError(f"AWS.SimpleQueueService.NonExistentQueue: {QueueName}")
        return {"QueueUrl": f"https://sqs.example/1/{QueueName}"}

    def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> dict[str, dict[str, str]]:
        depth = self.depths[QueueUrl.rsplit("/", 1)[-1]]
        return {"Attributes": {"ApproximateNumberOfMessages": str(depth), "ApproximateNumberOfMessagesNotVisible": "0"}}


def test_the_dispatcher_reports_every_models_queues_even_before_they_exist() -> None:
    names = ResourceNames(prefix="t-")
    models = sorted(spec.name for spec in discover(MODELS_DIR))
    sqs = FakeSqs({"t-gateway-responses": 2, "t-gateway-responses-dlq": 0, f"t-model-{models[0]}-dlq": 3})
    metrics = DispatcherMetrics()
    watch_queues(metrics.registry, watched_queues(sqs, names, MODELS_DIR))
    assert sqs.lookups == 0  # watching calls nothing: a scrape does

    def depth(queue: str) -> float | None:
        return metrics.registry.get_sample_value("inference_queue_messages", {"queue": queue})

    assert depth("t-gateway-responses") == 2 and depth(f"t-model-{models[0]}-dlq") == 3
    assert depth(f"t-high-model-{models[0]}") is None  # not provisioned yet: left out, the scrape answers
    sqs.depths[f"t-high-model-{models[0]}"] = 5  # provisioned later (a new model folder)
    assert depth(f"t-high-model-{models[0]}") == 5
    expected = {f"t-{lane}{dlq}" for m in models for lane in (f"model-{m}", f"high-model-{m}") for dlq in ("", "-dlq")}
    watched = {q.name for q in watched_queues(sqs, names, MODELS_DIR)}
    assert watched == expected | {"t-gateway-responses", "t-gateway-responses-dlq"}
    assert [q.name for q in watched_queues(sqs, names, None)] == ["t-gateway-responses", "t-gateway-responses-dlq"]
