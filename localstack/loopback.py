"""Run LocalStack with its gateway listening only on the address ``GATEWAY_LISTEN`` names.

LocalStack's default (twisted) server drops the host of an IPv4 ``GATEWAY_LISTEN`` entry and listens
on every interface (``localstack/runtime/server/twisted.py``: ``TCP4ServerEndpoint(reactor, port)``,
"TODO: interface = host?"), so ``127.0.0.1:4566`` still accepts connections from the network. Its
hypercorn server binds the host, but costs about 1.6x the CPU per API call on this machine (3.7-4.2
against 2.3-2.4 ms, measured side by side), and LocalStack shares the platform's cores. So this
starts LocalStack's own entry point with twisted's IPv4 server endpoint given the listen address's
host; ``tests/e2e/test_bound_addresses.py`` checks the result.

    .venv-localstack/bin/python localstack/loopback.py   # instead of -m localstack.runtime.main
"""

from __future__ import annotations

import runpy
from typing import Any

from localstack import config
from twisted.internet import endpoints

_TCP4ServerEndpoint = endpoints.TCP4ServerEndpoint


def _bound_endpoint(reactor: Any, port: int, backlog: int = 50, interface: str = "") -> Any:
    if not interface:
        interface = next((listen.host for listen in config.GATEWAY_LISTEN if listen.port == port), "")
    return _TCP4ServerEndpoint(reactor, port, backlog, interface)


if __name__ == "__main__":
    endpoints.TCP4ServerEndpoint = _bound_endpoint
    runpy.run_module("localstack.runtime.main", run_name="__main__", alter_sys=True)
