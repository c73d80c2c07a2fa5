import json
import uuid

import pytest

from inference_core.events import (
    ErrorInfo,
    InferenceCompleted,
    InferenceRequested,
    JobCompleted,
    MalformedEvent,
    ResultRef,
    decode,
    encode,
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
