"""People's labels as training and evaluation data for a model.

Invariants:
- A labelled request's side, training or held out, depends only on its id (a hash), so it never
  moves between runs as labels accumulate: a version is never scored on labels it trained on.
- The fingerprint names the exact set of (request, label) pairs a version trained on; it is
  recorded with the version in MLflow next to the counts.
- Held-out labels gate a promotion only when there are enough of them (`min_held_out`): a
  handful of labels would refuse or allow a version by noise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from inference_core.db.labels import LabelledText

HELD_OUT_PERCENT = 20  # of the labelled requests, by a hash of their id


class HumanLabelSource(Protocol):
    def labelled(self, model: str) -> list[LabelledText]: ...


class NoHumanLabels:
    """Where no database is configured: training uses the model's own data alone."""

    def labelled(self, model: str) -> list[LabelledText]:
        return []


@dataclass(frozen=True)
class HumanSplit:
    train: list[LabelledText]
    held_out: list[LabelledText]

    @property
    def fingerprint(self) -> str:
        """sha256 over the training pairs, sorted by request id ("" for none)."""
        if not self.train:
            return ""
        digest = hashlib.sha256()
        for item in sorted(self.train, key=lambda x: x.request_id):
            digest.update(f"{item.request_id}\t{item.label}\n".encode())
        return digest.hexdigest()

    def gate(self, minimum: int) -> list[LabelledText]:
        """The held-out labels to score versions on: all of them when there are at least `minimum`."""
        return self.held_out if len(self.held_out) >= minimum else []

    def params(self) -> dict[str, str | int]:
        """What the training run records in MLflow."""
        return {
            "human_labels_train": len(self.train),
            "human_labels_held_out": len(self.held_out),
            "human_labels_fingerprint": self.fingerprint or "none",
        }


def is_held_out(request_id: UUID) -> bool:
    return int.from_bytes(hashlib.sha256(request_id.bytes).digest()[:8], "big") % 100 < HELD_OUT_PERCENT


def split(labelled: Sequence[LabelledText], label_set: Sequence[str]) -> HumanSplit:
    """Labels outside the model's label set are dropped; the rest split by request id."""
    usable = [item for item in labelled if item.label in label_set]
    return HumanSplit(
        train=[item for item in usable if not is_held_out(item.request_id)],
        held_out=[item for item in usable if is_held_out(item.request_id)],
    )


def accuracy(predicted: Sequence[str | None], held_out: Sequence[LabelledText]) -> float:
    """The share of held-out requests where the model's label (`predicted`, in the same order) is the
    person's."""
    return sum(label == item.label for label, item in zip(predicted, held_out, strict=True)) / len(held_out)
