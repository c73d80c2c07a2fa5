"""PublishBatch takes at most ten entries and 256 KiB in all: the publisher splits accordingly."""

from __future__ import annotations

from botocore.stub import ANY, Stubber

from inference_core.aws.clients import aws_client
from inference_core.aws.limits import MAX_SNS_MESSAGE_BYTES
from inference_core.aws.sns import SnsPublisher, message_bytes, publish_batches
from inference_core.events import Message
from inference_core.settings import AwsSettings, ResourceNames


def message(body_bytes: int) -> Message:
    return Message(body="x" * body_bytes, attributes={"event_type": "inference_request", "action": "embed"})


def test_small_messages_go_ten_to_a_call() -> None:
    assert publish_batches([message(10)] * 23) == [range(0, 10), range(10, 20), range(20, 23)]
    assert publish_batches([]) == []


def test_large_messages_are_split_so_that_no_call_carries_more_than_the_limit() -> None:
    messages = [message(100_000)] * 5 + [message(MAX_SNS_MESSAGE_BYTES)] + [message(10)] * 3
    batches = publish_batches(messages)
    assert [i for batch in batches for i in batch] == list(range(len(messages)))
    assert batches == [range(0, 2), range(2, 4), range(4, 5), range(5, 6), range(6, 9)]
    for batch in batches:
        assert len(batch) == 1 or sum(message_bytes(messages[i]) for i in batch) <= MAX_SNS_MESSAGE_BYTES


def test_the_indexes_sns_refuses_are_returned_across_calls() -> None:
    sns = aws_client("sns", AwsSettings("us-east-1", "http://127.0.0.1:1", ResourceNames()))
    messages = [message(200_000), message(200_000), message(10)]
    with Stubber(sns) as stub:
        stub.add_response("publish_batch", {"Successful": [{"Id": "0", "MessageId": "m0"}], "Failed": []})
        stub.add_response(
            "publish_batch",
            {
                "Successful": [{"Id": "1", "MessageId": "m1"}],
                "Failed": [{"Id": "2", "Code": "InternalError", "SenderFault": False}],
            },
            {"TopicArn": "arn:t", "PublishBatchRequestEntries": ANY},
        )
        assert SnsPublisher(sns, "arn:t").publish(messages) == [2]
