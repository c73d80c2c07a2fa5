import threading
import time
from collections.abc import Sequence

from inference_core.aws.consumer import ConsumerSettings, Intake, QueueConsumer, backoff_seconds
from inference_core.aws.sqs import ReceivedMessage
from support.fakes import FakeQueue, raw_message


def test_successes_are_deleted_and_failures_backed_off() -> None:
    good, bad = raw_message("good"), raw_message("bad", receive_count=3)
    queue = FakeQueue()

    def handler(messages: Sequence[ReceivedMessage]) -> dict[str, Exception]:
        return {m.message_id: ValueError("no") for m in messages if m.body == "bad"}

    QueueConsumer(queue, handler, ConsumerSettings(backoff_base_seconds=2)).process([good, bad])
    assert queue.deleted == [good]
    assert queue.visibility == {bad.message_id: 8}  # 2 * 2**(3-1)


def test_a_handler_crash_deletes_nothing() -> None:
    messages = [raw_message("a"), raw_message("b")]
    queue = FakeQueue()

    def handler(messages: Sequence[ReceivedMessage]) -> dict[str, Exception]:
        raise RuntimeError("bug")

    failures = QueueConsumer(queue, handler).process(messages)
    assert queue.deleted == []
    assert set(failures) == {m.message_id for m in messages}
    assert set(queue.visibility) == {m.message_id for m in messages}


def test_backoff_grows_exponentially_and_is_capped() -> None:
    settings = ConsumerSettings(backoff_base_seconds=2, backoff_max_seconds=60)
    assert [backoff_seconds(n, settings) for n in (1, 2, 3, 4, 10)] == [2, 4, 8, 16, 60]


def test_run_processes_until_stopped() -> None:
    queue = FakeQueue(inbox=[[raw_message("a")], [raw_message("b")]])
    seen: list[str] = []
    consumer: QueueConsumer

    def handler(messages: Sequence[ReceivedMessage]) -> dict[str, Exception]:
        seen.extend(m.body for m in messages)
        if len(seen) == 2:
            consumer.stop()
        return {}

    consumer = QueueConsumer(queue, handler, ConsumerSettings(wait_seconds=0))
    consumer.run()
    assert seen == ["a", "b"]
    assert len(queue.deleted) == 2


def test_batches_gather_several_receives_up_to_the_batch_size() -> None:
    queue = FakeQueue(inbox=[[raw_message(f"{i}-{j}") for j in range(10)] for i in range(4)])
    sizes: list[int] = []
    consumer: QueueConsumer

    def handler(messages: Sequence[ReceivedMessage]) -> dict[str, Exception]:
        sizes.append(len(messages))
        if sum(sizes) == 40:
            consumer.stop()
        return {}

    settings = ConsumerSettings(wait_seconds=0, batch_size=32, batch_wait_seconds=0.2, receivers=2)
    consumer = QueueConsumer(queue, handler, settings)
    consumer.run()
    assert sum(sizes) == 40 and max(sizes) == 32  # 4 receives of 10 feed one batch of 32
    assert len(queue.deleted) == 40


def test_a_short_receive_is_not_waited_on() -> None:
    """The queue had nothing more: the batch goes at once instead of waiting for the next receive."""
    first, second = raw_message("first"), raw_message("second")
    handled = threading.Event()

    class TrickleQueue(FakeQueue):
        second_sent = False

        def receive(self, max_messages: int, wait_seconds: int) -> list[ReceivedMessage]:
            if self.inbox:
                return self.inbox.pop(0)
            if not self.second_sent:  # arrives once the first is handled, or after a second anyway
                handled.wait(1.0)
                self.second_sent = True
                return [second]
            return super().receive(max_messages, wait_seconds)

    queue = TrickleQueue(inbox=[[first]])
    batches: list[list[str]] = []
    consumer: QueueConsumer

    def handler(messages: Sequence[ReceivedMessage]) -> dict[str, Exception]:
        batches.append([m.body for m in messages])
        handled.set()
        if sum(map(len, batches)) == 2:
            consumer.stop()
        return {}

    consumer = QueueConsumer(queue, handler, ConsumerSettings(wait_seconds=0, batch_size=10, batch_wait_seconds=30))
    consumer.run()
    assert batches == [["first"], ["second"]]


def test_stopping_releases_what_was_received_but_not_processed() -> None:
    queue = FakeQueue(inbox=[[raw_message(f"m{j}") for j in range(10)]])
    consumer: QueueConsumer

    def handler(messages: Sequence[ReceivedMessage]) -> dict[str, Exception]:
        consumer.stop()
        return {}

    consumer = QueueConsumer(queue, handler, ConsumerSettings(wait_seconds=0, batch_size=4))
    consumer.run()
    assert len(queue.deleted) == 4
    released = [m for m, seconds in queue.visibility.items() if seconds == 0]
    assert len(released) == 6  # buffered, never processed: visible again at once


class CountingQueue(FakeQueue):
    """Every receive is a long poll that returns after a moment with one message (a trickle) or a full ten."""

    def __init__(self, full: bool) -> None:
        super().__init__()
        self.full = full
        self.receives = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    def receive(self, max_messages: int, wait_seconds: int) -> list[ReceivedMessage]:
        with self._lock:
            self.receives += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(0.02)
            return [raw_message(f"{self.receives}-{i}") for i in range(max_messages if self.full else 1)]
        finally:
            with self._lock:
                self.in_flight -= 1


def run_until(queue: FakeQueue, messages: int, settings: ConsumerSettings) -> None:
    handled: list[ReceivedMessage] = []
    consumer: QueueConsumer

    def handler(batch: Sequence[ReceivedMessage]) -> dict[str, Exception]:
        handled.extend(batch)
        if len(handled) >= messages:
            consumer.stop()
        return {}

    consumer = QueueConsumer(queue, handler, settings)
    consumer.run()


def test_a_trickle_is_received_by_one_long_poll_and_a_backlog_by_all() -> None:
    settings = ConsumerSettings(wait_seconds=1, batch_size=32, batch_wait_seconds=0.01, receivers=4)
    trickle, backlog = CountingQueue(full=False), CountingQueue(full=True)
    run_until(trickle, 20, settings)
    run_until(backlog, 200, settings)
    assert trickle.most_in_flight == 1, "a short receive leaves the other receivers idle"
    assert backlog.most_in_flight > 1, "full receives bring the other receivers in"


def test_the_priority_lane_goes_ahead_of_a_buffered_backlog_and_is_settled_on_its_own_queue() -> None:
    normal = FakeQueue(url="fake://normal", inbox=[[raw_message(f"n{i}-{j}") for j in range(10)] for i in range(20)])
    lane = FakeQueue(url="fake://high")
    urgent, doomed = raw_message("urgent"), raw_message("doomed")
    batches: list[list[str]] = []
    consumer: QueueConsumer

    def handler(messages: Sequence[ReceivedMessage]) -> dict[str, Exception]:
        batches.append([m.body for m in messages])
        if len(batches) == 1:  # a backlog is buffered behind this batch when the urgent requests arrive
            lane.inbox.append([urgent, doomed])
            while lane.inbox:
                time.sleep(0.01)
            time.sleep(0.05)
        if len(batches) == 3:
            consumer.stop()
        return {doomed.message_id: ValueError("no")} if doomed in messages else {}

    settings = ConsumerSettings(wait_seconds=0, batch_size=10)
    consumer = QueueConsumer(normal, handler, settings, priority_lane=lane)
    consumer.run()
    assert batches[1][:2] == ["urgent", "doomed"], batches[1]
    assert all(body.startswith("n") for batch in (batches[0], batches[2]) for body in batch)
    assert lane.deleted == [urgent] and set(lane.visibility) == {doomed.message_id}
    assert {m.body for m in normal.deleted} == {b for batch in batches for b in batch} - {"urgent", "doomed"}
    assert urgent.message_id not in normal.visibility and doomed.message_id not in normal.visibility


def test_with_an_intake_the_next_batch_is_formed_once_the_one_in_hand_is_computed() -> None:
    """What arrives while a batch is computed makes one batch then, not one batch per arrival: with two
    batches in hand and no intake, the second would be formed as soon as its first message arrived."""
    queue = FakeQueue(inbox=[[raw_message("a")]])  # one message per receive: a trickle, never waited on
    intake = Intake()
    batches: list[list[str]] = []
    consumer: QueueConsumer

    def handler(messages: Sequence[ReceivedMessage]) -> dict[str, Exception]:
        batches.append([m.body for m in messages])
        if len(batches) == 1:  # while "a" is computed, three more arrive, one after the other
            for body in ("b", "c", "d"):
                queue.inbox.append([raw_message(body)])
                while queue.inbox:
                    time.sleep(0.005)
                time.sleep(0.1)  # received, and in the consumer's inbox
            intake.computed()
            time.sleep(0.1)  # answering: the next batch is formed and handled meanwhile
        if sum(map(len, batches)) == 4:
            consumer.stop()
        return {}

    settings = ConsumerSettings(wait_seconds=0, batch_size=10, concurrency=2)
    consumer = QueueConsumer(queue, handler, settings, intake=intake)
    consumer.run()
    assert batches == [["a"], ["b", "c", "d"]]
    assert len(queue.deleted) == 4


def test_an_intake_a_handler_never_gave_back_is_given_back_when_it_returns() -> None:
    queue = FakeQueue(inbox=[[raw_message("a")], [raw_message("b")], [raw_message("c")]])
    handled: list[str] = []
    consumer: QueueConsumer

    def handler(messages: Sequence[ReceivedMessage]) -> dict[str, Exception]:  # never calls computed()
        handled.extend(m.body for m in messages)
        if len(handled) == 3:
            consumer.stop()
        return {}

    consumer = QueueConsumer(queue, handler, ConsumerSettings(wait_seconds=0, concurrency=2), intake=Intake())
    consumer.run()
    assert sorted(handled) == ["a", "b", "c"]
