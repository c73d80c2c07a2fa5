"""The dev stack's cron: runs fall on the clock, and a stop ends the wait at once."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from every import next_slot

EVERY = Path(__file__).resolve().parents[2] / "tools" / "every.py"


def test_slots_fall_on_multiples_of_the_period() -> None:
    assert next_slot(datetime(2026, 11, 25, 9, 0, 0, tzinfo=UTC), 60) == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert next_slot(datetime(2026, 11, 25, 9, 59, 59, tzinfo=UTC), 60) == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert next_slot(datetime(2026, 11, 25, 9, 7, tzinfo=UTC), 10) == datetime(2026, 11, 25, 9, 10, tzinfo=UTC)
    assert next_slot(datetime(2026, 11, 25, 23, 30, tzinfo=UTC), 60) == datetime(2026, 11, 26, 0, 0, tzinfo=UTC)


def test_sigterm_ends_the_wait_at_once() -> None:
    process = subprocess.Popen(
        [sys.executable, str(EVERY), "60", "--", sys.executable, "-c", "pass"], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().startswith("[every] next run of")
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(5) == 0
    assert time.monotonic() - started < 2
