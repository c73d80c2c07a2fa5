import json
import uuid

import pytest

from inference_core.aws.limits import MAX_SNS_BODY_BYTES
from inference_core.events import (
    ErrorInfo,
    InferenceBatchCompleted,
    InferenceCompleted,
    InferenceRequested,
    JobCompleted,
    MalformedEvent,
    ResultRef,
    decode,
    encode,
    encode_outcomes,
    utcnow,
)


def test_round_trip_keeps_every_field_and_sets_filter_attributes() -> None:
    event = InferenceRequested(
        request_id=uuid.uuid4(), action="sentiment", text="ünïcode ✓", metadata={"k": [1, 2]}, submitted_at=utcnow()
    )
    message = encode(event)
    assert message.attributes == {"event_type": "inference_request", "action": "sentiment"}
    assert json.loads(message.body)["schema_version"] == 1
    assert decode(message.body) == event
    urgent = event.model_copy(update={"priority": "high"})
    assert encode(urgent).attributes["priority"] == "high" and decode(encode(urgent).body) == urgent


def test_failed_completion_round_trips_with_its_error() -> None:
    event = InferenceCompleted(
        request_id=uuid.uuid4(),
        action="sentiment",
        status="failed",
        model_name="sentiment",
        error=ErrorInfo(code="processing_failed", message="x"),
        completed_at=utcnow(),
    )
    assert decode(encode(event).body) == event
    assert encode(event).attributes["event_type"] == "inference_response"


def test_job_completed_has_its_own_event_type() -> None:
    event = JobCompleted(request_id=uuid.uuid4(), action="a", status="succeeded", model_name="m", completed_at=utcnow())
    assert encode(event).attributes["event_type"] == "job_completed"


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1, 2]",
        json.dumps({"schema_version": 2, "event_type": "inference_request", "data": {}}),
        json.dumps({"schema_version": 1, "event_type": "nope", "data": {}}),
        json.dumps({"schema_version": 1, "event_type": "inference_request", "data": {"request_id": "x"}}),
        json.dumps({"schema_version": 1, "event_type": "inference_request", "data": None}),
    ],
)
def test_unreadable_messages_raise_malformed_event(body: str) -> None:
    with pytest.raises(MalformedEvent):
        decode(body)


def test_a_result_by_reference_round_trips_and_a_reader_refuses_fields_it_does_not_know() -> None:
    event = InferenceCompleted(
        request_id=uuid.uuid4(),
        action="embed",
        status="succeeded",
        model_name="embedding",
        result_ref=ResultRef(uri="s3://bucket/results/b.json", row=3),
        completed_at=utcnow(),
    )
    body = encode(event).body
    assert decode(body) == event
    # what an older reader sees in a newer writer's event: refused (retried, then dead-lettered), never half-read
    newer = json.loads(body)
    newer["data"]["a_field_from_the_future"] = 1
    with pytest.raises(MalformedEvent):
        decode(json.dumps(newer))


def outcome(request_id: uuid.UUID, action: str = "embed", result: dict | None = None) -> InferenceCompleted:
    return InferenceCompleted(
        request_id=request_id,
        action=action,
        status="succeeded",
        model_name="embedding",
        result=result or {"x": 1},
        completed_at=utcnow(),
    )


def test_a_batch_of_outcomes_is_one_message_filtered_like_one_answer() -> None:
    outcomes = [outcome(uuid.uuid4()) for _ in range(3)]
    ((message, carried),) = encode_outcomes("embed", outcomes, MAX_SNS_BODY_BYTES)
    assert message.attributes == {"event_type": "inference_batch_response", "action": "embed"}
    assert carried == outcomes
    assert decode(message.body) == InferenceBatchCompleted(action="embed", outcomes=outcomes)


def test_outcomes_too_many_for_one_message_are_split_in_order_and_each_part_fits() -> None:
    outcomes = [outcome(uuid.uuid4(), result={"text": "x" * 1000}) for _ in range(9)]
    parts = encode_outcomes("embed", outcomes, 4_000)
    assert len(parts) > 1
    assert [o for _, carried in parts for o in carried] == outcomes
    assert all(len(message.body.encode()) <= 4_000 for message, _ in parts)
    assert [o for message, _ in parts for o in decode(message.body).outcomes] == outcomes  # type: ignore[union-attr]


def test_an_outcome_too_large_on_its_own_still_gets_a_message() -> None:
    big = outcome(uuid.uuid4(), result={"text": "x" * 5_000})
    ((message, carried),) = encode_outcomes("embed", [big], 1_000)
    assert carried == [big] and len(message.body) > 1_000  # SNS refuses it, and its request is retried


def test_a_batch_of_outcomes_is_for_one_action() -> None:
    with pytest.raises(ValueError, match="must be for 'embed'"):
        InferenceBatchCompleted(action="embed", outcomes=[outcome(uuid.uuid4(), action="sentiment")])
    with pytest.raises(ValueError):
        InferenceBatchCompleted(action="embed", outcomes=[])
