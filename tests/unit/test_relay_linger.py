"""When the outbox relay lets a batch gather before its next claim, and when it claims at once."""

import pytest

from gateway.outbox import LINGER_SECONDS, linger_before_claim


def test_after_a_claim_of_one_or_none_the_next_event_is_claimed_at_once() -> None:
    # One at a time: the previous request's job_completed was claimed a moment ago, alone.
    assert linger_before_claim(claimed=1, claimed_at=100.0, now=100.005, linger_seconds=LINGER_SECONDS) == 0.0
    assert linger_before_claim(claimed=0, claimed_at=100.0, now=100.005, linger_seconds=LINGER_SECONDS) == 0.0


def test_after_a_claim_of_several_the_next_waits_for_the_rest_of_the_linger() -> None:
    assert linger_before_claim(claimed=7, claimed_at=100.0, now=100.010, linger_seconds=0.025) == pytest.approx(0.015)
    assert linger_before_claim(claimed=7, claimed_at=100.0, now=100.030, linger_seconds=0.025) == 0.0
