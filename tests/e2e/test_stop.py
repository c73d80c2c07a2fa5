"""`make up`, traffic, Ctrl-C, again: every stop leaves nothing running and loses nothing.

Each cycle runs ``tools/devstack.py up`` the way a terminal runs a foreground job: in a process
group of its own, stopped by SIGINT to that whole group. At the moment of the stop a ``?wait``
long poll is open on a request the (paused) worker has not answered, and idle keep-alive
connections are open. Every process the stack starts carries a tag in its environment, so
whatever survives a stop is found, whichever process started it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
from sqlalchemy import make_url

import devstack
from support.models import add_keyword_model
from support.stack import drop_database, statuses_once_finished
from support.tenants import bearer

pytestmark = pytest.mark.e2e

CYCLES = 10
STOP_BOUND_SECONDS = 40.0  # two phases (platform, then LocalStack and MLflow), each bounded by a 15 s grace
LONG_POLL_BOUND_SECONDS = 5.0  # a stopping gateway answers long polls at once, not after ?wait=30
START_BOUND_SECONDS = 300.0  # the first start trains the keyword model


class TerminalStack:
    """`make up` in a terminal: its environment, its ports, and what it left behind."""

    def __init__(self, root: Path) -> None:
        self.tag = uuid.uuid4().hex
        self.ports = {
            "gateway": devstack.free_port(),
            "LocalStack": devstack.free_port(),
            "MLflow": devstack.free_port(),
        }
        base = make_url(os.environ.get("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/inference"))
        self.database_url = base.set(database=f"inference_stop_{self.tag[:8]}").render_as_string(hide_password=False)
        self.mlflow_database_url = base.set(database=f"mlflow_stop_{self.tag[:8]}").render_as_string(
            hide_password=False
        )
        models_dir = root / "models"
        add_keyword_model(models_dir)
        self.log = root / "up.log"
        self.env = {
            **os.environ,
            "DEVSTACK_TEST_TAG": self.tag,
            "DEVSTACK_RUN_DIR": str(root / "run"),
            "DATABASE_URL": self.database_url,
            "MLFLOW_DATABASE_URL": self.mlflow_database_url,
            "GATEWAY_PORT": str(self.ports["gateway"]),
            "LOCALSTACK_PORT": str(self.ports["LocalStack"]),
            "MLFLOW_PORT": str(self.ports["MLflow"]),
            "RESOURCE_PREFIX": f"s{self.tag[:8]}-",
            "MODELS_DIR": str(models_dir),
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
        }
        self.gateway_url = f"http://127.0.0.1:{self.ports['gateway']}"

    def up(self) -> subprocess.Popen[bytes]:
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            popen = subprocess.Popen(
                [sys.executable, str(devstack.ROOT / "tools" / "devstack.py"), "up"],
                env=self.env,
                cwd=devstack.ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own foreground group, as a terminal's job
            )
        deadline = time.monotonic() + START_BOUND_SECONDS
        while "The platform is up" not in self.output(offset):
            assert popen.poll() is None, f"make up exited:\n{self.output(offset)[-3000:]}"
            assert time.monotonic() < deadline, f"make up did not come up:\n{self.output(offset)[-3000:]}"
            time.sleep(0.5)
        return popen

    def output(self, offset: int = 0) -> str:
        return self.log.read_bytes()[offset:].decode(errors="replace")

    def processes(self) -> list[psutil.Process]:
        """Live processes the stack started (they carry its tag), whoever started them."""
        found = []
        for process in psutil.process_iter(["status"]):
            try:
                if process.info["status"] != psutil.STATUS_ZOMBIE and process.environ().get("DEVSTACK_TEST_TAG") == (
                    self.tag
                ):
                    found.append(process)
            except psutil.Error:
                continue
        return found

    def worker(self) -> psutil.Process:
        workers = [p for p in self.processes() if "serve" in p.cmdline() and p.environ().get("MODEL_NAME") == "keyword"]
        assert len(workers) == 1, workers
        return workers[0]


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[TerminalStack]:
    stack = TerminalStack(tmp_path)
    try:
        yield stack
    finally:
        for process in stack.processes():  # only when the test already failed
            process.kill()
        drop_database(stack.database_url)
        drop_database(stack.mlflow_database_url)


def submit(session: requests.Session, url: str, text: str) -> str:
    response = session.post(f"{url}/v1/inference", json={"action": "keywords", "text": text}, timeout=30)
    assert response.status_code == 202, response.text
    return str(response.json()["request_id"])


def test_ctrl_c_stops_every_process_every_time_and_loses_no_request(terminal: TerminalStack) -> None:
    accepted: list[str] = []
    stop_seconds: list[float] = []
    keys: set[str] = set()
    for cycle in range(CYCLES):
        offset = terminal.log.stat().st_size if terminal.log.exists() else 0
        up = terminal.up()
        key = (Path(terminal.env["DEVSTACK_RUN_DIR"]) / "dev-api-key").read_text().strip()
        keys.add(key)
        assert f"API key of tenant dev: {key}" in terminal.output(offset)
        client = requests.Session()
        client.headers.update(bearer(key))
        served = [submit(client, terminal.gateway_url, f"a fine film, take {cycle}.{i}") for i in range(20)]
        accepted += served
        answer = client.get(f"{terminal.gateway_url}/v1/inference/{served[-1]}", params={"wait": 30}, timeout=60)
        assert answer.json()["status"] == "succeeded", answer.text

        worker = terminal.worker()
        worker.suspend()  # a busy worker: the next request stays queued through the stop
        pending = submit(client, terminal.gateway_url, f"still waiting, take {cycle}")
        accepted.append(pending)
        long_poll: dict[str, Any] = {}

        def wait_for_pending(
            request_id: str = pending, outcome: dict[str, Any] = long_poll, api_key: str = key
        ) -> None:
            try:
                response = requests.get(
                    f"{terminal.gateway_url}/v1/inference/{request_id}",
                    params={"wait": 30},
                    headers=bearer(api_key),
                    timeout=60,
                )
                outcome["answer"] = (response.status_code, response.json()["status"])
            except requests.ConnectionError as exc:  # a closed connection is an answer too; a hang is not
                outcome["answer"] = exc
            outcome["at"] = time.monotonic()

        poller = threading.Thread(target=wait_for_pending)
        poller.start()
        idle = [requests.Session() for _ in range(3)]
        for session in idle:
            assert session.get(f"{terminal.gateway_url}/healthz", timeout=10).status_code == 200
        time.sleep(0.5)  # the long poll is now waiting inside the gateway

        interrupted = time.monotonic()
        os.killpg(up.pid, signal.SIGINT)  # Ctrl-C
        worker.resume()
        up.wait(STOP_BOUND_SECONDS)
        stopped_in = time.monotonic() - interrupted
        stop_seconds.append(stopped_in)
        poller.join(LONG_POLL_BOUND_SECONDS)

        output = terminal.output(offset)
        assert "[devstack] stopped" in output, output[-3000:]
        assert "did not stop" not in output, f"cycle {cycle}: a group had to be killed\n{output[-3000:]}"
        assert terminal.processes() == [], f"cycle {cycle}: left running after {stopped_in:.1f}s"
        assert [name for name, port in terminal.ports.items() if devstack.port_open(port)] == []
        assert "at" in long_poll, f"cycle {cycle}: the long poll was still waiting"
        assert long_poll["at"] - interrupted < LONG_POLL_BOUND_SECONDS, long_poll
        assert not isinstance(long_poll["answer"], tuple) or long_poll["answer"][0] == 200, long_poll

    assert len(keys) == 1, "every restart keeps the dev tenant's key"
    print(f"{CYCLES} stops, seconds: {' '.join(f'{t:.1f}' for t in stop_seconds)}")

    # Everything accepted is still in PostgreSQL, and finishes on the next start.
    up = terminal.up()
    try:
        # at worst, a message received as the worker died comes back after its visibility timeout
        statuses = statuses_once_finished(terminal.database_url, accepted, 120)
    finally:
        os.killpg(up.pid, signal.SIGINT)
        up.wait(STOP_BOUND_SECONDS)
    assert len(statuses) == len(accepted)
    assert {i for i, status in statuses.items() if status != "succeeded"} == set()
    assert terminal.processes() == []
