"""Gunicorn settings for the gateway: ``gunicorn -c python:gateway.gunicorn_config 'gateway.app:create_app()'``.

The bind address and the number of workers come from the command line (or ``GUNICORN_CMD_ARGS``);
what is here is how the server must behave, wherever it runs.

Stopping. SIGTERM is the graceful stop: the master passes it to its workers; each stops accepting,
answers every ``?wait`` long poll within a second with the request's current state, closes idle keep-alive
connections within ``keepalive`` seconds, finishes its requests within ``graceful_timeout`` and
exits; the master kills whatever is left after that. A pod's ``terminationGracePeriodSeconds`` (and
the dev stack's own wait) must exceed ``graceful_timeout``.

``GatewayWorker`` is gunicorn's gthread worker with three changes, each for a stop that hung:
- SIGINT is graceful, like SIGTERM. Stock gthread treats SIGINT and SIGQUIT as "quit now" and calls
  ``ThreadPoolExecutor.shutdown`` from the signal handler; a terminal's Ctrl-C (SIGINT to the whole
  process group) followed by the master's SIGQUIT entered it twice, and the second entry deadlocked
  on the executor's lock (CPython issue 121649), leaving an orphaned worker holding the port.
- Every stop signal ends the long polls first (``gateway.app.begin_shutdown``; they answer within
  a second); otherwise a ``?wait=30`` holds its thread, and the stop, for up to 30 s.
- While stopping, the event loop waits in short slices. Stock gthread then waits for socket events
  for the whole remaining grace and closes expired keep-alive connections only between waits, so
  one idle keep-alive client held every stop for the full ``graceful_timeout``.

Metrics. Each worker process keeps its Prometheus figures in files under ``PROMETHEUS_MULTIPROC_DIR``
and ``/metrics`` adds them up, whichever process answers (``gateway.metrics``). prometheus_client reads
the variable when it is first imported, which is before any hook here runs, so the deployment sets
it (``gateway-server`` makes a fresh folder, ``make up`` names one of its run): with more than one worker and no
such directory the server refuses to start rather than report one process's figures as the whole.
The files of an earlier run are cleared when the server starts; a worker that exits is marked dead
(its counters stay in the sums).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from types import FrameType
from typing import Any

from gunicorn.workers.gthread import ThreadWorker
from prometheus_client import multiprocess

from gateway.app import begin_shutdown
from gateway.settings import MULTIPROCESS_DIR_VARIABLE, THREADS_PER_PROCESS

worker_class = "gateway.gunicorn_config.GatewayWorker"
threads = THREADS_PER_PROCESS
graceful_timeout = 10  # seconds a stopping worker has to finish its in-flight requests
keepalive = 2  # seconds an idle keep-alive connection is kept, also while stopping

_STOPPING_SLICE_SECONDS = 0.25


def on_starting(server: Any) -> None:
    named = os.environ.get(MULTIPROCESS_DIR_VARIABLE, "").strip()
    if not named:
        if server.cfg.workers > 1:
            raise SystemExit(
                f"set {MULTIPROCESS_DIR_VARIABLE} to an empty directory for {server.cfg.workers} processes' metrics"
            )
        return
    directory = Path(named)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):  # prometheus_client's files: an earlier run's would be added in
        stale.unlink(missing_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get(MULTIPROCESS_DIR_VARIABLE, "").strip():
        multiprocess.mark_process_dead(worker.pid)


class GatewayWorker(ThreadWorker):  # type: ignore[misc]
    def init_signals(self) -> None:
        super().init_signals()
        signal.signal(signal.SIGINT, self.handle_exit)
        signal.siginterrupt(signal.SIGINT, False)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._wake_long_polls()
        super().handle_exit(sig, frame)

    def handle_quit(self, sig: int, frame: FrameType | None) -> None:
        self._wake_long_polls()
        super().handle_quit(sig, frame)

    def wait_for_and_dispatch_events(self, timeout: float) -> Any:
        return super().wait_for_and_dispatch_events(timeout if self.alive else min(timeout, _STOPPING_SLICE_SECONDS))

    def _wake_long_polls(self) -> None:
        app = getattr(self, "wsgi", None)  # None while the app is still loading
        if app is not None:
            begin_shutdown(app)
