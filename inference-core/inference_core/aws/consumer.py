"""The SQS poll loop shared by the gateway's response consumer and the model workers.

poll (long, up to 10) -> handler(batch) -> delete the successes in one call ->
back off each failure by changing its visibility (longer with each receive) ->
after ``maxReceiveCount`` receives SQS moves the message to its dead-letter queue.

A handler never deletes: it returns which messages failed and why. Stopping
(SIGTERM) interrupts an idle long poll at once; a batch in hand is finished first.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
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
    max_messages: int = MAX_BATCH_ENTRIES
    wait_seconds: int = MAX_WAIT_SECONDS
    backoff_base_seconds: int = 2
    backoff_max_seconds: int = 300


def backoff_seconds(receive_count: int, settings: ConsumerSettings) -> int:
    """Exponential in the number of receives so far: base, 2*base, 4*base... capped."""
    exponent = max(0, receive_count - 1)
    return int(min(settings.backoff_base_seconds * 2**exponent, settings.backoff_max_seconds, MAX_VISIBILITY_SECONDS))


def max_receive_count(client: object, queue_url: str) -> int | None:
    """The queue's redrive ``maxReceiveCount``, or None if it has no dead-letter queue."""
    attributes = client.get_queue_attributes(  # type: ignore[attr-defined]
        QueueUrl=queue_url, AttributeNames=["RedrivePolicy"]
    )["Attributes"]
    if "RedrivePolicy" not in attributes:
        return None
    return int(json.loads(attributes["RedrivePolicy"])["maxReceiveCount"])


class _Interrupted(BaseException):
    """Raised by the signal handler inside an idle long poll.

    A BaseException, like KeyboardInterrupt, so that botocore does not wrap it as a
    retryable HTTP error and poll again.
    """


class QueueConsumer:
    def __init__(self, queue: Queue, handler: BatchHandler, settings: ConsumerSettings = ConsumerSettings()):
        self._queue = queue
        self._handler = handler
        self._settings = settings
        self._stop = threading.Event()
        self._polling = False

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT stop the loop; an idle long poll is abandoned at once (main thread only)."""

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("signal %s: stopping after the batch in hand", signum)
            self._stop.set()
            if self._polling:
                raise _Interrupted

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                with self._poll_phase():
                    messages = self._queue.receive(self._settings.max_messages, self._settings.wait_seconds)
            except _Interrupted:
                break  # anything SQS handed out unseen becomes visible again after its timeout
            except Exception:
                log.exception("receive from %s failed; retrying", self._queue.url)
                self._stop.wait(1.0)
                continue
            if messages:
                self.process(messages)

    def process(self, messages: Sequence[ReceivedMessage]) -> Failures:
        try:
            failures = self._handler(messages)
        except Exception as exc:  # a handler bug must not delete or lose the batch
            log.exception("handler failed for a whole batch of %d", len(messages))
            failures = {m.message_id: exc for m in messages}
        done = [m for m in messages if m.message_id not in failures]
        failed = [m for m in messages if m.message_id in failures]
        refused = self._queue.delete(done)
        if refused:
            log.warning("SQS refused to delete %d messages; they will be redelivered", len(refused))
        for message in failed:
            log.warning(
                "message %s failed (receive %d): %s",
                message.message_id,
                message.receive_count,
                failures[message.message_id],
            )
            self._queue.change_visibility([message], backoff_seconds(message.receive_count, self._settings))
        return failures

    @contextmanager
    def _poll_phase(self) -> Iterator[None]:
        self._polling = True
        try:
            yield
        finally:
            self._polling = False
