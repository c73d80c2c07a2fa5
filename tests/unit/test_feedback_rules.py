"""The feedback use case's rules, on a fake store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from gateway.errors import NotFound, NotSucceeded, UnknownLabel
from gateway.feedback import RequestFacts, StoredLabel, give_feedback


class FakeFeedbackStore:
    def __init__(self, facts: RequestFacts | None) -> None:
        self.facts = facts
        self.labels: dict[uuid.UUID, str] = {}

    def request_facts(self, tenant: str, request_id: uuid.UUID) -> RequestFacts | None:
        return self.facts

    def put_client_label(self, request_id: uuid.UUID, label: str) -> StoredLabel:
        created = request_id not in self.labels
        self.labels[request_id] = label
        now = datetime.now(UTC)
        return StoredLabel(label, now, now, created)


SUCCEEDED = RequestFacts("succeeded", "sentiment", ("negative", "positive"))


def test_a_label_of_the_models_set_is_stored() -> None:
    store, request_id = FakeFeedbackStore(SUCCEEDED), uuid.uuid4()
    assert give_feedback(store, "acme", request_id, "negative").created
    assert store.labels == {request_id: "negative"}


@pytest.mark.parametrize(
    ("facts", "label", "error", "stored"),
    [
        (None, "positive", NotFound, False),
        (RequestFacts("queued", None, ()), "positive", NotSucceeded, False),
        (RequestFacts("failed", "sentiment", ("negative", "positive")), "positive", NotSucceeded, False),
        (SUCCEEDED, "Positive", UnknownLabel, False),
        (RequestFacts("succeeded", "embedding", ()), "positive", UnknownLabel, False),
    ],
)
def test_feedback_is_refused_and_nothing_stored(
    facts: RequestFacts | None, label: str, error: type[Exception], stored: bool
) -> None:
    store = FakeFeedbackStore(facts)
    with pytest.raises(error):
        give_feedback(store, "acme", uuid.uuid4(), label)
    assert bool(store.labels) is stored


def test_a_wrong_label_is_answered_with_the_valid_ones() -> None:
    with pytest.raises(UnknownLabel) as refused:
        give_feedback(FakeFeedbackStore(SUCCEEDED), "acme", uuid.uuid4(), "neutral")
    assert refused.value.details == {"field": "label", "valid_labels": ["negative", "positive"]}
