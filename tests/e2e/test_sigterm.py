"""SIGTERM, as Kubernetes sends it to a pod, to each service alone under load: it exits on its own
within its grace, and every request accepted around the stop finishes once the service is back."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import devstack
from support.isolated import (
    Services,
    burst,
    in_background,
    isolated_services,
    job_completed_per_request,
    wait_until_serving,
    where_they_are,
)
from support.stack import Stack, statuses_once_finished

pytestmark = pytest.mark.e2e

BURST_SECONDS = 3.0


@pytest.fixture
def services(stack: Stack, fresh_database: str, tmp_path: Path) -> Iterator[Services]:
    with isolated_services(stack, fresh_database, tmp_path) as running:
        yield running


@pytest.mark.parametrize("name", ["gateway", "dispatcher", "worker"])
def test_sigterm_under_load_exits_within_its_grace_and_loses_nothing(services: Services, name: str) -> None:
    config = services.config
    process = services.running[name]
    outcome = in_background(config, BURST_SECONDS)
    time.sleep(BURST_SECONDS / 2)

    process.popen.send_signal(signal.SIGTERM)  # to the main process only, as a pod's stop does
    started = time.monotonic()
    exit_code = process.popen.wait(process.grace_seconds)
    took = time.monotonic() - started
    accepted, wrong = outcome()
    assert exit_code == 0, f"{name} exited with {exit_code}"
    assert devstack._group_members(process.pid) == [], f"{name} left processes behind"
    assert wrong == []
    assert len(accepted) > 10, "the burst did not reach the gateway"

    services.restart(name)
    wait_until_serving(config)
    if name == "gateway":
        accepted += burst(config, 0.5)[0]
    statuses = statuses_once_finished(services.config.database_url, accepted, 90)
    unfinished = {i: statuses.get(i) for i in accepted if statuses.get(i) != "succeeded"}
    assert unfinished == {}, (
        f"{len(unfinished)} of {len(accepted)} accepted requests did not finish; "
        + where_they_are(services, unfinished)
    )
    completions = job_completed_per_request(services.config.database_url)
    assert sorted(completions) == sorted(statuses) and set(completions.values()) == {1}, "one job_completed per request"
    print(f"{name}: stopped in {took:.1f}s (grace {process.grace_seconds:.0f}s), {len(accepted)} requests accepted")
