import threading

from model_runtime.periodic import Periodic


def test_runs_first_repeats_survives_errors_and_stops() -> None:
    calls: list[int] = []
    enough = threading.Event()

    def action() -> None:
        calls.append(len(calls))
        if len(calls) == 2:
            raise RuntimeError("a flaky registry")
        if len(calls) >= 4:
            enough.set()

    periodic = Periodic("test", action, interval_seconds=0.01, run_first=True)
    periodic.start()
    assert enough.wait(5), calls
    periodic.stop()
    seen = len(calls)
    threading.Event().wait(0.1)
    assert len(calls) <= seen + 1  # at most the call already under way


def test_without_run_first_it_waits_one_interval() -> None:
    calls: list[int] = []
    periodic = Periodic("test", lambda: calls.append(1), interval_seconds=60)
    periodic.start()
    threading.Event().wait(0.1)
    periodic.stop()
    assert calls == []
