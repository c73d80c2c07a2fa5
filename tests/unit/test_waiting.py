"""A stopping gateway answers its long polls at once instead of holding the shutdown."""

from __future__ import annotations

import threading
import time
import uuid

from gateway.waiting import RECHECK_SECONDS, FinishedWaiter


class ListenerlessWaiter(FinishedWaiter):
    def _start_listener(self) -> None:  # no database here: nobody notifies
        pass


def test_stop_ends_a_long_poll_within_a_slice_and_later_waits_return_at_once() -> None:
    waiter = ListenerlessWaiter("postgresql+psycopg://unused/none")
    returned = threading.Event()

    def long_poll() -> None:
        deadline = time.monotonic() + 30  # as the GET handler does: slices until the deadline or a stop
        while time.monotonic() < deadline and not waiter.stopping:
            waiter.wait(uuid.uuid4(), deadline - time.monotonic())
        returned.set()

    thread = threading.Thread(target=long_poll)
    thread.start()
    time.sleep(0.2)
    assert not returned.is_set()
    waiter.stop()
    assert returned.wait(RECHECK_SECONDS + 0.5), "the long poll ran on after the stop"
    thread.join()

    started = time.monotonic()
    waiter.wait(uuid.uuid4(), 5)
    assert time.monotonic() - started < 0.1


def test_stop_takes_no_lock_so_a_signal_handler_interrupting_itself_cannot_deadlock() -> None:
    waiter = ListenerlessWaiter("postgresql+psycopg://unused/none")
    stopped = threading.Event()
    with waiter._lock:  # as if the first of two stop signals were inside the waiter when the second came
        caller = threading.Thread(target=lambda: (waiter.stop(), stopped.set()))
        caller.start()
        assert stopped.wait(1), "stop() waited for a lock"
    caller.join()
    assert waiter.stopping
