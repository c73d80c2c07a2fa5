"""Each service's AWS calls stay inside the IAM policy generated for it (``inference-aws iam-policies``).

The platform's processes record the permission each call needed; here they serve both models in both
lanes, the gateway's readiness is probed, an operator lists a dead-letter queue and a pipeline
provisions again, and every permission used is checked against the service's policy. The platform
fixture checks the same for everything the rest of the suite made its processes do.
"""

from __future__ import annotations

import json
import subprocess

import pytest
import requests

import devstack
from inference_core.aws.iam import Permission, Resource
from support.api import GatewayClient
from support.iam import outside_policy, permissions_used
from support.stack import Platform

pytestmark = pytest.mark.e2e


def _run(platform: Platform, service: str, *argv: str) -> None:
    env = {**platform.stack.env(), "AWS_CALL_COUNTS_DIR": str(platform.calls_dir / service)}
    subprocess.run(argv, env=env, check=True, capture_output=True, timeout=120)


def test_the_services_calls_while_serving_both_models_in_both_lanes_are_inside_their_policies(
    gateway: GatewayClient, platform: Platform
) -> None:
    bodies = [
        {"action": action, "text": "A warm and moving film.", "priority": priority}
        for action in ("sentiment", "embed")
        for priority in ("normal", "high")
    ]
    ids = [gateway.submit(body).json()["request_id"] for body in bodies]
    assert [gateway.result(request_id)["status"] for request_id in ids] == ["succeeded"] * len(ids)
    assert requests.get(f"{platform.gateway_url}/readyz", timeout=30).status_code == 200  # as Kubernetes probes it
    _run(platform, "admin", str(devstack.VENV_BIN / "gateway-admin"), "dlq", "list", "sentiment", "--high")
    _run(platform, "provisioner", str(devstack.VENV_BIN / "inference-aws"), "provision")

    names = platform.stack.aws.names
    expected = {
        "worker-sentiment": Permission("sqs:ReceiveMessage", Resource("queue", names.priority_queue("sentiment"))),
        "worker-embedding": Permission("sns:Publish", Resource("topic", names.topic)),
        "dispatcher": Permission("sqs:DeleteMessage", Resource("queue", names.gateway_queue)),
        "gateway": Permission("sns:ListTopics", Resource("*")),
        "admin": Permission(
            "sqs:ReceiveMessage", Resource("queue", names.dead_letter_queue(names.priority_queue("sentiment")))
        ),
        "provisioner": Permission("sqs:SetQueueAttributes", Resource("queue", names.gateway_queue)),
    }
    for service, permission in expected.items():
        used = permissions_used(platform.calls_dir / service)
        assert permission in used, f"{service} is seen calling AWS ({sorted(map(str, used))[:5]}...)"
        assert outside_policy(platform.stack, service, used) == [], service


def test_the_policies_are_printed_for_an_account(platform: Platform) -> None:
    printed = subprocess.run(
        [str(devstack.VENV_BIN / "inference-aws"), "iam-policies", "--account-id", "123456789012"],
        env=platform.stack.env(),
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    documents = json.loads(printed)
    workers = {"worker-sentiment", "worker-embedding"}
    assert set(documents) == {"gateway", "dispatcher", "monitoring-job", "admin", "provisioner"} | workers
    (statement,) = [s for s in documents["worker-sentiment"]["Statement"] if "sqs:ReceiveMessage" in s["Action"]]
    queue = platform.stack.aws.names.model_queue("sentiment")
    assert f"arn:aws:sqs:{platform.stack.aws.region}:123456789012:{queue}" in statement["Resource"]
