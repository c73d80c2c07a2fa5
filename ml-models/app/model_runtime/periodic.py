"""Run a function every few seconds on a daemon thread (heartbeats, registry polling)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic:
    """Call `action` every `interval_seconds` until stopped; its errors are logged, never raised."""

    def __init__(
        self, name: str, action: Callable[[], object], interval_seconds: float, run_first: bool = False
    ) -> None:
        self._name = name
        self._action = action
        self._interval = interval_seconds
        self._run_first = run_first
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        if self._run_first:
            self._call()
        while not self._stop.wait(self._interval):
            self._call()

    def _call(self) -> None:
        try:
            self._action()
        except Exception as exc:  # a flaky dependency must not stop the worker
            log.warning("%s failed: %s", self._name, exc)
