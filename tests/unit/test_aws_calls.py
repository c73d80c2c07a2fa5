"""Every client counts its AWS calls by operation; with a directory set, the counts are written there."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from botocore.stub import Stubber

from inference_core.aws import calls
from inference_core.aws.clients import aws_client
from inference_core.settings import AwsSettings, ResourceNames


def settings(directory: Path | None = None) -> AwsSettings:
    return AwsSettings("us-east-1", "http://127.0.0.1:1", ResourceNames(), call_counts_dir=directory)


def test_each_call_is_counted_once_by_service_and_operation(tmp_path: Path) -> None:
    sqs = aws_client("sqs", settings())
    before = calls.snapshot()
    with Stubber(sqs) as stub:
        for _ in range(3):
            stub.add_response("get_queue_url", {"QueueUrl": "http://q"})
        stub.add_response("delete_message_batch", {"Successful": [], "Failed": []})
        for _ in range(3):
            sqs.get_queue_url(QueueName="q")
        sqs.delete_message_batch(QueueUrl="http://q", Entries=[{"Id": "0", "ReceiptHandle": "r"}])
    after = calls.snapshot()
    assert after.get("sqs.GetQueueUrl", 0) - before.get("sqs.GetQueueUrl", 0) == 3
    assert after.get("sqs.DeleteMessageBatch", 0) - before.get("sqs.DeleteMessageBatch", 0) == 1


def test_the_counts_are_written_to_the_directory_for_a_reader_outside(tmp_path: Path) -> None:
    sns = aws_client("sns", settings(tmp_path))
    with Stubber(sns) as stub:
        stub.add_response("list_topics", {"Topics": []})
        sns.list_topics()
    target = tmp_path / f"{os.getpid()}.json"
    deadline = time.monotonic() + 5
    # Wait for this call's own permission: the process-wide counts may already hold other clients' ListTopics
    # (which count calls only), so a file written before this call can show calls without it.
    while (
        time.monotonic() < deadline
        and json.loads(target.read_text() if target.exists() else '{"permissions": {}}')["permissions"].get(
            "sns:ListTopics *:", 0
        )
        < 1
    ):
        time.sleep(0.1)
    written = json.loads(target.read_text())
    assert written["calls"]["sns.ListTopics"] >= 1
    assert written["permissions"]["sns:ListTopics *:"] >= 1


def test_a_forked_child_writes_its_own_calls_to_a_file_of_its_own(tmp_path: Path) -> None:
    sns = aws_client("sns", settings(tmp_path))
    with Stubber(sns) as stub:
        stub.add_response("list_topics", {"Topics": []})
        sns.list_topics()
    pid = os.fork()
    if pid == 0:  # the child: one call of its own, then wait for its writer to write it
        try:
            with Stubber(sns) as stub:
                stub.add_response("get_topic_attributes", {"Attributes": {}})
                sns.get_topic_attributes(TopicArn="arn:aws:sns:us-east-1:1:t")
            time.sleep(3 * calls.WRITE_EVERY_SECONDS)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    child = json.loads((tmp_path / f"{pid}.json").read_text())
    assert child["calls"] == {"sns.GetTopicAttributes": 1}  # not the parent's calls before the fork
    assert child["permissions"] == {"sns:GetTopicAttributes topic:t": 1}


def test_the_counts_follow_the_directory_named_last(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    aws_client("sns", settings(first))
    sqs = aws_client("sqs", settings(second))
    with Stubber(sqs) as stub:
        stub.add_response("get_queue_url", {"QueueUrl": "http://q"})
        sqs.get_queue_url(QueueName="followed")
    target = second / f"{os.getpid()}.json"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "sqs:GetQueueUrl queue:followed" not in (
        json.loads(target.read_text())["permissions"] if target.exists() else {}
    ):
        time.sleep(0.1)
    assert json.loads(target.read_text())["permissions"]["sqs:GetQueueUrl queue:followed"] >= 1
