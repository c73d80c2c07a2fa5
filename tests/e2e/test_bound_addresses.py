"""What the stack starts is reachable from this machine only: every server binds loopback."""

from __future__ import annotations

import contextlib
import ipaddress
import socket

import psutil

from support.stack import LabelStudioServer, Platform


def _bound_for_incoming() -> dict[tuple[int, str, int], str]:
    """(pid, address, port) -> program, for each listening TCP socket and each unconnected UDP one
    held by a process this test session started."""
    found = {}
    for process in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            for c in process.net_connections(kind="inet"):
                incoming = c.status == psutil.CONN_LISTEN or (c.type == socket.SOCK_DGRAM and not c.raddr)
                if incoming:
                    found[(process.pid, c.laddr.ip, c.laddr.port)] = " ".join(process.cmdline()[:3])
    return found


def test_every_server_the_stack_starts_listens_on_loopback_only(
    platform: Platform, label_studio: LabelStudioServer
) -> None:
    bound = _bound_for_incoming()
    config = platform.stack.config
    servers = {
        "LocalStack": config.localstack_port,
        "MLflow": config.mlflow_port,
        "the gateway": config.gateway_port,
        "Label Studio": config.label_studio_port,
    }
    seen = {port for _, _, port in bound}
    assert {name for name, port in servers.items() if port not in seen} == set(), "each server is found listening"
    exposed = {key: program for key, program in bound.items() if not ipaddress.ip_address(key[1]).is_loopback}
    assert exposed == {}, f"bound beyond loopback: {exposed}"
