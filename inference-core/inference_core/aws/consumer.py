"""The SQS poll loop shared by the gateway's response consumer and the model workers.

receivers (threads, each a long poll of up to 10; all but the first poll only while the queue has
more behind, so that a trickle is not spread one message per receive over them) -> an in-process
inbox -> batches of up to ``batch_size``, waiting at most ``batch_wait_seconds`` to fill one while
the queue has more behind (dynamic batching; once a receive comes back short the queue is empty,
and waiting would only add latency: what is in the inbox is the batch) ->
handler(batch) -> delete the successes in batched calls -> back off each failure by changing
its visibility (longer with each receive) -> after ``maxReceiveCount`` receives SQS moves the
message to its dead-letter queue.

With a priority lane (a second queue, e.g. a model's queue for high-priority requests), one more
receiver long-polls it all the time, and its messages go to the front of the inbox: the next
batch starts with them, ahead of whatever normal backlog is buffered. Each queue has its own room
in the inbox (backpressure: ``2 * batch_size`` normal messages, ``batch_size`` of the lane's), so a
full inbox of normal messages never holds a lane's message back. Every message is settled
(deleted, backed off, released) on the queue it was received from (known by its receipt handle,
which is new at each receive). The lane is strict: a lane that never empties starves the normal queue.

With several batches in hand (``concurrency``), an ``Intake`` decides when the next batch is formed:
only once the batch before it has been computed (its handler calls ``Intake.computed``, or returns),
while that batch's answers are still being sent. A batch formed earlier would close on what had
arrived by then and wait for the model anyway, and the messages arriving during that wait would
make a batch of their own: under steady load, many small batches instead of a few full ones.

A handler never deletes: it returns which messages failed and why. Stopping (SIGTERM)
finishes the batch in hand, makes whatever is still buffered visible again at once, and
returns; a long poll still in flight when the process exits only delays its messages by
the queue's visibility timeout.
"""

from __future__ import annotations

import itertools
import json
import logging
import queue
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import FrameType
from typing import Protocol

from inference_core.aws.limits import MAX_BATCH_ENTRIES, MAX_VISIBILITY_SECONDS, MAX_WAIT_SECONDS
from inference_core.aws.sqs import ReceivedMessage

log = logging.getLogger(__name__)

# message_id -> why it failed; messages not named here succeeded.
Failures = Mapping[str, Exception]
BatchHandler = Callable[[Sequence[ReceivedMessage]], Failures]


class Queue(Protocol):
    """The port the loop polls: SqsQueue here, fakes in unit tests."""

    url: str

    def receive(self, max_messages: int, wait_seconds: int) -> list[ReceivedMessage]: ...

    def delete(self, messages: Sequence[ReceivedMessage]) -> list[ReceivedMessage]: ...

    def change_visibility(self, messages: Sequence[ReceivedMessage], seconds: int) -> None: ...


@dataclass(frozen=True)
class ConsumerSettings:
    max_messages: int = MAX_BATCH_ENTRIES  # per receive
    wait_seconds: int = MAX_WAIT_SECONDS  # long poll
    backoff_base_seconds: int = 2
    backoff_max_seconds: int = 300
    batch_size: int = MAX_BATCH_ENTRIES  # messages per handler call
    batch_wait_seconds: float = 0.0  # after the first message, how long to wait for more
    receivers: int = 1  # long polls in flight at once, while the queue has more behind (one otherwise)
    concurrency: int = 1  # batches handled at once (one's I/O overlaps the next one's compute)


def backoff_seconds(receive_count: int, settings: ConsumerSettings) -> int:
    """Exponential in the number of receives so far: base, 2*base, 4*base... capped."""
    exponent = max(0, receive_count - 1)
    return int(min(settings.backoff_base_seconds * 2**exponent, settings.backoff_max_seconds, MAX_VISIBILITY_SECONDS))


class Intake:
    """One batch at a time between being formed and being computed (see the module's docstring).

    The consumer takes the intake before it forms a batch; the batch's handler gives it back with
    ``computed()`` as soon as it needs the model no more (the consumer gives it back when the
    handler returns, if the handler did not). Share one between the consumer and its handler.
    """

    def __init__(self) -> None:
        self._free = threading.Semaphore(1)
        self._held = threading.local()  # held by the batch this thread is handling

    def take(self, timeout: float) -> bool:
        return self._free.acquire(timeout=timeout)

    def give_back(self) -> None:
        """For a batch that was not formed after all."""
        self._free.release()

    def hold_for_this_thread(self) -> None:
        self._held.batch = True

    def computed(self) -> None:
        """The calling thread's batch needs the model no more: the next batch may be formed now."""
        if getattr(self._held, "batch", False):
            self._held.batch = False
            self._free.release()


def max_receive_count(client: object, queue_url: str) -> int | None:
    """The queue's redrive ``maxReceiveCount``, or None if it has no dead-letter queue."""
    attributes = client.get_queue_attributes(  # type: ignore[attr-defined]
        QueueUrl=queue_url, AttributeNames=["RedrivePolicy"]
    )["Attributes"]
    if "RedrivePolicy" not in attributes:
        return None
    return int(json.loads(attributes["RedrivePolicy"])["maxReceiveCount"])


_IDLE_TICK_SECONDS = 0.5  # how often an idle loop looks at the stop flag
_LANE, _NORMAL = 0, 1  # inbox order: the priority lane's messages first, then the normal queue's, each FIFO

# An inbox entry: (lane rank, arrival number, message); the number keeps each lane first in, first out.
_Entry = tuple[int, int, ReceivedMessage]


class QueueConsumer:
    def __init__(
        self,
        queue: Queue,
        handler: BatchHandler,
        settings: ConsumerSettings = ConsumerSettings(),
        priority_lane: Queue | None = None,
        intake: Intake | None = None,
    ):
        self._queue = queue
        self._lane = priority_lane
        self._intake = intake
        self._handler = handler
        self._settings = settings
        self._stop = threading.Event()
        self._queue_has_more = threading.Event()  # the last receive from the normal queue came back full
        self._room = {  # each queue's places in the inbox
            _NORMAL: threading.BoundedSemaphore(2 * settings.batch_size),
            _LANE: threading.BoundedSemaphore(settings.batch_size),
        }
        self._arrivals = itertools.count()
        self._from_lane: set[str] = set()  # receipt handles of the messages in hand that came from the lane

    def stop(self) -> None:
        self._stop.set()

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop the loop after the batch in hand (main thread only)."""

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("signal %s: stopping after the batch in hand", signum)
            self._stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    def run(self) -> None:
        inbox: queue.PriorityQueue[_Entry] = queue.PriorityQueue()
        receivers = [
            threading.Thread(
                target=self._receive_into, args=(inbox, self._queue, _NORMAL, i > 0), name=f"receiver-{i}", daemon=True
            )
            for i in range(self._settings.receivers)
        ]
        if self._lane is not None:
            receivers.append(
                threading.Thread(
                    target=self._receive_into, args=(inbox, self._lane, _LANE, False), name="lane", daemon=True
                )
            )
        for receiver in receivers:
            receiver.start()
        slots = threading.BoundedSemaphore(self._settings.concurrency)
        with ThreadPoolExecutor(self._settings.concurrency, thread_name_prefix="batch") as pool:
            while not self._stop.is_set():
                if not slots.acquire(timeout=_IDLE_TICK_SECONDS):
                    continue
                if self._intake is not None and not self._intake.take(timeout=_IDLE_TICK_SECONDS):
                    slots.release()
                    continue
                batch = self._next_batch(inbox)
                if batch:
                    pool.submit(self._process_in_slot, batch, slots)
                else:
                    if self._intake is not None:
                        self._intake.give_back()
                    slots.release()
        # (leaving the with-block waited for the batches in hand)
        # Receivers waiting for room give their messages back within a tick; one still in a
        # long poll is not waited for (its messages reappear after the visibility timeout).
        deadline = time.monotonic() + 2 * _IDLE_TICK_SECONDS
        for receiver in receivers:
            receiver.join(timeout=max(0.0, deadline - time.monotonic()))
        self._release(_drain(inbox))

    def process(self, messages: Sequence[ReceivedMessage]) -> Failures:
        try:
            failures = self._handler(messages)
        except Exception as exc:  # a handler bug must not delete or lose the batch
            log.exception("handler failed for a whole batch of %d", len(messages))
            failures = {m.message_id: exc for m in messages}
        done = [m for m in messages if m.message_id not in failures]
        failed = [m for m in messages if m.message_id in failures]
        try:
            for source, settled in self._by_source(done):
                refused = source.delete(settled)
                if refused:
                    log.warning("SQS refused to delete %d messages; they will be redelivered", len(refused))
            for source, settled in self._by_source(failed):
                for message in settled:
                    log.warning(
                        "message %s failed (receive %d): %s",
                        message.message_id,
                        message.receive_count,
                        failures[message.message_id],
                    )
                    source.change_visibility([message], backoff_seconds(message.receive_count, self._settings))
        finally:
            self._from_lane.difference_update(m.receipt_handle for m in messages)
        return failures

    def _by_source(self, messages: Sequence[ReceivedMessage]) -> list[tuple[Queue, list[ReceivedMessage]]]:
        """The messages grouped by the queue they came from (the normal queue's first, as ever)."""
        lane = [m for m in messages if m.receipt_handle in self._from_lane]
        normal = [m for m in messages if m.receipt_handle not in self._from_lane]
        return [(q, group) for q, group in ((self._queue, normal), (self._lane, lane)) if group and q is not None]

    def _process_in_slot(self, batch: Sequence[ReceivedMessage], slots: threading.BoundedSemaphore) -> None:
        if self._intake is not None:
            self._intake.hold_for_this_thread()
        try:
            self.process(batch)
        except Exception:  # deleting or backing off failed: SQS redelivers after the timeout
            log.exception("could not settle a batch of %d", len(batch))
        finally:
            if self._intake is not None:
                self._intake.computed()  # if the handler did not say so
            slots.release()

    def _receive_into(
        self, inbox: queue.PriorityQueue[_Entry], source: Queue, rank: int, only_while_more: bool
    ) -> None:
        while not self._stop.is_set():
            if only_while_more and not self._queue_has_more.wait(_IDLE_TICK_SECONDS):
                continue
            try:
                messages = source.receive(self._settings.max_messages, self._settings.wait_seconds)
            except Exception:
                log.exception("receive from %s failed; retrying", source.url)
                self._stop.wait(1.0)
                continue
            if rank == _LANE:
                self._from_lane.update(m.receipt_handle for m in messages)
            elif len(messages) == self._settings.max_messages:  # before the put: a batch sees its receive's verdict
                self._queue_has_more.set()
            else:
                self._queue_has_more.clear()
            for i, message in enumerate(messages):
                if not self._put(inbox, rank, message):
                    self._release(messages[i:])
                    return

    def _put(self, inbox: queue.PriorityQueue[_Entry], rank: int, message: ReceivedMessage) -> bool:
        """Wait for room in the inbox (backpressure, each queue its own); False if the consumer stops first."""
        while not self._room[rank].acquire(timeout=_IDLE_TICK_SECONDS):
            if self._stop.is_set():
                return False
        if self._stop.is_set():  # stopping: what it has drained is being released; so is this
            self._room[rank].release()
            return False
        inbox.put((rank, next(self._arrivals), message))
        return True

    def _take(self, entry: _Entry) -> ReceivedMessage:
        rank, _, message = entry
        self._room[rank].release()
        return message

    def _next_batch(self, inbox: queue.PriorityQueue[_Entry]) -> list[ReceivedMessage]:
        try:
            batch = [self._take(inbox.get(timeout=_IDLE_TICK_SECONDS))]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self._settings.batch_wait_seconds
        while len(batch) < self._settings.batch_size:
            try:
                batch.append(self._take(inbox.get_nowait()))
                continue
            except queue.Empty:
                if not self._queue_has_more.is_set():
                    break
            try:
                batch.append(self._take(inbox.get(timeout=max(0.0, deadline - time.monotonic()))))
            except queue.Empty:
                break
        return batch

    def _release(self, messages: Sequence[ReceivedMessage]) -> None:
        """Make messages we will not process visible to other consumers at once."""
        for source, released in self._by_source(messages):
            try:
                source.change_visibility(released, 0)
            except Exception as exc:
                log.warning("could not release %d messages (%s); they reappear after their timeout", len(released), exc)


def _drain(inbox: queue.PriorityQueue[_Entry]) -> list[ReceivedMessage]:
    drained = []
    while True:
        try:
            drained.append(inbox.get_nowait()[2])
        except queue.Empty:
            return drained
