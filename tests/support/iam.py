"""What each of the platform's processes asked AWS for, checked against the policy its service is given.

The test platform's processes write the permissions their calls needed (``inference_core.aws.calls``)
under ``<calls_dir>/<service>/<pid>.json``; ``inference_core.aws.iam`` generates the policies from
the same resource names.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from inference_core.aws.iam import Account, Permission, allows, policies
from inference_core.aws.sns import find_topic_arn
from inference_core.catalog import discover
from support.stack import Stack

WRITE_INTERVAL_SECONDS = 0.6  # the processes write their counts twice a second


def account_of(stack: Stack) -> Account:
    """LocalStack's account, as its topic's ARN names it (never hard-coded)."""
    topic_arn = find_topic_arn(stack.client("sns"), stack.aws.names.topic)
    return Account(topic_arn.split(":")[4], stack.aws.region)


def permissions_used(directory: Path) -> set[Permission]:
    time.sleep(WRITE_INTERVAL_SECONDS)
    used: set[Permission] = set()
    for file in directory.glob("*.json"):
        used |= {Permission.parse(key) for key in json.loads(file.read_text())["permissions"]}
    return used


def outside_policy(stack: Stack, service: str, used: set[Permission]) -> list[str]:
    """The permissions in `used` that `service`'s policy does not grant."""
    account = account_of(stack)
    models = [spec.name for spec in discover(stack.config.models_dir)]
    policy = policies(stack.aws.names, models, account)[service]
    return sorted(str(p) for p in used if not allows(policy, p, account))
