"""One sync of one model's Label Studio project: push the requests people should label, pull their labels.

Invariants:
- A request is sent to people at most once ever. It is reserved in PostgreSQL before its task is
  imported, and confirmed with the task id after; a run that fails in between (Label Studio down,
  the job killed) leaves it pending, and the next run first looks for tasks Label Studio already
  holds (ids above the last confirmed one) and imports only the ones it does not.
- Label Studio is the source of truth for annotations: a pull makes each changed task's labels
  what Label Studio holds now (edited ones updated, deleted ones removed), so pulling the same
  changes twice stores them once. The watermark only moves past changes that were applied, and
  stays a minute behind the run's start (changes that commit late are read by the next run).
- The random slice is drawn before the uncertainty picks, from every candidate, so labels in it
  estimate quality without the bias of choosing the hard cases.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any, Protocol
from uuid import UUID

from annotation.labelling import Candidate, LabelledTask, label_config, read_task, task

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
APPLY_CHUNK = 500  # tasks applied (and the watermark moved) per transaction


class Board(Protocol):
    """Label Studio, as the sync uses it (annotation.label_studio.LabelStudio)."""

    def ensure_project(self, title: str, label_config: str) -> int: ...

    def set_model_version(self, project_id: int, model_version: str) -> None: ...

    def import_tasks(self, project_id: int, tasks: Sequence[Mapping[str, Any]]) -> list[int]: ...

    def annotators(self) -> dict[int, str]: ...

    def tasks_after(self, project_id: int, task_id: int) -> Iterator[dict[str, Any]]: ...

    def tasks_changed_since(self, project_id: int, since: datetime) -> Iterator[dict[str, Any]]: ...


Split = Callable[[int], tuple[int, int]]  # candidates -> (random, least confident) to send


class Annotations(Protocol):
    """PostgreSQL, as the sync uses it (annotation.store.PostgresAnnotations)."""

    def exclusive(self, model: str) -> AbstractContextManager[bool]: ...

    def choose(self, model: str, project_id: int, since: datetime, split: Split) -> dict[str, int]: ...

    def pending(self, project_id: int) -> list[Candidate]: ...

    def last_task_id(self, project_id: int) -> int: ...

    def confirm(self, task_ids: Mapping[UUID, int]) -> None: ...

    def pulled_until(self, project_id: int) -> datetime | None: ...

    def apply(
        self, model: str, project_id: int, tasks: Sequence[LabelledTask], settled: datetime
    ) -> tuple[int, int]: ...


@dataclass(frozen=True)
class SyncSettings:
    max_tasks: int = 100  # requests sent to people per model per run
    random_fraction: float = 0.1  # of which drawn at random (at least one when above 0)
    lookback: timedelta = timedelta(days=7)  # only requests finished this recently are candidates
    project_prefix: str = ""  # Label Studio project title = prefix + model name
    # The watermark stays this far behind the run's start: a task saved just before a pull may
    # commit after it reads (and Label Studio's clock may differ a little from this job's), so the
    # next run reads the last minute again. Re-reading is harmless: the pull is idempotent.
    pull_overlap: timedelta = timedelta(minutes=1)

    def split(self, candidates: int) -> tuple[int, int]:
        """How many of `candidates` to send at random and how many least confident: up to
        `max_tasks` in all, `random_fraction` of them (rounded up) at random."""
        sent = min(candidates, self.max_tasks)
        random = min(sent, math.ceil(sent * self.random_fraction))
        return random, sent - random


@dataclass(frozen=True)
class SyncResult:
    model: str
    project_id: int | None
    skipped: bool = False  # another run held the model's lock
    recovered: int = 0  # pending tasks an earlier, interrupted run had already created
    pushed: int = 0
    uncertainty: int = 0
    random: int = 0
    pulled_tasks: int = 0
    labels_stored: int = 0
    labels_removed: int = 0


def sync_model(
    board: Board,
    store: Annotations,
    model: str,
    label_set: Sequence[str],
    settings: SyncSettings,
    now: datetime,
) -> SyncResult:
    with store.exclusive(model) as held:
        if not held:
            return SyncResult(model, None, skipped=True)
        project_id = board.ensure_project(settings.project_prefix + model, label_config(label_set))
        recovered = _recover(board, store, project_id)
        chosen = store.choose(model, project_id, now - settings.lookback, settings.split)
        pushed = _push(board, store, project_id)
        pulled, stored, removed = _pull(board, store, model, project_id, label_set, now - settings.pull_overlap)
    return SyncResult(
        model,
        project_id,
        recovered=recovered,
        pushed=pushed,
        uncertainty=chosen.get("uncertainty", 0),
        random=chosen.get("random", 0),
        pulled_tasks=pulled,
        labels_stored=stored,
        labels_removed=removed,
    )


def _recover(board: Board, store: Annotations, project_id: int) -> int:
    """Confirm pending requests whose tasks an interrupted run created after all."""
    pending = {candidate.request_id for candidate in store.pending(project_id)}
    if not pending:
        return 0
    found = {}
    for raw in board.tasks_after(project_id, store.last_task_id(project_id)):
        request_id = read_task(raw, ()).request_id
        if request_id in pending:
            found[request_id] = int(raw["id"])
    store.confirm(found)
    return len(found)


def _push(board: Board, store: Annotations, project_id: int) -> int:
    candidates = store.pending(project_id)
    if not candidates:
        return 0
    task_ids = board.import_tasks(project_id, [task(candidate) for candidate in candidates])
    store.confirm({c.request_id: task_id for c, task_id in zip(candidates, task_ids, strict=True)})
    # Label Studio accepts a project model version only once predictions of it exist.
    board.set_model_version(project_id, newest_version(c.model_version for c in candidates))
    return len(candidates)


def _pull(
    board: Board, store: Annotations, model: str, project_id: int, label_set: Sequence[str], settled: datetime
) -> tuple[int, int, int]:
    """Apply every task changed since the watermark; then every change up to `settled` is applied."""
    since = store.pulled_until(project_id) or EPOCH
    pulled = stored = removed = 0
    annotators = board.annotators()
    changed = (read_task(raw, label_set, annotators) for raw in board.tasks_changed_since(project_id, since))
    for chunk in _chunks(changed, APPLY_CHUNK):
        added, dropped = store.apply(model, project_id, chunk, settled)
        pulled, stored, removed = pulled + len(chunk), stored + added, removed + dropped
    store.apply(model, project_id, [], settled)  # the listing is exhausted: nothing older is left to read
    return pulled, stored, removed


def newest_version(versions: Iterable[str]) -> str:
    """MLflow versions are integers as text: compare them as numbers."""
    return max(versions, key=lambda v: (v.isdigit(), int(v) if v.isdigit() else 0, v))


def _chunks(items: Iterable[LabelledTask], size: int) -> Iterator[list[LabelledTask]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
