import dataclasses
import uuid
from collections.abc import Sequence
from datetime import timedelta

import pytest
from pydantic_core import from_json

from inference_core.aws.consumer import Intake
from inference_core.aws.sqs import ReceivedMessage
from inference_core.events import (
    InferenceBatchCompleted,
    InferenceBatchStarted,
    InferenceCompleted,
    InferenceRequested,
    Message,
    ModelServing,
    encode,
    request_id_of,
    utcnow,
)
from model_runtime import worker as worker_module
from model_runtime.settings import RuntimeSettings
from model_runtime.worker import InferenceWorker, ModelSlot, ServedModel
from support.fakes import EchoModel, FakeFeatureSink, FakePublisher, raw_message, request_message


def make_worker(
    max_receive_count: int | None = 3, inline_results_bytes: int = RuntimeSettings.inline_results_bytes
) -> tuple[InferenceWorker, EchoModel, FakePublisher, FakeFeatureSink]:
    model, publisher, sink = EchoModel(), FakePublisher(), FakeFeatureSink()
    slot = ModelSlot(ServedModel("echo", "7", "sentiment", model))
    worker = InferenceWorker(
        slot, publisher, sink, max_receive_count, started_after_seconds=0, inline_results_bytes=inline_results_bytes
    )
    return worker, model, publisher, sink


def test_the_intake_is_given_back_once_the_batch_is_predicted_before_its_answers_go() -> None:
    model, sink = EchoModel(), FakeFeatureSink()
    intake = Intake()
    free_when_answered: list[bool] = []

    class WatchingPublisher(FakePublisher):
        def publish(self, messages: Sequence[Message]) -> list[int]:
            free_when_answered.append(intake.take(timeout=0))  # the consumer could form the next batch
            return super().publish(messages)

    slot = ModelSlot(ServedModel("echo", "7", "sentiment", model))
    worker = InferenceWorker(slot, WatchingPublisher(), sink, 3, announce_started=False, intake=intake)
    assert intake.take(timeout=0)  # as the consumer does before forming the batch
    intake.hold_for_this_thread()
    assert worker.handle([request_message("a")]) == {}
    assert free_when_answered == [True]


def completed(publisher: FakePublisher) -> list[InferenceCompleted]:
    return [o for e in publisher.events() if isinstance(e, InferenceBatchCompleted) for o in e.outcomes]


def test_a_batch_is_predicted_once_stored_once_and_answered_per_request() -> None:
    worker, model, publisher, sink = make_worker()
    messages = [request_message("a"), request_message("bbb")]
    assert worker.handle(messages) == {}
    assert model.predict_calls == [["a", "bbb"]]
    assert len(sink.batches) == 1 and sink.batches[0].shape == (2, 2)
    started = [e for e in publisher.events() if isinstance(e, InferenceBatchStarted)]
    answers = completed(publisher)
    assert [s.request_ids for s in started] == [[a.request_id for a in answers]], "one started event for the batch"
    assert publisher.calls == 2, "one publish for the batch's start, one for its answers"
    assert len(publisher.sent) == 2, "the batch's answers travel in one message"
    assert [a.result for a in answers] == [{"length": 1}, {"length": 3}]
    assert [a.usage.input_tokens if a.usage else None for a in answers] == [1, 3], "each answer's own usage"
    assert [a.features_row for a in answers] == [0, 1]
    assert {a.model_version for a in answers} == {"7"} and {a.status for a in answers} == {"succeeded"}
    assert sink.objects == {} and {a.result_ref for a in answers} == {None}, "small results travel inline"
    assert all(a.started_at and a.started_at <= a.completed_at for a in answers), (
        "each answer says when its batch began"
    )


def test_a_batch_of_large_results_travels_by_reference_in_one_object() -> None:
    worker, _, publisher, sink = make_worker(inline_results_bytes=30)  # [{"length":1},{"length":3}]: 27 bytes
    assert worker.handle([request_message("a"), request_message("bbb")]) == {}
    assert sink.objects == {} and [a.result for a in completed(publisher)] == [{"length": 1}, {"length": 3}]
    publisher.sent.clear()
    assert worker.handle([request_message("a"), request_message("bbb"), request_message("cc")]) == {}  # 40 bytes
    answers = completed(publisher)
    assert [a.result for a in answers] == [None, None, None]
    assert [a.result_ref.row for a in answers if a.result_ref] == [0, 1, 2]
    (uri,) = {a.result_ref.uri for a in answers if a.result_ref}
    assert from_json(sink.get(uri)) == [{"length": 1}, {"length": 3}, {"length": 2}]


def test_one_bad_input_does_not_fail_its_neighbours() -> None:
    worker, _, publisher, _ = make_worker()
    good, bad = request_message("fine"), request_message("boom")
    failures = worker.handle([good, bad])
    assert set(failures) == {bad.message_id}
    assert [a.status for a in completed(publisher)] == ["succeeded"]


def test_an_unreadable_message_does_not_fail_its_neighbours() -> None:
    worker, _, publisher, _ = make_worker()
    good, garbage = request_message("fine"), raw_message("{not json")
    assert set(worker.handle([good, garbage])) == {garbage.message_id}
    assert len(completed(publisher)) == 1


def test_the_last_allowed_receive_answers_failed_before_the_dlq() -> None:
    worker, _, publisher, _ = make_worker(max_receive_count=3)
    early, last = request_message("boom", receive_count=2), request_message("boom", receive_count=3)
    failures = worker.handle([early, last])
    assert set(failures) == {early.message_id, last.message_id}  # both stay for SQS to redrive
    answers = completed(publisher)
    assert len(answers) == 1
    assert answers[0].request_id == request_id_of(last.body)
    assert answers[0].status == "failed" and answers[0].error is not None
    assert "ValueError" in answers[0].error.message


def test_storage_down_fails_the_batch_without_answering() -> None:
    worker, _, publisher, sink = make_worker()
    sink.down = True
    messages = [request_message("a"), request_message("b")]
    assert set(worker.handle(messages)) == {m.message_id for m in messages}
    assert completed(publisher) == []


def test_announce_serving_names_model_version_and_action() -> None:
    worker, _, publisher, _ = make_worker()
    worker.announce_serving()
    (event,) = publisher.events()
    assert isinstance(event, ModelServing)
    assert (event.model_name, event.model_version, event.action) == ("echo", "7", "sentiment")


def test_request_id_of_reads_broken_events() -> None:
    rid = uuid.uuid4()
    assert request_id_of(f'{{"data": {{"request_id": "{rid}", "text": 5}}}}') == rid
    assert request_id_of("nope") is None


def test_a_swapped_version_serves_the_next_batch_and_is_recorded() -> None:
    worker, _, publisher, _ = make_worker()
    worker.handle([request_message("before")])
    worker._slot.swap(ServedModel("echo", "8", "sentiment", EchoModel()))
    worker.handle([request_message("after")])
    assert [a.model_version for a in completed(publisher)] == ["7", "8"]


def test_features_only_requests_get_a_pointer_instead_of_the_result() -> None:
    worker, _, publisher, _ = make_worker()
    event = InferenceRequested(
        request_id=uuid.uuid4(), action="sentiment", text="abc", metadata={"features_only": True}, submitted_at=utcnow()
    )
    assert worker.handle([raw_message(encode(event).body), request_message("plain")]) == {}
    pointer, plain = completed(publisher)
    assert pointer.result == {"dim": 2, "features_uri": pointer.features_uri, "features_row": 0}
    assert plain.result == {"length": 5}


def test_only_a_batch_still_predicting_after_the_delay_is_announced_as_started() -> None:
    model, publisher, sink = EchoModel(), FakePublisher(), FakeFeatureSink()
    worker = InferenceWorker(ModelSlot(ServedModel("echo", "7", "sentiment", model)), publisher, sink, 3, True, 0.5)
    worker.handle([request_message("quick")])
    assert [type(e).__name__ for e in publisher.events()] == ["InferenceBatchCompleted"]

    publisher.sent.clear()
    model.delay_seconds = 1.2
    worker.handle([request_message("slow")])
    assert [type(e).__name__ for e in publisher.events()] == ["InferenceBatchStarted", "InferenceBatchCompleted"]


def test_started_announcements_can_be_turned_off() -> None:
    model, publisher, sink = EchoModel(), FakePublisher(), FakeFeatureSink()
    slot = ModelSlot(ServedModel("echo", "7", "sentiment", model))
    worker = InferenceWorker(slot, publisher, sink, 3, announce_started=False)
    worker.handle([request_message("a")])
    assert [type(e).__name__ for e in publisher.events()] == ["InferenceBatchCompleted"]


def test_answers_too_many_for_one_message_are_split_and_a_refused_part_fails_only_its_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(worker_module, "MAX_SNS_BODY_BYTES", 1_500)  # a few answers per message
    worker, _, publisher, _ = make_worker()
    publisher.refuse = {1}
    messages = [request_message(f"text {i}") for i in range(12)]
    failures = worker.handle(messages)
    delivered = completed(publisher)
    assert len(publisher.sent) >= 2 and 0 < len(delivered) < len(messages)
    by_request = {request_id_of(m.body): m.message_id for m in messages}
    assert set(failures) == {by_request[r] for r in by_request.keys() - {a.request_id for a in delivered}}
    assert [a.result for a in delivered] == [
        {"length": len(f"text {i}")} for i, m in enumerate(messages) if m.message_id not in failures
    ]


def deadline_message(text: str, deadline_seconds: int | None, queued_seconds_ago: float) -> ReceivedMessage:
    event = InferenceRequested(
        request_id=uuid.uuid4(), action="sentiment", text=text, submitted_at=utcnow(), deadline_seconds=deadline_seconds
    )
    sent_at = utcnow() - timedelta(seconds=queued_seconds_ago)
    return dataclasses.replace(raw_message(encode(event).body), sent_at=sent_at)


def test_a_request_queued_past_its_deadline_is_answered_expired_and_not_computed() -> None:
    worker, model, publisher, _ = make_worker()
    late = deadline_message("late", 5, queued_seconds_ago=6)
    in_time = deadline_message("in time", 5, queued_seconds_ago=1)
    patient = deadline_message("no deadline", None, queued_seconds_ago=600)
    assert worker.handle([late, in_time, patient]) == {}
    assert model.predict_calls == [["in time", "no deadline"]]
    by_request = {a.request_id: a for a in completed(publisher)}
    expired = by_request[request_id_of(late.body)]
    assert expired.status == "expired" and expired.result is None and expired.features_uri is None
    assert expired.error is not None and expired.error.code == "deadline_exceeded"
    assert "past its deadline of 5 s" in expired.error.message
    assert {by_request[request_id_of(m.body)].status for m in (in_time, patient)} == {"succeeded"}


def test_an_expired_answer_sns_refuses_is_retried() -> None:
    worker, model, publisher, _ = make_worker()
    publisher.down = True
    late = deadline_message("late", 1, queued_seconds_ago=2)
    assert set(worker.handle([late])) == {late.message_id}
    assert model.predict_calls == []


def outcomes(worker: InferenceWorker) -> dict[str, float]:
    registry = worker.metrics.registry
    return {
        outcome: registry.get_sample_value("inference_worker_requests_total", {"model": "echo", "outcome": outcome})
        or 0.0
        for outcome in ("succeeded", "expired", "failed", "dead_lettered")
    }


def test_metrics_count_each_message_by_how_it_ended_and_each_batch_by_its_size() -> None:
    worker, _, _, _ = make_worker(max_receive_count=3)
    late = deadline_message("late", 5, queued_seconds_ago=6)
    worker.handle([request_message("a"), request_message("bb"), late, request_message("boom", receive_count=1)])
    worker.handle([request_message("boom", receive_count=3), raw_message("not an event")])
    assert outcomes(worker) == {"succeeded": 2.0, "expired": 1.0, "failed": 3.0, "dead_lettered": 1.0}
    registry = worker.metrics.registry
    assert registry.get_sample_value("inference_worker_messages_received_total", {"model": "echo"}) == 6
    assert registry.get_sample_value("inference_worker_batch_size_count", {"model": "echo"}) == 2
    assert registry.get_sample_value("inference_worker_batch_size_sum", {"model": "echo"}) == 3 + 1  # the late one not
    assert registry.get_sample_value("inference_worker_predict_seconds_count", {"model": "echo"}) == 2


def test_metrics_report_the_version_served_when_scraped() -> None:
    worker, model, _, _ = make_worker()
    slot = ModelSlot(ServedModel("echo", "7", "sentiment", model))
    worker.metrics.watch(lambda: slot.current)
    registry = worker.metrics.registry
    info = {"model": "echo", "version": "7", "action": "sentiment"}
    assert registry.get_sample_value("inference_worker_model_info", info) == 1
    slot.swap(ServedModel("echo", "8", "sentiment", model))
    assert registry.get_sample_value("inference_worker_model_info", info) is None
    assert registry.get_sample_value("inference_worker_model_info", {**info, "version": "8"}) == 1
