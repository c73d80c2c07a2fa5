"""Run a command every N minutes, on the clock (at :00 for 60): the dev stack's cron.

    python tools/every.py 60 -- monitoring-job run

Each run is a child process whose output goes to this process's output. SIGTERM (or Ctrl-C)
stops the wait at once, or stops a run in progress with SIGTERM and waits for it; a run
never overlaps the next (a late one makes the next wait for its own slot).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta


def next_slot(now: datetime, minutes: int) -> datetime:
    """The next time past `now` whose minutes since midnight are a multiple of `minutes`."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = (now - midnight) // timedelta(minutes=minutes) + 1
    return midnight + elapsed * timedelta(minutes=minutes)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("minutes", type=int, help="a divisor of 1440 (60: hourly, at :00)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command or args.minutes < 1 or 1440 % args.minutes:
        parser.error("give a divisor of 1440 minutes, then -- and a command")

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.is_set():
        due = next_slot(datetime.now(UTC), args.minutes)
        print(f"[every] next run of {' '.join(command)} at {due:%H:%M} UTC", flush=True)
        if stop.wait((due - datetime.now(UTC)).total_seconds()):
            break
        child = subprocess.Popen(command)
        while child.poll() is None:
            if stop.wait(0.5):
                child.terminate()
                child.wait()
        print(f"[every] {' '.join(command)} exited with {child.returncode}", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
