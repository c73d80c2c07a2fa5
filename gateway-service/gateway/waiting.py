"""Let ``GET ...?wait=N`` sleep until a request finishes, without polling the database.

One listener thread per process LISTENs on the channel that ``store.record_outcomes``
notifies, and wakes the threads waiting for that request. The caller still re-reads
the row (the database, not the notification, is the truth), and waits in short slices
so a lost notification costs at most one slice.

``stop()`` (called from the server's stop-signal handler) makes every wait end within one
slice and later waits return at once, so a long poll answers with the request's current
state instead of holding the shutdown for up to ``max_wait_seconds``. It only sets a flag:
a signal handler must take no lock, since a second signal can interrupt the first handler
in the same thread while it holds one, and the second then waits on it forever.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from uuid import UUID

from inference_core.db.engine import listen_connection
from inference_core.db.schema import FINISHED_CHANNEL

log = logging.getLogger(__name__)

RECHECK_SECONDS = 1.0


class FinishedWaiter:
    def __init__(self, database_url: str) -> None:
        self._database_url = database_url
        self._lock = threading.Lock()
        self._waiting: dict[str, set[threading.Event]] = defaultdict(set)
        self._thread: threading.Thread | None = None
        self._stopping = False

    @property
    def stopping(self) -> bool:
        return self._stopping

    def stop(self) -> None:
        """Refuse to wait from here on; waits in progress end within one slice. Safe in a signal handler."""
        self._stopping = True

    def wait(self, request_id: UUID, seconds: float) -> None:
        """Block for up to `seconds` (one slice at most), or until a finish of `request_id` is notified."""
        self._start_listener()
        event = threading.Event()
        key = str(request_id)
        with self._lock:
            if self._stopping:
                return
            self._waiting[key].add(event)
        try:
            event.wait(min(seconds, RECHECK_SECONDS))
        finally:
            with self._lock:
                self._waiting[key].discard(event)
                if not self._waiting[key]:
                    del self._waiting[key]

    def _start_listener(self) -> None:
        # Started lazily: never at import, and never in a pre-fork master process.
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._listen, name="finished-listener", daemon=True)
                self._thread.start()

    def _listen(self) -> None:
        while True:
            try:
                with listen_connection(self._database_url, FINISHED_CHANNEL) as conn:
                    for notify in conn.notifies():
                        with self._lock:
                            for event in self._waiting.get(notify.payload, ()):
                                event.set()
            except Exception as exc:
                log.warning("finished-listener lost its connection (%s); reconnecting", exc)
                threading.Event().wait(1.0)
