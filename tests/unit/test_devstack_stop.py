"""The dev stack stops whole process groups and names whoever holds a port it needs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

import devstack

# A parent that starts a child in its own group, then both wait; how each treats SIGTERM is set per test.
FAMILY = textwrap.dedent(
    """
    import os, signal, subprocess, sys, time
    parent_ignores, child_delay = sys.argv[1] == "1", float(sys.argv[2])
    child = subprocess.Popen([sys.executable, "-c", f'''
    import signal, sys, time
    signal.signal(signal.SIGTERM, lambda *_: (time.sleep({child_delay}), sys.exit(0)))
    print("ready", flush=True)
    time.sleep(600)
    '''], stdout=sys.stdout)
    signal.signal(signal.SIGTERM, signal.SIG_IGN if parent_ignores else signal.SIG_DFL)
    time.sleep(600)
    """
)


def start_family(tmp_path: Path, parent_ignores: bool, child_delay: float, grace: float) -> devstack.Process:
    tmp_path.mkdir(parents=True, exist_ok=True)
    script = tmp_path / "family.py"
    script.write_text(FAMILY)
    argv = [sys.executable, str(script), "1" if parent_ignores else "0", str(child_delay)]
    process = devstack.spawn("family", argv, os.environ, tmp_path, grace)
    deadline = time.monotonic() + 20
    while "ready" not in (tmp_path / "family.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(members(process)) == 2, "the family did not start"
    return process


def members(process: devstack.Process) -> list[int]:
    return [p.pid for p in devstack._group_members(process.pid)]


def test_a_child_runs_in_its_own_process_group(tmp_path: Path) -> None:
    process = start_family(tmp_path, parent_ignores=False, child_delay=0, grace=5)
    try:
        assert os.getpgid(process.pid) == process.pid != os.getpgid(0)
    finally:
        process.stop()


def test_a_stop_waits_for_every_process_of_the_group(tmp_path: Path) -> None:
    process = start_family(tmp_path, parent_ignores=False, child_delay=1.0, grace=10)
    started = time.monotonic()
    process.stop()
    assert members(process) == []
    assert 1.0 <= time.monotonic() - started < 8, "returned before the slow child had finished, or killed it"
    assert "did not stop" not in (tmp_path / "family.log").read_text()


def test_what_outlives_the_grace_is_killed_with_its_group(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    process = start_family(tmp_path, parent_ignores=True, child_delay=60, grace=1)
    family = members(process)
    started = time.monotonic()
    process.stop()
    assert time.monotonic() - started < 6
    assert not [pid for pid in family if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    assert "did not stop in 1s; killing its process group" in capsys.readouterr().out


def test_stop_all_signals_every_group_before_waiting(tmp_path: Path) -> None:
    slow = [start_family(tmp_path / str(i), parent_ignores=False, child_delay=1.0, grace=10) for i in range(3)]
    started = time.monotonic()
    devstack.stop_all(slow)
    assert all(members(p) == [] for p in slow)
    assert time.monotonic() - started < 2.5, "the groups were stopped one after another"


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """Someone else's server: a process started outside this repository, listening on a free port."""
    port = devstack.free_port()
    code = f"import socket,time; s=socket.socket(); s.bind(('127.0.0.1',{port})); s.listen(); time.sleep(600)"
    python = Path(sys.base_prefix) / "bin" / "python3"  # the interpreter itself, not this repository's venv
    popen = subprocess.Popen([str(python), "-c", code], cwd=tmp_path)
    deadline = time.monotonic() + 10
    while not devstack.port_open(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    yield port, popen
    popen.kill()
    popen.wait()


def test_the_holder_of_a_port_is_named_with_its_pid_and_command(listener: tuple[int, subprocess.Popen[bytes]]) -> None:
    port, popen = listener
    holder = devstack.port_holder(port)
    assert f"pid {popen.pid} " in holder
    assert "socket.socket()" in holder
    assert "not this project's" in holder


def test_a_leftover_of_this_project_is_called_one() -> None:
    with socket.socket() as sock:  # this test process runs from the repository
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        holder = devstack.port_holder(sock.getsockname()[1])
    assert f"pid {os.getpid()} " in holder
    assert f"a leftover of this project: stop it with `kill {os.getpid()}`" in holder


def test_up_refuses_a_taken_port_in_one_line_before_starting_anything(
    listener: tuple[int, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    port, popen = listener
    env = {
        **os.environ,
        "GATEWAY_PORT": str(port),
        "LOCALSTACK_PORT": str(devstack.free_port()),
        "MLFLOW_PORT": str(devstack.free_port()),
        "DEVSTACK_RUN_DIR": str(tmp_path / "run"),
    }
    result = subprocess.run(
        [sys.executable, str(devstack.ROOT / "tools" / "devstack.py"), "up"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"[devstack] port {port} (gateway) is in use by pid {popen.pid} ")
    assert not (tmp_path / "run").exists(), "something was started before the check"
