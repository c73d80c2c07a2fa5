"""The gateway's use cases on a unit of work in memory: its rules, each in milliseconds."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from gateway.auth import Authenticator, hash_key
from gateway.errors import (
    CallbackNotAllowed,
    IdempotencyConflict,
    NotFound,
    PriorityNotAllowed,
    TokenQuotaExceeded,
    UnknownAction,
)
from gateway.feedback import give_feedback
from gateway.handlers import apply_worker_events, read_request, submit
from gateway.unit_of_work import Caller
from gateway.validation import SubmitInference, parse_submission
from inference_core.events import (
    ErrorInfo,
    InferenceBatchCompleted,
    InferenceBatchStarted,
    InferenceCompleted,
    InferenceRequested,
    JobCompleted,
    ModelServing,
    Usage,
    encode,
    utcnow,
)
from support.fakes import FakeFeatureSink, FakeUnitOfWork, raw_message

TOKENS = 3  # what the gateway estimated a submission at


@pytest.fixture
def uow() -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    uow.add_action("sentiment", "sentiment", ("negative", "positive"))
    return uow


def command(text: str = "fine", key: str | None = None, action: str = "sentiment") -> SubmitInference:
    return parse_submission({"action": action, "text": text}, key)


def succeeded(request_id: uuid.UUID, label: str = "positive") -> InferenceCompleted:
    return InferenceCompleted(
        request_id=request_id,
        action="sentiment",
        status="succeeded",
        model_name="sentiment",
        model_version="1",
        result={"label": label},
        completed_at=utcnow(),
    )


def apply(uow: FakeUnitOfWork, *events: object) -> dict[str, Exception]:
    messages = [raw_message(encode(event).body) for event in events]  # type: ignore[arg-type]
    return apply_worker_events(uow, FakeFeatureSink(), messages)


def test_a_submission_is_stored_as_its_tenants_and_its_event_carries_the_tenant(uow: FakeUnitOfWork) -> None:
    submission = submit(uow, Caller("acme", 1), command(), TOKENS)
    assert (submission.status, submission.replayed) == ("queued", False)
    assert uow.tables.requests[submission.request_id].tenant == "acme"
    [event] = uow.tables.published
    assert isinstance(event, InferenceRequested)
    assert (event.request_id, event.tenant) == (submission.request_id, "acme")


def test_an_unknown_action_names_the_known_ones_and_stores_nothing(uow: FakeUnitOfWork) -> None:
    with pytest.raises(UnknownAction) as refused:
        submit(uow, Caller("acme", 1), command(action="translate"), TOKENS)
    assert refused.value.details == {"known_actions": ["sentiment"]}
    assert uow.tables.requests == {} and uow.tables.published == []


def test_an_idempotency_key_replays_the_same_body_and_refuses_another(uow: FakeUnitOfWork) -> None:
    first = submit(uow, Caller("acme", 1), command("fine", key="k-1"), TOKENS)
    again = submit(uow, Caller("acme", 1), command("fine", key="k-1"), TOKENS)
    assert (again.request_id, again.replayed) == (first.request_id, True)
    with pytest.raises(IdempotencyConflict):
        submit(uow, Caller("acme", 1), command("other text", key="k-1"), TOKENS)
    assert len(uow.tables.requests) == 1


def test_idempotency_keys_are_each_tenants_own(uow: FakeUnitOfWork) -> None:
    """Another tenant's key is neither replayed (it would show that request) nor a conflict."""
    mine = submit(uow, Caller("acme", 1), command("fine", key="k-1"), TOKENS)
    theirs = submit(uow, Caller("globex", 1), command("different", key="k-1"), TOKENS)
    assert theirs.request_id != mine.request_id and not theirs.replayed
    assert uow.tables.requests[theirs.request_id].tenant == "globex"


def test_another_tenants_request_is_not_found_exactly_as_an_unknown_one(uow: FakeUnitOfWork) -> None:
    request_id = submit(uow, Caller("acme", 1), command(), TOKENS).request_id
    stored, labels = read_request(uow, "acme", request_id)
    assert (stored.id, stored.status, labels) == (request_id, "queued", [])
    with pytest.raises(NotFound) as theirs:
        read_request(uow, "globex", request_id)
    unknown_id = uuid.uuid4()
    with pytest.raises(NotFound) as unknown:
        read_request(uow, "globex", unknown_id)
    assert str(theirs.value).replace(str(request_id), "ID") == str(unknown.value).replace(str(unknown_id), "ID")


def test_feedback_on_another_tenants_request_is_not_found_and_stores_nothing(uow: FakeUnitOfWork) -> None:
    request_id = submit(uow, Caller("acme", 1), command(), TOKENS).request_id
    assert apply(uow, succeeded(request_id)) == {}
    with pytest.raises(NotFound), uow.transaction() as tx:
        give_feedback(tx, "globex", request_id, "negative")
    assert uow.tables.client_labels == {}
    with uow.transaction() as tx:
        assert give_feedback(tx, "acme", request_id, "negative").created
    assert [label.label for label in read_request(uow, "acme", request_id)[1]] == ["negative"]


def test_an_outcome_finishes_its_request_once_with_one_job_completed_for_its_tenant(uow: FakeUnitOfWork) -> None:
    request_id = submit(uow, Caller("acme", 1), command(), TOKENS).request_id
    assert apply(uow, succeeded(request_id)) == {}
    assert apply(uow, succeeded(request_id, "negative")) == {}  # redelivered with another answer: ignored
    stored, _ = read_request(uow, "acme", request_id)
    assert (stored.status, stored.result) == ("succeeded", {"label": "positive"})
    completed = [e for e in uow.tables.published if isinstance(e, JobCompleted)]
    assert [(e.request_id, e.tenant, e.status) for e in completed] == [(request_id, "acme", "succeeded")]


def test_a_batch_with_an_outcome_that_cannot_be_stored_fails_only_its_message(uow: FakeUnitOfWork) -> None:
    good, bad = (submit(uow, Caller("acme", 1), command(f"t{i}"), TOKENS).request_id for i in range(2))
    uow.unstorable = {bad}
    good_message, bad_message = raw_message(encode(succeeded(good)).body), raw_message(encode(succeeded(bad)).body)
    failures = apply_worker_events(uow, FakeFeatureSink(), [good_message, bad_message])
    assert set(failures) == {bad_message.message_id}
    assert read_request(uow, "acme", good)[0].status == "succeeded"
    assert read_request(uow, "acme", bad)[0].status == "queued"


def test_a_batch_response_is_applied_outcome_by_outcome(uow: FakeUnitOfWork) -> None:
    ids = [submit(uow, Caller("acme", 1), command(f"t{i}"), TOKENS).request_id for i in range(3)]
    batch = InferenceBatchCompleted(action="sentiment", outcomes=[succeeded(i) for i in ids])
    assert apply(uow, batch) == {}
    assert {read_request(uow, "acme", i)[0].status for i in ids} == {"succeeded"}


def test_started_after_its_outcome_in_one_batch_does_not_move_the_request_back(uow: FakeUnitOfWork) -> None:
    """Outcomes are applied before started events, whatever order they arrive in."""
    request_id = submit(uow, Caller("acme", 1), command(), TOKENS).request_id
    started = InferenceBatchStarted(
        request_ids=[request_id], action="sentiment", model_name="sentiment", model_version="1", started_at=utcnow()
    )
    assert apply(uow, started, succeeded(request_id)) == {}
    assert read_request(uow, "acme", request_id)[0].status == "succeeded"


def test_heartbeats_keep_the_latest_and_events_the_gateway_does_not_take_fail(uow: FakeUnitOfWork) -> None:
    now = utcnow()
    later = ModelServing(action="sentiment", model_name="sentiment", model_version="2", at=now)
    earlier = ModelServing(action="sentiment", model_name="sentiment", model_version="1", at=now - timedelta(minutes=1))
    assert apply(uow, later, earlier) == {}
    with uow.transaction() as tx:
        assert [a.model_version for a in tx.actions()] == ["2"]
    request = InferenceRequested(request_id=uuid.uuid4(), action="sentiment", text="x", submitted_at=now)
    message = raw_message(encode(request).body)
    assert list(apply_worker_events(uow, FakeFeatureSink(), [message])) == [message.message_id]


def test_a_key_is_looked_up_by_its_hash_and_found_keys_are_remembered(uow: FakeUnitOfWork) -> None:
    acme, globex = Caller("acme", 1), Caller("globex", 2)
    uow.tables.keys[hash_key("ik_live")] = acme
    authenticator = Authenticator(uow, cache_seconds=60)
    assert [authenticator.caller_for("ik_live") for _ in range(3)] == [acme] * 3
    assert uow.key_lookups == 1
    assert authenticator.caller_for("ik_unknown") is None
    uow.tables.keys[hash_key("ik_unknown")] = globex  # created after a miss: misses are not remembered
    assert authenticator.caller_for("ik_unknown") == globex


def test_without_a_cache_a_revoked_key_is_refused_at_once(uow: FakeUnitOfWork) -> None:
    uow.tables.keys[hash_key("ik_live")] = Caller("acme", 1)
    authenticator = Authenticator(uow, cache_seconds=0)
    assert authenticator.caller_for("ik_live") == Caller("acme", 1)
    del uow.tables.keys[hash_key("ik_live")]
    assert authenticator.caller_for("ik_live") is None


def test_an_expired_outcome_finishes_its_request_with_its_reason(uow: FakeUnitOfWork) -> None:
    body = {"action": "sentiment", "text": "x", "deadline_seconds": 5}
    request_id = submit(uow, Caller("acme", 1), parse_submission(body, None), TOKENS).request_id
    assert uow.tables.published[0].deadline_seconds == 5  # type: ignore[union-attr]
    expired = succeeded(request_id).model_copy(
        update={"status": "expired", "result": None, "error": ErrorInfo(code="deadline_exceeded", message="late")}
    )
    assert apply(uow, expired) == {}
    stored, _ = read_request(uow, "acme", request_id)
    assert (stored.status, stored.deadline_seconds, stored.error) == (
        "expired",
        5,
        {"code": "deadline_exceeded", "message": "late"},
    )
    assert [e.status for e in uow.tables.published if isinstance(e, JobCompleted)] == ["expired"]


def test_a_replayed_submission_reserves_no_tokens_and_is_answered_even_over_the_quota(uow: FakeUnitOfWork) -> None:
    uow.tables.token_limits["acme"] = TOKENS
    first = submit(uow, Caller("acme", 1), command("fine", key="k-1"), TOKENS)
    again = submit(uow, Caller("acme", 1), command("fine", key="k-1"), TOKENS)
    assert again.request_id == first.request_id and again.replayed
    assert uow.tables.tokens_used["acme"] == TOKENS
    with pytest.raises(TokenQuotaExceeded):
        submit(uow, Caller("acme", 1), command("other"), TOKENS)


def test_a_success_holds_what_its_model_read_and_a_failure_or_expiry_releases_its_tokens(
    uow: FakeUnitOfWork,
) -> None:
    ids = [submit(uow, Caller("acme", 1), command(f"text {i}"), 10).request_id for i in range(4)]
    assert uow.tables.tokens_used["acme"] == 40
    read_seven = succeeded(ids[0]).model_copy(update={"usage": Usage(input_tokens=7)})
    no_usage = succeeded(ids[1])  # a worker that does not count: the estimate stands
    failed = succeeded(ids[2]).model_copy(update={"status": "failed", "result": None})
    expired = succeeded(ids[3]).model_copy(update={"status": "expired", "result": None})
    assert apply(uow, read_seven, no_usage, failed, expired) == {}
    assert uow.tables.tokens_used["acme"] == 7 + 10
    stored, _ = read_request(uow, "acme", ids[0])
    assert stored.input_tokens == 7
    assert apply(uow, read_seven) == {}  # a duplicate outcome moves nothing
    assert uow.tables.tokens_used["acme"] == 17


def test_a_high_priority_request_needs_a_tenant_allowed_it_and_travels_with_its_priority(uow: FakeUnitOfWork) -> None:
    urgent = parse_submission({"action": "sentiment", "text": "now", "priority": "high"}, None)
    with pytest.raises(PriorityNotAllowed):
        submit(uow, Caller("acme", 1), urgent, TOKENS)
    assert uow.tables.requests == {}
    request_id = submit(uow, Caller("acme", 1, high_priority=True), urgent, TOKENS).request_id
    [event] = uow.tables.published
    assert isinstance(event, InferenceRequested) and event.priority == "high"
    assert read_request(uow, "acme", request_id)[0].priority == "high"


def test_a_callback_needs_a_tenant_with_a_callback_secret(uow: FakeUnitOfWork) -> None:
    wants_callback = parse_submission({"action": "sentiment", "text": "x", "callback_url": "https://h.example/"}, None)
    with pytest.raises(CallbackNotAllowed, match="callback-secret acme"):
        submit(uow, Caller("acme", 1), wants_callback, TOKENS)
    assert uow.tables.requests == {}
    request_id = submit(uow, Caller("acme", 1, can_callback=True), wants_callback, TOKENS).request_id
    assert read_request(uow, "acme", request_id)[0].callback_url == "https://h.example/"
