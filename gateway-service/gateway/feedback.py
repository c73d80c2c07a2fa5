"""Client feedback: the label a client says its request should have been given.

Invariants: a tenant gives feedback only on its own requests (another's is not found); feedback
is taken only for a succeeded request, only with a label from its model's
label set (``labels`` in the model's ``model.toml``); a request holds at most one client label,
the latest one sent, so sending the same feedback again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from gateway.errors import NotFound, NotSucceeded, UnknownLabel
from inference_core.db.schema import RequestStatus


@dataclass(frozen=True)
class RequestFacts:
    status: str
    model_name: str | None
    label_set: tuple[str, ...]  # empty when the model's results are not labels


@dataclass(frozen=True)
class StoredLabel:
    label: str
    created_at: datetime
    updated_at: datetime
    created: bool  # False when the request already held a client label (the same or another)


class FeedbackStore(Protocol):
    def request_facts(self, tenant: str, request_id: UUID) -> RequestFacts | None: ...

    def put_client_label(self, request_id: UUID, label: str) -> StoredLabel: ...


def give_feedback(store: FeedbackStore, tenant: str, request_id: UUID, label: str) -> StoredLabel:
    facts = store.request_facts(tenant, request_id)
    if facts is None:
        raise NotFound(f"no inference request {request_id}")
    if facts.status != RequestStatus.SUCCEEDED.value:
        raise NotSucceeded(
            f"inference request {request_id} is {facts.status}; feedback is taken once it has succeeded",
            {"status": facts.status},
        )
    if not facts.label_set:
        raise UnknownLabel(
            f"model {facts.model_name} does not answer with labels, so it takes no label feedback",
            {"valid_labels": []},
        )
    if label not in facts.label_set:
        valid = list(facts.label_set)
        raise UnknownLabel(
            f"label {label!r} is not one of model {facts.model_name}'s labels: {', '.join(valid)}",
            {"field": "label", "valid_labels": valid},
        )
    return store.put_client_label(request_id, label)
